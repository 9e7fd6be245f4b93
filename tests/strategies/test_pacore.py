"""PaCoRe (docs/protocols.md §5): the synthesis prompt byte for byte, compaction, drops, ordering,
presets, the round structure and accounting of a run, and the scripted synthesizers."""

from __future__ import annotations

import asyncio
import random

import pytest
from pydantic import ValidationError
from sudoku_puzzle import PROMPT, PUZZLE, SOLUTION
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.registry import strategies, tasks
from mplm_bench.runtime.accounting import CallRecord
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.runtime.protocol import Stop, parse_response
from mplm_bench.runtime.scheduler import LatencyModel
from mplm_bench.runtime.synthesis import (
    parse_synthesis,
    render_synthesis,
    synthesis_segments,
)
from mplm_bench.runtime.world import World
from mplm_bench.strategies.base import RunContext
from mplm_bench.strategies.pacore import PaCoReOptions, compact, references
from mplm_bench.strategies.trajectories import Trajectory
from mplm_bench.tasks.base import Instance, Score, Task
from mplm_bench.tasks.sat.dpll import satisfies
from mplm_bench.tasks.sat.formula import render_formula
from mplm_bench.tasks.sat.scoring import score_answer
from mplm_bench.tasks.sat.stats import serial_search_nodes
from mplm_bench.tasks.sat.synthesis import synthesis_policy as sat_synthesis
from mplm_bench.tasks.sat.synthesis import trace_assignment
from mplm_bench.tasks.sat.traces import serial_trace
from mplm_bench.tasks.sudoku.formats import final_answer
from mplm_bench.tasks.sudoku.serial import serial_response
from mplm_bench.tasks.sudoku.synthesis import FALLBACK
from mplm_bench.tasks.sudoku.synthesis import synthesis_policy as sudoku_synthesis

# The template of stepfun-ai/PaCoRe (report Table 6), rendered by hand for two references:
# `{% for %}` body = `⏎Reference i:⏎TEXT⏎`; Jinja drops the template's single trailing newline.
EXPECTED = (
    "You are given a problem and a list of reference responses. Your job is to analyze these "
    "references and provide your own response.\n"
    "\n"
    "Original Problem:\n"
    "What is 6 x 7?\n"
    "\n"
    "Reference Responses:\n"
    "\n"
    "Reference 1:\n"
    "It is 42.\n"
    "\n"
    "Reference 2:\n"
    "6 x 7\n= 42\n"
    "\n"
    "\n"
    "Now, based on the original problem and reference responses above, please provide your own "
    "comprehensive solution."
)


def test_synthesis_prompt_is_the_template_byte_for_byte():
    refs = ["It is 42.", "6 x 7\n= 42"]
    assert render_synthesis("What is 6 x 7?", refs) == EXPECTED
    assert "".join(synthesis_segments("What is 6 x 7?", refs)) == EXPECTED
    view = parse_synthesis(EXPECTED)
    assert view.original == "What is 6 x 7?" and view.references == refs


@pytest.mark.parametrize("refs", [["a"], ["x\n", "\nReference 9:\ny", "<stop>z</stop>\n\n"], ["same", "same"]])
def test_segments_and_reader_invert_the_rendering(refs):
    text = render_synthesis("Solve this Sudoku:\n{  }", refs)
    segs = synthesis_segments("Solve this Sudoku:\n{  }", refs)
    assert "".join(segs) == text and all(r in segs for r in refs)
    assert parse_synthesis(text).references == refs


def test_compaction_keeps_the_text_after_the_last_think_end():
    assert compact("<think>a</think>b</think>answer") == "answer"
    assert compact("no reasoning tags") == "no reasoning tags"
    assert compact("<think>all reasoning</think>") == ""


def _traj(i: int, text: str, finish: str = "stop") -> Trajectory:
    w = World(f"k/r1.t{i}", "p", Caps(), Sampling())
    w.calls.append(CallRecord(call=0, thread_id="0", parent_id=None, step=0, round=1,
                              response=text, finish_reason=finish))
    return Trajectory(f"r1.t{i}", 1, w)


def test_drops_and_ordering():
    ts = [_traj(0, "aaaaa"), _traj(1, "b"), _traj(2, "<think>x</think>ccc"),
          _traj(3, "dddd", finish="length"), _traj(4, "<think>only</think>  "), _traj(5, "ee")]
    texts, ids, drops = references(ts)
    # by length (stable): t1, t4, t5, t2, t3, t0; then random.Random(42).shuffle; then the
    # truncated t3 and the empty t4 are left out
    order = [1, 4, 5, 2, 3, 0]
    random.Random(42).shuffle(order)
    assert ids == [f"r1.t{i}" for i in order if i not in (3, 4)] == ["r1.t2", "r1.t5", "r1.t1", "r1.t0"]
    assert texts == ["ccc", "ee", "b", "aaaaa"]
    assert drops == {"truncated": 1, "empty": 1}
    whole, _, drops = references(ts, compaction=False)
    assert "<think>x</think>ccc" in whole and "<think>only</think>  " in whole
    assert drops == {"truncated": 1, "empty": 0}


@pytest.mark.parametrize("opts,schedule", [
    ({}, [4, 1]),
    ({"preset": "low"}, [4, 1]),
    ({"preset": "medium"}, [16, 1]),
    ({"preset": "high"}, [32, 4, 1]),
    ({"rounds": "32,4"}, [32, 4, 1]),
    ({"rounds": "[8, 2]"}, [8, 2, 1]),
    ({"rounds": [2]}, [2, 1]),
    ({"rounds": 3}, [3, 1]),
    ({"preset": "low", "sequential": True}, [1, 1, 1, 1, 1]),
    ({"rounds": "2,2", "sequential": True}, [1, 1, 1, 1, 1]),
])
def test_presets_and_rounds(opts, schedule):
    assert PaCoReOptions(**opts).schedule() == schedule


@pytest.mark.parametrize("opts,msg", [
    ({"preset": "high", "rounds": "32,4"}, "not both"),
    ({"rounds": "4,x"}, "widths"),
    ({"rounds": "0"}, "greater than or equal to 1"),
    ({"preset": "huge"}, "low"),
    ({"k": 3}, "Extra inputs"),
])
def test_bad_options(opts, msg):
    with pytest.raises(ValidationError, match=msg):
        PaCoReOptions(**opts)


# -- runs on the scripted backend ---------------------------------------------------------------
INSTANCE = Instance(id="golden", size=4, data={"puzzle": PUZZLE, "solution": SOLUTION})


def run_pacore(task=None, instance=INSTANCE, max_tokens=None, **opts):
    task = task or tasks.get("sudoku")()
    strat = strategies.get("pacore")(PaCoReOptions(**opts))
    backend = ScriptedBackend(task.reference_policy("serial"), counter=CharCounter())
    ctx = RunContext(backend, Caps(), Sampling(max_tokens=max_tokens), LatencyModel(), log_prompts=True)
    return asyncio.run(strat.run_sample(task, instance, "s", ctx))


def test_low_preset_run_structure_and_accounting():
    res = run_pacore(preset="low")
    rec, m = res.world, res.world.metrics
    assert res.score.correct and m.status == "ok"
    assert [c.thread_id for c in rec.calls] == ["r1.t0", "r1.t1", "r1.t2", "r1.t3", "r2.t0"]
    assert [c.round for c in rec.calls] == [1, 1, 1, 1, 2]
    assert [c.parent_id for c in rec.calls] == ["r2.t0"] * 4 + [None]
    serial = serial_response(PUZZLE)
    assert all(c.prompt == PROMPT and c.response == serial for c in rec.calls[:4])
    final = rec.calls[4]
    # four identical references; the synthesizer's prompt is the template around them
    assert final.prompt == render_synthesis(PROMPT, [serial] * 4)
    assert set(final.consumed_from.split(",")) == {"r1.t0", "r1.t1", "r1.t2", "r1.t3"}
    assert final.response == ("Reference 1: keeps every given, and every row, column and box holds "
                              "1 to 4 once.\n" + final_answer(SOLUTION))
    # tokens are characters here: effective compute, critical path = sum of the rounds' maxima
    assert m.gen_tokens == 4 * len(serial) + len(final.response) == m.extra["effective_ttc_tokens"]
    assert m.critical_path_tokens == len(serial) + len(final.response) == final.cp_end
    assert final.start_v == len(serial) and m.virtual_time == final.end_v
    assert m.peak_context_tokens == len(final.prompt) + len(final.response)
    assert m.rounds == 2 and m.n_calls == 5 and m.n_threads == 5 and m.n_messages == 4
    x = m.extra
    assert x["rounds"] == [4, 1] and x["round_refs"] == [0, 4]
    assert x["round_input_tokens"] == [len(PROMPT), len(final.prompt)]
    assert x["round_max_context"] == [len(PROMPT) + len(serial), m.peak_context_tokens]
    assert x["round_gen_tokens"] == [4 * len(serial), len(final.response)]
    assert x["round_correct"] == [4, 1] and x["temperature"] == 1.0


def test_high_preset_has_three_rounds():
    res = run_pacore(preset="high")
    m = res.world.metrics
    assert res.score.correct and m.extra["rounds"] == [32, 4, 1] and m.n_calls == 37
    assert m.extra["round_refs"] == [0, 32, 4]
    # the last round reads the four synthesizers of round 2
    assert set(res.world.calls[-1].consumed_from.split(",")) == {f"r2.t{i}" for i in range(4)}


def test_sequential_ablation_is_a_chain_of_single_trajectories():
    res = run_pacore(preset="low", sequential=True)
    calls = res.world.calls
    assert [c.thread_id for c in calls] == [f"r{r}.t0" for r in range(1, 6)]
    assert [c.consumed_from for c in calls] == ["", "r1.t0", "r2.t0", "r3.t0", "r4.t0"]
    assert res.world.metrics.extra["round_refs"] == [0, 1, 1, 1, 1] and res.score.correct


def test_truncated_round_is_dropped_and_the_next_round_gets_the_original_prompt():
    res = run_pacore(rounds="2", max_tokens=20)
    calls, m = res.world.calls, res.world.metrics
    assert all(c.finish_reason == "length" for c in calls)
    assert calls[-1].prompt == PROMPT  # no references left: the template is bypassed
    assert m.extra["dropped_truncated"] == 2 and m.extra["round_refs"] == [0, 0]
    assert m.status == "truncated" and not res.score.correct and m.n_calls == 3


class ThinkTask(Task):
    """A toy task whose model thinks aloud: `<think>…</think>` before every answer."""

    name = "think"
    protocols = ("serial",)

    def generate(self, n, seed):
        return [Instance(id="t", size=1, data={})]

    def load(self, source, n):
        return self.generate(1, 0)

    def prompt(self, instance, protocol):
        return "What is 6 x 7?"

    def score(self, instance, answer):
        return Score(correct=answer == "42", score=float(answer == "42"), parsed=answer)

    def answers(self, protocol):
        return frozenset({PromptKind.PROBLEM, PromptKind.SYNTHESIS})

    def policy(self, protocol):
        def write(prompt: str) -> str:
            if prompt.startswith("You are given a problem"):
                n = len(parse_synthesis(prompt).references)
                return f"<think>I read {n} references.</think><stop>42</stop>"
            return "<think>six sevens are forty-two</think><stop>42</stop>"

        return write


@pytest.mark.parametrize("compaction", [True, False])
def test_compaction_ablation(compaction):
    task = ThinkTask()
    res = run_pacore(task=task, instance=task.generate(1, 0)[0], rounds="3", compaction=compaction)
    ref = "<stop>42</stop>" if compaction else "<think>six sevens are forty-two</think><stop>42</stop>"
    assert res.world.calls[-1].prompt == render_synthesis("What is 6 x 7?", [ref] * 3)
    assert res.score.correct and res.world.metrics.extra["compaction"] is compaction


# -- the scripted synthesizers ------------------------------------------------------------------
def _wrong(grid, r, c, v):
    g = [row[:] for row in grid]
    g[r][c] = v
    return g


def test_sudoku_synthesizer_checks_references_and_answers_with_a_valid_grid():
    refs = [
        serial_response(PUZZLE).replace(final_answer(SOLUTION), final_answer(_wrong(SOLUTION, 1, 0, 4))),
        "I could not solve it.",
        final_answer(_wrong(SOLUTION, 0, 0, 3)),  # changes the given (0,0)=1
        final_answer(SOLUTION),
        final_answer(_wrong(SOLUTION, 3, 3, 2)),
    ]
    out = sudoku_synthesis(render_synthesis(PROMPT, refs))
    assert out.splitlines()[:4] == [
        "Reference 1: row 1 holds 4 twice.",
        "Reference 2: no final grid.",
        "Reference 3: cell (0,0) is 3 but the given is 1.",
        "Reference 4: keeps every given, and every row, column and box holds 1 to 4 once.",
    ]
    assert out.endswith(final_answer(SOLUTION)) and "Reference 5" not in out
    assert isinstance(parse_response(out).terminal, Stop)


def test_sudoku_synthesizer_solves_itself_when_no_reference_is_valid():
    out = sudoku_synthesis(render_synthesis(PROMPT, [final_answer(_wrong(SOLUTION, 2, 1, 3))]))
    assert out.startswith("Reference 1: row 2 holds 3 twice.\n" + FALLBACK + "\nRound 1:")
    assert out.endswith(final_answer(SOLUTION))


SAT_F = [[1, 2, 3], [-1, 2, -3], [1, -2, 3], [-1, -2, -3], [1, 2, -3], [-2, 3, 1]]
UNSAT_F = [[1], [-1, 2], [-2]]


def test_trace_assignment_follows_the_path_to_the_first_sat_leaf():
    trace = serial_trace(SAT_F)
    a = trace_assignment(trace)
    assert a is not None and satisfies(SAT_F, {v: a.get(v, False) for v in (1, 2, 3)})
    assert trace_assignment(serial_trace(UNSAT_F)) is None


def test_sat_synthesizer_believes_a_checked_assignment_over_a_verdict():
    formula = render_formula(SAT_F)
    flipped = serial_trace(SAT_F).replace("<stop>SAT.</stop>", "<stop>UNSAT.</stop>")
    out = sat_synthesis(render_synthesis(formula, ["<stop>UNSAT.</stop>", flipped]))
    assert out.startswith("Reference 1: claims UNSAT.\nReference 2: claims UNSAT, but its trace reaches")
    body = out[out.index("<stop>") + 6 : out.index("</stop>")]
    assert body.startswith("SAT. Assignment: x1=")
    assert score_answer(SAT_F, "SAT", body).extra["sat_verified"] == "assignment"
    assert score_answer(SAT_F, "SAT", body).correct


def test_sat_synthesizer_discards_unproven_sat_claims():
    formula = render_formula(UNSAT_F)
    refs = ["<stop>SAT. Assignment: x1=True, x2=True</stop>", "<stop>SAT.</stop>",
            serial_trace(UNSAT_F)]
    out = sat_synthesis(render_synthesis(formula, refs))
    assert out.splitlines() == [
        "Reference 1: claims SAT, but its assignment falsifies ( ¬ 2 ).",
        "Reference 2: claims SAT, but it shows no satisfying assignment.",
        "Reference 3: claims UNSAT.",
        "No reference shows a satisfying assignment, and 1 conclude UNSAT.",
        "<stop>UNSAT.</stop>",
    ]
    # nothing to go on: it solves the formula itself
    out = sat_synthesis(render_synthesis(formula, ["<stop>SAT.</stop>"]))
    assert out.endswith(serial_trace(UNSAT_F))


def test_sat_search_nodes_of_an_ensemble_sum_its_serial_traces():
    task = tasks.get("sat")()
    res = run_pacore(task=task, instance=task.generate(2, 0)[1], preset="low")
    assert res.score.correct
    per = serial_search_nodes(res.world.calls[0].response)
    assert per > 1 and task.trace_columns(res.world.calls) == {"search_nodes": 4 * per, "preempted_nodes": 0}
