"""ThreadWeaver's controller rules over the runtime (strategies/adaptive/outline.py)."""

from __future__ import annotations

import pytest
from adaptive_helpers import run, split

from mplm_bench.runtime.accounting import Status
from mplm_bench.strategies.adaptive.columns import adaptive_columns
from mplm_bench.strategies.adaptive.outline import (
    THREADWEAVER_CONCLUSION,
    OutlineDialect,
    outline_numbers,
)

TRUNK = ("Let me split it.\n<Parallel>\n<Outlines>\n<Outline>1: first</Outline>\n"
         "<Outline> 2 : second</Outline>\n<Outline>2: again</Outline>\n</Outlines>")
AFTER = "</Parallel>\nSo \\boxed{3}."


def policy(threads: dict[str, str], after: str = AFTER, trunk: str = TRUNK):
    """Trunk: its text (plus text past the stop, which the backend must cut); thread n: threads[n]."""
    def write(text: str) -> str:
        _, assistant = split(text)
        if assistant is None or assistant == "":
            return trunk + "\nNOT PART OF THE STEP"
        for n, body in threads.items():
            if assistant.endswith(f"\n<Thread>\n{n}:"):
                return body
        return after
    return write


def test_fork_at_outlines_child_prompts_and_join_bytes():
    world, backend = run(OutlineDialect(), policy({"1": " one</Thread>", "2": " two</Thread> tail"}))
    trunk, *children, final = backend.requests
    assert trunk.assistant == () and trunk.stop == ("</Outlines>",)
    assert len(children) == 2  # the duplicate outline number 2 is dropped
    for c, n in zip(children, ("1", "2"), strict=True):
        # a child continues the trunk's assistant turn: its text, then its header, byte for byte
        assert c.segments == trunk.segments and c.stop == ("</Thread>",)
        assert "".join(c.assistant) == TRUNK + f"\n<Thread>\n{n}:"
    assert "".join(final.assistant) == TRUNK + "\n<Thread>\n1: one</Thread><Thread>\n2: two</Thread>\n"
    assert final.stop == ("</Outlines>",)
    assert world.metrics.status is Status.OK
    assert world.metrics.answer == "".join(final.assistant) + AFTER
    assert [c.stop_reason for c in world.calls] == ["</Outlines>", "</Thread>", "</Thread>", ""]
    # token latency: trunk, the longer thread, the rest (one token per character here)
    assert world.metrics.critical_path_tokens == len(TRUNK) + len(" one</Thread>") + len(AFTER)


def test_outline_regex_is_the_controllers():
    text = "<Outlines><Outline>1.2:a</Outline><Outline>x: no</Outline><Outline>3 :c</Outline>"
    assert outline_numbers("<Outlines><Outline>9: old</Outline></Outlines>" + text) == ["1.2", "3"]
    assert outline_numbers("<Outline>1: no outlines tag</Outline>") == []


@pytest.mark.parametrize("cut", ["eos", "length"])
def test_a_cut_branch_closes_the_block_and_the_trace(cut):
    threads = {"1": " one</Thread>", "2": " two, never closed" + (" padding" * 20 if cut == "length" else "")}
    world, backend = run(OutlineDialect(max_thread_tokens=40 if cut == "length" else None), policy(threads))
    assert len(backend.requests) == 3  # no trunk step after the join
    assert world.metrics.status is Status.OK
    answer = world.metrics.answer
    assert answer.startswith(TRUNK + "\n<Thread>\n1: one</Thread><Thread>\n2: two")
    assert answer.endswith("\n</Thread>\n</Parallel>")
    cols = adaptive_columns(world.calls, world.metrics.critical_path_tokens, "</Thread>", ("</Outlines>",))
    assert cols["unclosed_branches"] == 1 and cols["format_failures"] == 1
    assert cols["cut_branches"] == (1 if cut == "length" else 0)


def test_conclusion_setting_joins_with_a_conclusion():
    world, backend = run(OutlineDialect(THREADWEAVER_CONCLUSION),
                         policy({"1": " a</Thread>", "2": " b</Thread>"}, after="</Conclusion>\n</Parallel> \\boxed{1}"))
    assert "".join(backend.requests[-1].assistant).endswith("<Thread>\n2: b</Thread>\n<Conclusion>\n")
    world, _ = run(OutlineDialect(THREADWEAVER_CONCLUSION), policy({"1": " a</Thread>", "2": " b"}))
    assert world.metrics.answer.endswith("\n</Thread>\n<Conclusion>\n</Conclusion>\n</Parallel>")


def test_eos_before_any_outlines_is_a_serial_answer():
    world, backend = run(OutlineDialect(), lambda text: "No need to fork: \\boxed{4}.")
    assert len(backend.requests) == 1 and world.metrics.answer == "No need to fork: \\boxed{4}."
    cols = adaptive_columns(world.calls, world.metrics.critical_path_tokens, "</Thread>", ("</Outlines>",))
    assert not cols["activated"] and cols["blocks"] == 0 and cols["format_failures"] == 0


def test_outlines_close_without_outlines_decodes_on():
    def write(text: str) -> str:
        _, assistant = split(text)
        return "<Outlines>\nnothing numbered\n</Outlines>" if not assistant else " then \\boxed{2}"
    world, backend = run(OutlineDialect(), write)
    assert len(backend.requests) == 2
    assert "".join(backend.requests[1].assistant) == "<Outlines>\nnothing numbered\n</Outlines>"
    assert world.metrics.answer.endswith("</Outlines> then \\boxed{2}")
    cols = adaptive_columns(world.calls, world.metrics.critical_path_tokens, "</Thread>", ("</Outlines>",))
    assert cols["no_outlines"] == 1 and cols["format_failures"] == 1


def always_forks(text: str) -> str:
    _, assistant = split(text)
    if assistant and assistant.endswith(":"):
        return " work</Thread>"
    return "\n<Parallel>\n<Outlines>\n<Outline>1: a</Outline>\n</Outlines>"


def test_the_controller_stops_after_32_iterations():
    world, backend = run(OutlineDialect(), always_forks)
    trunk = [r for r in backend.requests if r.thread_id == "0"]
    # 16 trunk steps and 16 blocks are 32 iterations; the trace ends at the 16th join
    assert len(trunk) == 16 and len(backend.requests) == 32
    assert world.metrics.status is Status.OK and world.metrics.answer.endswith("work</Thread>\n")


def test_iteration_cap_option():
    world, backend = run(OutlineDialect(max_iterations=3), always_forks)
    # trunk (1), block (2), trunk (3): its outlines find no iteration left
    assert [r.thread_id for r in backend.requests] == ["0", "1.1", "0"]
    assert world.metrics.answer.endswith("</Outlines>")


def test_parallel_inside_a_thread_is_text():
    nested = " <Parallel>\n<Outlines>\n<Outline>1: deeper</Outline>\n</Outlines> still thread 1</Thread>"
    world, backend = run(OutlineDialect(), policy({"1": nested, "2": " two</Thread>"}))
    assert len(backend.requests) == 4 and world.metrics.max_depth == 1
    assert world.metrics.answer.count("<Thread>\n1:" + nested) == 1


def test_sync_scheduler_gives_the_same_trace():
    a, _ = run(OutlineDialect(), policy({"1": " one</Thread>", "2": " two</Thread>"}), kind="async")
    b, _ = run(OutlineDialect(), policy({"1": " one</Thread>", "2": " two</Thread>"}), kind="sync")
    assert a.metrics.answer == b.metrics.answer and a.metrics.critical_path_tokens == b.metrics.critical_path_tokens

