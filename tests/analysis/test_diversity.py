"""Diversity and influence metrics (analysis/branches.py, diversity.py) on hand-made call tables,
and `report --kind diversity` on a real scripted run."""

from __future__ import annotations

import math

import pytest

from mplm_bench.analysis.branches import answer_text, sample_branches
from mplm_bench.analysis.diversity import (
    answer_entropy,
    conformity,
    influence,
    jaccard,
    mean_pairwise_similarity,
    modal,
    modal_share,
    sample_metrics,
    shingles,
)


def call(i: int, tid: str, rnd: int, response: str = "", directives: str = "stop", parent: str | None = None,
         consumed: str = "") -> dict:
    return {"instance_id": "x", "repeat": 0, "call": i, "thread_id": tid, "parent_id": parent, "round": rnd,
            "directives": directives, "consumed_from": consumed, "response": response}


def stop(answer: str) -> str:
    return f"some reasoning\n<stop>{answer}</stop>"


def graded(calls: list[dict], right: str = "A"):
    """Branches graded by a toy key: the answer is its own normal form, `right` is correct."""
    s = sample_branches(calls)
    for b in s.branches.values():
        b.parsed, b.correct = b.answer, b.answer == right
    return s


def pacore(r1: list[str], final: str, prior_slot: bool = True) -> list[dict]:
    """Round 1 of len(r1) trajectories, then one synthesizer r2.t0 reading them all."""
    rows = [call(i, f"r1.t{i}", 1, stop(a), parent="r2.t0") for i, a in enumerate(r1)]
    read = ",".join(f"r1.t{i}" for i in range(len(r1)))
    rows.append(call(len(r1), "r2.t0", 2, stop(final), consumed=read))
    return rows


def test_answer_text_reads_what_the_runtime_read():
    assert answer_text("x <stop> 42 </stop> tail", "stop") == "42"
    assert answer_text("<send [0]>{ From 3: 5 }</send><stop>", "send[0] stop") is None  # a bare stop
    assert answer_text("The answer is \\boxed{7}.", "stop") == "The answer is \\boxed{7}."  # a dialect's
    assert answer_text("<recv [1]>", "recv[1]") is None
    assert answer_text("<stop>9</stop>", "spawn[1..4(4)] recv[1..4(4)]") is None  # never stopped


def test_branches_final_and_inputs_by_protocol():
    p = sample_branches(pacore(["A", "B", "A"], "A"))
    assert p.final == "r2.t0" and [b.thread_id for b in p.inputs()] == ["r1.t0", "r1.t1", "r1.t2"]
    assert p.prior("r2.t0").thread_id == "r1.t0" and p.prior("r1.t1") is None
    # self-consistency: every trajectory a root, no final thread: the vote's inputs are all of them
    sc = sample_branches([call(i, f"r1.t{i}", 1, stop(a)) for i, a in enumerate("ABB")])
    assert sc.final is None and len(sc.inputs()) == 3
    # MPLM: workers only send (bare stop), so the master's answer has no branch inputs
    mp = sample_branches([call(0, "0", 1, "<spawn [1,2]>g</spawn><recv [1,2]>", "spawn[1..2(2)] recv[1..2(2)]"),
                          call(1, "1", 2, "<send [0]>{ From 1: 3 }</send><stop>", "send[0] stop", "0"),
                          call(2, "2", 2, "<send [0]>{ From 2: 4 }</send><stop>", "send[0] stop", "0"),
                          call(3, "0", 3, stop("[[3, 4]]"), consumed="1,2")])
    assert mp.final == "0" and list(mp.branches) == ["0"] and mp.inputs() == []


def test_agreement_and_entropy():
    assert modal(["b", "a", "a", "b", None]) == ("a", 2)  # a tie goes to the smallest string
    assert modal_share(["a", "a", "b", None]) == 0.5  # no answer counts in the denominator
    assert modal_share([None, None]) == 0.0 and math.isnan(modal_share([]))
    assert answer_entropy(["a", "a", "a"]) == 0.0
    assert answer_entropy(["a", "b"]) == pytest.approx(1.0)
    assert answer_entropy(["a", "a", "b", None]) == pytest.approx(0.9183, abs=1e-4)
    assert math.isnan(answer_entropy([None]))


def test_text_similarity_is_ngram_jaccard():
    assert shingles("a b c d") == {("a", "b", "c"), ("b", "c", "d")}
    assert jaccard(shingles("x y z w"), shingles("x y z q")) == pytest.approx(1 / 3)
    assert mean_pairwise_similarity(["same text here", "same text here"]) == 1.0
    assert mean_pairwise_similarity(["a b c", "d e f", "a b c"]) == pytest.approx(1 / 3)
    assert math.isnan(mean_pairwise_similarity(["alone"]))


def test_oracle_gap_and_emergent_correctness():
    gap = sample_metrics(graded(pacore(["A", "B", "B"], "B")), final_correct=False, final_parsed="B")
    assert gap["oracle"] and gap["oracle_gap"] and not gap["emergent"] and gap["final_is_modal"]
    assert gap["agreement"] == pytest.approx(2 / 3) and gap["inputs"] == 3
    emergent = sample_metrics(graded(pacore(["B", "C", "B"], "A")), final_correct=True, final_parsed="A")
    assert emergent["emergent"] and not emergent["oracle"] and not emergent["oracle_gap"]
    fine = sample_metrics(graded(pacore(["A", "A", "B"], "A")), final_correct=True, final_parsed="A")
    assert not fine["oracle_gap"] and not fine["emergent"]
    # a vote reads every branch; the same definitions apply to its inputs
    sc = graded([call(i, f"r1.t{i}", 1, stop(a)) for i, a in enumerate("ABB")])
    row = sample_metrics(sc, final_correct=False, final_parsed="B")
    assert row["oracle_gap"] and math.isnan(row["received"]) and row["readers"] == 0


def test_conformity_vulnerability_recovery_adoption():
    # r1.t0 was right (A); after reading A, B, B the synthesizer gives the majority's wrong B
    v = conformity(graded(pacore(["A", "B", "B"], "B")))
    assert v == {"readers": 1, "prior_right": 1, "vulnerable": 1, "vulnerable_majority": 1, "prior_wrong": 0,
                 "recovered": 0, "adopted": 1}
    # right to a wrong answer that is not the majority's: vulnerable, but not to the majority
    other = conformity(graded(pacore(["A", "B", "B"], "C")))
    assert other["vulnerable"] == 1 and other["vulnerable_majority"] == 0 and other["adopted"] == 0
    kept = conformity(graded(pacore(["A", "B", "B"], "A")))  # stood its ground against the majority
    assert kept["prior_right"] == 1 and kept["vulnerable"] == 0 and kept["adopted"] == 0
    # r1.t0 was wrong (B), the synthesizer right: a recovery, against the majority too
    r = conformity(graded(pacore(["B", "B", "A"], "A")))
    assert r["prior_wrong"] == 1 and r["recovered"] == 1 and r["adopted"] == 0
    # a reader without a previous answer of its own (none in round 1 at that slot) is no reader
    none = conformity(graded([call(0, "r1.t1", 1, stop("A"), parent="r2.t0"),
                              call(1, "r2.t0", 2, stop("A"), consumed="r1.t1")]))
    assert none["readers"] == 0


def test_influence_follows_the_dependency_rounds():
    rows = [call(0, "0", 1, directives="spawn[1..3(3)] recv[1..2(2)]"),
            call(1, "1", 2, directives="send[0] recv", parent="0"),
            call(2, "2", 2, directives="send[0] stop", parent="0"),
            call(3, "3", 2, directives="send[1] stop", parent="0"),
            call(4, "1", 3, directives="send[0] stop", parent="0", consumed="3"),
            call(5, "0", 3, stop("ans"), consumed="1,2")]
    # the master read 1's round-2 message, sent before 1 read 3: 3 is not in its causal past
    assert influence(rows, "0") == (2, 2)
    rows[5] = call(5, "0", 4, stop("ans"), consumed="1,2")  # now it reads 1's round-3 message
    assert influence(rows, "0") == (2, 3)
    assert influence(rows, "3") == (0, 0)


@pytest.fixture(scope="module")
def noisy_pacore(tmp_path_factory):
    import mplm_bench

    out = tmp_path_factory.mktemp("diversity")
    mplm_bench.run("sudoku", "pacore", backend="scripted", task_options={"size": 4}, n=30, out=out,
                   backend_options={"error_rate": 0.6, "error_model": "step"})
    return out


def test_report_diversity_on_a_real_run(noisy_pacore):
    import json

    import pandas as pd
    from cli_helpers import invoke_cli

    from mplm_bench.analysis.diversity_report import summarize

    samples = pd.read_parquet(next(noisy_pacore.rglob("samples")))
    row = summarize([str(noisy_pacore)]).iloc[0]
    assert row["n"] == len(samples) == 30 and row["accuracy"] == samples["correct"].mean()
    # the branches' grades agree with the run's own round-1 count of correct trajectories
    first = samples["extra_json"].map(lambda e: json.loads(e)["round_correct"][0] > 0).mean()
    assert row["oracle"] == pytest.approx(first)
    # oracle − accuracy = gap − emergent, sample by sample
    assert row["oracle"] - row["accuracy"] == pytest.approx(row["oracle_gap"] - row["emergent"])
    assert row["inputs"] == 4 and row["received"] == 4 and row["adoption_n"] == 30
    assert 0 < row["agreement"] <= 1 and row["vulnerability_n"] + row["recovery_n"] == 30
    r = invoke_cli("report", str(noisy_pacore), "--kind", "diversity", "-f", "csv")
    assert r.returncode == 0 and "oracle_gap" in r.stdout.splitlines()[0]
    assert invoke_cli("report", str(noisy_pacore), "--kind", "nope").returncode == 2


def test_plot_diversity_writes_a_figure(noisy_pacore, tmp_path):
    from cli_helpers import invoke_cli

    for x in ("conformity", "agreement"):
        r = invoke_cli("plot", str(noisy_pacore), "--kind", "diversity", "--x", x, "-o", str(tmp_path / f"{x}.png"))
        assert r.returncode == 0 and (tmp_path / f"{x}.png").stat().st_size > 1000
    r = invoke_cli("plot", str(noisy_pacore), "--kind", "diversity", "--x", "bogus", "-o", str(tmp_path / "b.png"))
    assert r.returncode == 2


def test_report_reads_results_by_default(noisy_pacore, tmp_path, monkeypatch):
    from cli_helpers import invoke_cli

    (tmp_path / "results").symlink_to(noisy_pacore, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    r = invoke_cli("report", "--kind", "diversity", "-f", "json")
    assert r.returncode == 0 and '"oracle_gap"' in r.stdout and '"vulnerability"' in r.stdout
    assert invoke_cli("report", "-f", "csv").stdout.startswith("task,size,strategy")  # the main table
