"""Multiverse-Engine's controller rules over the runtime (strategies/adaptive/multiverse_engine.py).

Each test names the upstream rule it checks: SB = `sglang/python/sglang/srt/managers/schedule_batch.py`,
SCH = `.../scheduler.py`, EX = `example/example.py`, Swapnil-Gandhi/Multiverse-Engine @b3ed243.
"""

from __future__ import annotations

import asyncio

import pytest
from adaptive_helpers import PROMPT, Recording, run, split
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.accounting import Status
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.latency import LatencyModel
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World
from mplm_bench.strategies.adaptive.columns import adaptive_columns
from mplm_bench.strategies.adaptive.multiverse_engine import (
    MultiverseEngineDialect,
    outline_numbers,
)
from mplm_bench.strategies.base import RunContext
from mplm_bench.strategies.multiverse import MultiverseStrategy
from mplm_bench.tasks.mathqa.task import MathTask
from mplm_bench.tasks.multiply.task import MultiplyTask

STOPS = ("</Goal>", "</Path>")
TRUNK = ("Split it.\n<Parallel>\n<Goal>\n<Outline>\n1: first\n</Outline>\n<Outline>\n 2 : second\n</Outline>\n"
         "<Outline>\n2: again\n</Outline>\n</Goal>")
AFTER = "Both agree.\n</Conclusion>\n</Parallel>\nSo \\boxed{3}."
JOIN = ("\n<Path>\n1: one\n</Path>\n<Path>\n2: two\n</Path>\n<Path>\n2: two\n</Path>\n<Conclusion>\n")


def policy(paths: dict[str, str], after: str = AFTER, trunk: str = TRUNK):
    """Trunk: its text (and text past the stop, which the backend cuts); path n: paths[n]."""
    def write(text: str) -> str:
        _, assistant = split(text)
        if not assistant:
            return trunk + "\nNOT PART OF THE STEP"
        for n, body in paths.items():
            if assistant.endswith(f"\n<Path>\n{n}:"):
                return body
        return after
    return write


PATHS = {"1": " one\n</Path> not part", "2": " two\n</Path>"}
MV = MultiverseEngineDialect


def cols(world, **kw):
    return adaptive_columns(world.calls, world.metrics.critical_path_tokens, "</Path>", ("</Goal>",),
                            no_outlines_ends=True, **kw)


def test_every_request_stops_at_goal_and_path_close():
    # EX L36 `stop_token_ids: [151670, 151674]` (</Goal>, </Path>), inherited by every child (SB L1586)
    world, backend = run(MV(), policy(PATHS))
    assert len(backend.requests) == 5
    assert all(r.stop == STOPS for r in backend.requests)
    assert [c.stop_reason for c in world.calls] == ["</Goal>", "</Path>", "</Path>", "</Path>", ""]


def test_path_header_is_newline_path_newline_number():
    # SB filter_batch L1584: a child's prompt is the prefix through </Goal> + f"\n<Path>\n{e}"
    _, backend = run(MV(), policy(PATHS))
    trunk, *paths, _ = backend.requests
    assert trunk.assistant == ()
    for r, n in zip(paths, ("1", "2", "2"), strict=True):
        assert r.segments == trunk.segments and "".join(r.assistant) == TRUNK + f"\n<Path>\n{n}:"


def test_join_inserts_conclusion_and_nothing_else():
    # SCH merge_zombie_batch_to_run: first path with its whole header, later ones from start_path_idx
    # (SB L1581, one token past the prefix: no leading ⏎, SCH L1565), then <Conclusion>⏎ (SCH L1577);
    # each path keeps one token after </Path> (SB L709-715), ⏎ here; no </Parallel> is inserted
    world, backend = run(MV(), policy(PATHS))
    final = backend.requests[-1]
    assert "".join(final.assistant) == TRUNK + JOIN
    assert world.metrics.status is Status.OK and world.metrics.answer == TRUNK + JOIN + AFTER


def test_duplicate_outline_numbers_are_kept():
    # SB L1567-1571: every regex match is a path, no dedup (ThreadWeaver's controller drops them)
    world, backend = run(MV(), policy(PATHS))
    assert [r.thread_id for r in backend.requests[1:4]] == ["1.1", "1.2", "1.3"]
    assert cols(world)["threads_per_block"] == 3


def test_outline_regex_after_the_last_goal():
    # SB L1558-1570: rfind("<Goal>") over the whole prefix, then <Outline>\s*([0-9]+(?:\.[0-9]+)*)\s*:
    text = "<Goal><Outline>9: old</Outline></Goal><Goal><Outline>\n1.2: a</Outline><Outline>x: no</Outline>"
    assert outline_numbers(text + "<Outline> 3 :c</Outline><Outline>3: again</Outline></Goal>") == ["1.2", "3", "3"]
    assert outline_numbers("<Outline>1: no goal</Outline></Goal>") is None


@pytest.mark.parametrize("trunk", ["<Outline>\n1: x\n</Outline>\n</Goal>", "<Goal>\nnothing numbered\n</Goal>"])
def test_goal_close_without_goal_or_outlines_is_a_protocol_error(trunk):
    # SB L1566 raises "No <Goal> found"; with no outline no child is forked and the request is never
    # answered: the engine cannot go on, so the thread ends as a protocol error
    world, backend = run(MV(), policy({}, trunk=trunk))
    assert len(backend.requests) == 1 and world.metrics.status is Status.PROTOCOL_ERROR
    c = cols(world)
    assert c["no_outlines"] == 1 and c["format_failures"] == 1 and not c["activated"]


NESTED = (" split again\n<Parallel>\n<Goal>\n<Outline>\n1.1: a\n</Outline>\n<Outline>\n1.2: b\n</Outline>\n"
          "</Goal>")
NESTED_JOIN = "\n<Path>\n1.1: a done\n</Path>\n<Path>\n1.2: b done\n</Path>\n<Conclusion>\n"
PATH1_END = "halves agree\n</Conclusion>\n</Parallel>\npath one done\n</Path>"


def nested_policy(text: str) -> str:
    _, assistant = split(text)
    if not assistant:
        return TRUNK.replace("<Outline>\n2: again\n</Outline>\n", "")
    for n, body in {"1": NESTED, "2": " two\n</Path>", "1.1": " a done\n</Path>", "1.2": " b done\n</Path>"}.items():
        if assistant.endswith(f"\n<Path>\n{n}:"):
            return body
    if assistant.endswith(NESTED_JOIN):
        return PATH1_END
    return AFTER


def test_a_path_that_writes_a_goal_forks_its_own_paths():
    # SB filter_batch L1523-1605: any request that stops at </Goal> forks (a path pushes its start on
    # parent_start_path_idx_stack, L1577); its join appends <Conclusion>⏎ and it decodes on (SCH L1577-1580);
    # its whole text after its header enters its parent's join (SCH L1565)
    world, backend = run(MV(), nested_policy)
    ids = [r.thread_id for r in backend.requests]
    assert ids == ["0", "1.1", "1.2", "1.1.1.1", "1.1.1.2", "1.1", "0"]
    assert "".join(backend.requests[3].assistant).endswith(NESTED + "\n<Path>\n1.1:")
    path1 = NESTED + NESTED_JOIN + PATH1_END + "\n"
    trunk = TRUNK.replace("<Outline>\n2: again\n</Outline>\n", "")
    assert world.metrics.answer == trunk + "\n<Path>\n1:" + path1 + "<Path>\n2: two\n</Path>\n<Conclusion>\n" + AFTER
    assert world.metrics.status is Status.OK and world.metrics.max_depth == 2
    c = cols(world)
    assert c["blocks"] == 2 and c["unclosed_branches"] == 0 and c["format_failures"] == 0


def always_forks(text: str) -> str:
    _, assistant = split(text)
    if not assistant or assistant.endswith(":"):
        return " go deeper\n<Parallel>\n<Goal>\n<Outline>\n1: x\n</Outline>\n</Goal>"
    if assistant.endswith("</Goal>"):  # a refused fork decodes on
        return " leaf\n</Path>"
    return "done\n</Conclusion>\n</Parallel>\n" + ("\\boxed{1}" if assistant.count("<Conclusion>") == 6 else "</Path>")


def test_paths_fork_down_to_depth_five_then_decode_on():
    # SB L1538-1547: a request with more than 5 enclosing paths does not fork: the finish is cleared
    # and it decodes on with </Goal> as text
    world, backend = run(MV(), always_forks)
    assert world.metrics.status is Status.OK and world.metrics.max_depth == 6
    deepest, parent = "1" + ".1" * 11, "1" + ".1" * 9  # depth 6: block 1, path 1 at every level
    assert [c.directives for c in world.calls if c.thread_id == deepest] == [
        f"send[{deepest}] recv[{deepest}]", f"send[{parent}] stop"]
    assert cols(world)["blocks"] == 6 and cols(world)["no_outlines"] == 0
    assert world.metrics.answer.endswith("\\boxed{1}")


def test_depth_option_and_caps_max_depth():
    world, _ = run(MV(max_depth=1), always_forks)
    assert world.metrics.max_depth == 2  # depths 0 and 1 fork
    # a fork past Caps.max_depth would end the sample cap_exceeded: the dialect refuses it instead
    backend = Recording(always_forks)
    world = World("s", PROMPT, Caps(max_depth=3), Sampling(max_tokens=10_000), dialect=MV(caps_depth=3))
    asyncio.run(Scheduler(backend).run(world, "async"))  # type: ignore[arg-type]
    assert world.metrics.status is Status.OK and world.metrics.max_depth == 3
    world = World("s", PROMPT, Caps(max_depth=3), Sampling(max_tokens=10_000), dialect=MV())
    asyncio.run(Scheduler(Recording(always_forks)).run(world, "async"))  # type: ignore[arg-type]
    assert world.metrics.status is Status.CAP_EXCEEDED  # what the refusal avoids
    ctx = RunContext(backend, Caps(max_depth=2), Sampling(), LatencyModel())
    dialect = MultiverseStrategy(MultiverseStrategy.Options(max_depth=4)).run_dialect(ctx)
    assert (dialect.max_depth, dialect.caps_depth) == (4, 2)


def test_block_cap_is_an_option_not_an_engine_rule():
    # the engine has no iteration cap (its README: "Avoid Infinite Parallelism" is an open issue);
    # `-S max_iterations` caps the forks of a sample, past it </Goal> is decoded on like a refused fork
    world, _ = run(MV(max_blocks=2), always_forks)
    assert cols(world)["blocks"] == 2 and world.metrics.max_depth == 2
    assert MultiverseStrategy(MultiverseStrategy.Options(max_iterations=2)).dialect().max_blocks == 2
    assert MultiverseStrategy.Options().max_iterations is None


@pytest.mark.parametrize("cut", ["eos", "length"])
def test_a_cut_path_is_joined_and_the_trunk_decodes_on(cut):
    # SB L1609-1622: a path finished by EOS (FINISH_MATCHED_TOKEN) or length (FINISH_LENGTH) is a
    # finished path like one at </Path>: it joins as it is (no </Path> added) and the parent goes on
    body = " two, never closed" + (" padding" * 20 if cut == "length" else "")
    world, backend = run(MV(max_path_tokens=40 if cut == "length" else None), policy({"1": " one\n</Path>", "2": body}))
    assert len(backend.requests) == 5 and backend.requests[-1].thread_id == "0"
    text = "".join(backend.requests[-1].assistant)
    kept = body if cut == "eos" else body[:40]
    assert text.endswith(f"<Path>\n2:{kept}<Path>\n2:{kept}<Conclusion>\n")
    assert world.metrics.status is Status.OK and world.metrics.answer.endswith(AFTER)
    c = cols(world)
    assert c["unclosed_branches"] == 2 and c["cut_branches"] == (2 if cut == "length" else 0)


def test_the_budget_spans_the_chain_and_a_truncated_trunk_is_kept_and_scored():
    # SB L685: FINISH_LENGTH when right_most_pos - init_input_len >= max_new_tokens - 1; a child starts
    # at its parent's position (SB L1593), a join at its furthest path's (SCH L1578)
    longest = len(" one\n</Path>")
    budget = len(TRUNK) + longest + 40
    world, backend = run(MV(), policy(PATHS), Sampling(max_tokens=budget))
    trunk, *paths, final = backend.requests
    assert trunk.sampling.max_tokens == budget
    assert {r.sampling.max_tokens for r in paths} == {budget - len(TRUNK)}
    assert final.sampling.max_tokens == 40
    # the trunk's last step is cut: the trace ends truncated, with its text kept as the answer
    assert world.metrics.status is Status.TRUNCATED
    assert world.metrics.answer == TRUNK + JOIN + AFTER[:40]
    assert cols(world)["format_failures"] == 1  # the cut trunk step


def test_no_fork_within_30_tokens_of_the_budget():
    # SB L1540: right_most_pos - init_input_len >= max_new_tokens - 30: </Goal> stays text
    world, backend = run(MV(), policy(PATHS, after=" serial \\boxed{3}"), Sampling(max_tokens=len(TRUNK) + 30))
    assert [r.thread_id for r in backend.requests] == ["0", "0"]
    assert world.metrics.answer == TRUNK + " serial \\boxed{3}" and not cols(world)["activated"]
    assert cols(world)["no_outlines"] == 0  # a refused fork is no format failure
    world, _ = run(MV(), policy(PATHS), Sampling(max_tokens=len(TRUNK) + 31 + 100))
    assert cols(world)["blocks"] == 1


def test_a_path_close_or_eos_on_the_trunk_ends_the_trace():
    # a top-level request is returned at any finish but </Goal> (scheduler_output_processor_mixin.py L519)
    world, backend = run(MV(), lambda text: "no block\n</Path> more")
    assert len(backend.requests) == 1 and world.metrics.answer == "no block\n</Path>"
    world, _ = run(MV(), lambda text: "No need to fork: \\boxed{4}.")
    assert world.metrics.status is Status.OK and world.metrics.answer == "No need to fork: \\boxed{4}."


def test_sync_scheduler_gives_the_same_trace_and_ids():
    a, ra = run(MV(), nested_policy, kind="async")
    b, rb = run(MV(), nested_policy, kind="sync")
    assert a.metrics.answer == b.metrics.answer
    assert sorted(r.thread_id for r in ra.requests) == sorted(r.thread_id for r in rb.requests)


def run_strategy(task, sampling: Sampling, n: int = 3, **options):
    strategy = MultiverseStrategy(MultiverseStrategy.Options(**options))
    backend = ScriptedBackend(task.reference_policy("multiverse"), counter=CharCounter())
    ctx = RunContext(backend, Caps(), sampling, LatencyModel())

    async def go():
        return [await strategy.run_sample(task, i, f"k{j}", ctx) for j, i in enumerate(task.generate(n, 3))]
    return asyncio.run(go())


@pytest.mark.parametrize("task", [MultiplyTask(), MathTask()], ids=lambda t: t.name)
def test_scripted_traces_are_rebuilt_byte_for_byte_by_the_join(task):
    # tasks/boxed/task.py `wrap` writes the trained layout; the engine's join rebuilds exactly it
    for inst, r in zip(task.generate(3, 3), run_strategy(task, Sampling()), strict=True):
        assert r.world.metrics.answer == task.trace("multiverse", inst.data["problem"])
        assert r.score.correct and str(r.world.metrics.status) == "ok"
        assert r.score.extra["blocks"] == 1 and r.score.extra["format_failures"] == 0


def test_a_truncated_scripted_trace_is_scored():
    task = MultiplyTask()
    full = run_strategy(task, Sampling(), n=1)[0]
    cut = run_strategy(task, Sampling(max_tokens=int(full.world.metrics.critical_path_tokens) - 5), n=1)[0]
    assert str(cut.world.metrics.status) == "truncated" and cut.score.correct
    assert full.world.metrics.answer.startswith(cut.world.metrics.answer)
