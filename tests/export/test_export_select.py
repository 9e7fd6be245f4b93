"""Row selection for export-sft: the split, worker sampling, de-duplication, up-sampling."""

from __future__ import annotations

from pathlib import Path

from mplm_bench.export.options import ExportOptions
from mplm_bench.export.select import Selector, digest, validation_groups
from mplm_bench.export.steps import Step


def step(call: int, role: str, prompt: str = "p", response: str = "r") -> Step:
    return Step(call, "0" if role == "master" else str(call), role, 0, 0 if role == "master" else 1,
                1, "sys", prompt, response, 10, 5)


def options(**kw) -> ExportOptions:
    return ExportOptions(task="t", protocols=["mplm"], out=Path("x"), **kw)


def test_validation_groups() -> None:
    groups = [digest(str(i)) for i in range(100)]
    val = validation_groups(groups + groups[:10], 0.05, seed=0)  # repeats count once
    assert len(val) == 5 and val <= set(groups)
    assert val == validation_groups(list(reversed(groups)), 0.05, seed=0)  # order does not matter
    assert val != validation_groups(groups, 0.05, seed=1)
    assert len(validation_groups(groups[:3], 0.01, seed=0)) == 1  # at least one ...
    assert len(validation_groups(groups[:2], 0.9, seed=0)) == 1  # ... and never all
    assert validation_groups(groups[:1], 0.5, seed=0) == set()
    assert validation_groups(groups, 0.0, seed=0) == set()


def test_worker_fraction_is_exact_per_sample_and_seeded() -> None:
    steps = [step(0, "master")] + [step(i, "worker", prompt=str(i)) for i in range(1, 11)]
    pick = Selector(options(worker_fraction=0.3)).select("mplm", "i0", steps)
    again = Selector(options(worker_fraction=0.3)).select("mplm", "i0", steps)
    other = Selector(options(worker_fraction=0.3)).select("mplm", "i1", steps)
    assert [s.call for s, _ in pick] == [s.call for s, _ in again]
    assert sum(s.role == "worker" for s, _ in pick) == 3 and pick[0][0].role == "master"
    assert [s.call for s, _ in pick] != [s.call for s, _ in other]  # another sample, another draw
    assert [s.call for s, _ in pick] == sorted(s.call for s, _ in pick)  # call order kept


def test_dedupe_identical_chats_across_samples_and_upsample_masters() -> None:
    sel = Selector(options(dedupe=True, upsample_master=2))
    first = sel.select("mplm", "a", [step(0, "master"), step(1, "worker", "same"), step(2, "worker", "x")])
    second = sel.select("mplm", "b", [step(0, "master", "other"), step(1, "worker", "same")])
    assert [(s.call, k) for s, k in first] == [(0, 2), (1, 1), (2, 1)]
    assert [(s.call, k) for s, k in second] == [(0, 2)]
    assert sel.dropped["duplicate chat"] == 1
    # without --dedupe nothing is dropped
    plain = Selector(options())
    plain.select("mplm", "a", [step(1, "worker", "same")])
    assert len(plain.select("mplm", "b", [step(1, "worker", "same")])) == 1
