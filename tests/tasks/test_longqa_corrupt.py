"""The noisy scripted backend's long-context mistakes: well-formed, and wrong."""

from __future__ import annotations

import random

from mplm_bench.tasks.longqa.corrupt import corrupt_step
from mplm_bench.tasks.longqa.facts import find_facts

PROMPT = "Orla Vance lives in the town of Tarsk.\n\nBram Hale lives in the town of Velmora."


def test_answers_facts_and_summaries_go_wrong_in_their_own_way():
    rng = random.Random(0)
    mc = corrupt_step(PROMPT, "Reasons.\nThe correct answer is (B)", rng)
    assert mc.startswith("Reasons.\nThe correct answer is (") and not mc.endswith("(B)")
    assert corrupt_step(PROMPT, "Answer: 41", rng) != "Answer: 41"
    assert corrupt_step(PROMPT, "Answer: Tarsk", rng) == "Answer: Velmora"
    quoted = "From my part: Orla Vance lives in the town of Tarsk. VAR ABCDE = 12345."
    wrong = corrupt_step(PROMPT, quoted, random.Random(3))
    assert len(find_facts(wrong)) == 2 and find_facts(wrong) != find_facts(quoted)
    summary = "This part is mostly Python documentation: x. It mentions Orla Vance, the town of Tarsk."
    assert corrupt_step(PROMPT, summary, rng).endswith("It mentions the town of Tarsk.") or \
        corrupt_step(PROMPT, summary, rng).endswith("It mentions Orla Vance.")
    assert corrupt_step(PROMPT, "Not in my part.", rng) == "Not in my part."
