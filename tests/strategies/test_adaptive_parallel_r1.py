"""Parallel-R1's controller rules over the runtime (strategies/adaptive/paths.py)."""

from __future__ import annotations

from adaptive_helpers import run, split

from mplm_bench.runtime.accounting import Status
from mplm_bench.runtime.backend import Sampling
from mplm_bench.strategies.adaptive.paths import PathsDialect

TRUNK = "Two ways to check.\n<Parallel>"


def policy(paths: str = " a path</Path>", summary: str = "they agree</Summary>", rest: str = "\n\\boxed{7}"):
    def write(text: str) -> str:
        _, assistant = split(text)
        if not assistant:
            return TRUNK + " past the stop"
        if assistant.endswith("<Path>"):
            return paths
        if assistant.endswith("<Summary>"):
            return summary + " past the summary"
        return rest
    return write


def test_paths_join_summary_and_continue():
    world, backend = run(PathsDialect(num_paths=3, max_path_tokens=100), policy(), Sampling(max_tokens=500, seed=7))
    trunk, *paths, summ, cont = backend.requests
    assert trunk.stop == ("<Parallel>",) and len(paths) == 3
    for p in paths:
        assert "".join(p.assistant) == TRUNK + "<Path>" and p.stop == ("</Path>",)
        assert p.sampling.temperature == 1.0 and p.sampling.max_tokens == 100
    assert len({p.sampling.seed for p in paths}) == 3  # each path its own seed
    assert "".join(summ.assistant) == TRUNK + "<Path> a path</Path>" * 3 + "</Parallel>\n<Summary>"
    assert summ.stop == ("</Summary>",) and summ.sampling.temperature == 0.0
    assert cont.stop == ("<Parallel>",)
    assert "".join(cont.assistant).endswith("<Summary>they agree</Summary>")
    assert world.metrics.status is Status.OK and world.metrics.answer.endswith("</Summary>\n\\boxed{7}")


def test_a_path_ended_by_eos_or_length_gets_its_close_tag():
    world, backend = run(PathsDialect(num_paths=2, max_path_tokens=5), policy(paths=" longer than five"))
    joined = "".join(backend.requests[3].assistant)
    assert joined.endswith("<Path> long</Path><Path> long</Path></Parallel>\n<Summary>")
    world, backend = run(PathsDialect(num_paths=1), policy(paths=" ended by eos"))
    assert "".join(backend.requests[2].assistant).endswith("<Path> ended by eos</Path></Parallel>\n<Summary>")


def test_summary_without_close_tag_and_the_block_cap():
    def write(text: str) -> str:
        _, assistant = split(text)
        if assistant and assistant.endswith("<Path>"):
            return "p</Path>"
        if assistant and assistant.endswith("<Summary>"):
            return "s"  # EOS inside the summary
        return "again <Parallel>"
    world, backend = run(PathsDialect(num_paths=2, max_iterations=2), write)
    # trunk, 2 paths, summary; trunk, 2 paths, summary: the trace ends after the 2nd summary
    assert [r.thread_id for r in backend.requests] == ["0", "1.1", "1.2", "0", "0", "2.1", "2.2", "0"]
    assert world.metrics.answer.endswith("<Summary>s</Summary>")
    assert world.metrics.answer.count("<Summary>s</Summary>") == 2


def test_a_path_opening_parallel_is_text():
    world, backend = run(PathsDialect(num_paths=2), policy(paths=" <Parallel> nested?</Path>"))
    assert len(backend.requests) == 5 and world.metrics.max_depth == 1


def test_trunk_cut_by_length_is_truncated_and_its_trace_kept():
    # parallel_thinking_loop_v3.py keeps a response cut at its length limit and scores it
    world, _ = run(PathsDialect(), lambda text: "x" * 50, Sampling(max_tokens=10))
    assert world.metrics.status is Status.TRUNCATED
    assert world.metrics.answer and set(world.metrics.answer) == {"x"}
