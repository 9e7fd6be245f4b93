"""The math and multiply tasks: grading with math-verify, data loading, scripted traces."""

from __future__ import annotations

import asyncio
import json

import pytest
from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.registry import strategies
from mplm_bench.runtime.backend import Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.latency import LatencyModel
from mplm_bench.strategies.base import RunContext
from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.boxed.answers import last_boxed
from mplm_bench.tasks.mathqa import MathTask
from mplm_bench.tasks.mathqa.task import MathOptions
from mplm_bench.tasks.multiply import MultiplyTask
from mplm_bench.tasks.multiply.task import MultiplyOptions


def _inst(gold: str):
    from mplm_bench.tasks.boxed.task import instance

    return instance("x", 0, "p", gold)


@pytest.mark.parametrize(("gold", "response", "correct"), [
    ("0.5", "so the answer is \\boxed{\\frac{1}{2}}", True),
    ("\\frac{1}{2}", "\\boxed{0.5}", True),
    ("10.0", "first \\boxed{3}, then \\boxed{10}", True),  # the last box wins
    ("10", "\\boxed{10.0}", True),
    ("\\frac{7}{3}", "\\boxed{\\dfrac{7}{3}}", True),
    ("10", "\\boxed{11}", False),
    ("\\sqrt{2}", "\\boxed{\\frac{\\sqrt{2}}{2}}", False),
])
def test_math_verify_grades_real_latex(gold, response, correct):
    s = MathTask().score(_inst(gold), response)
    assert s.correct is correct
    assert s.extra["verdict"] == ("correct" if correct else "wrong")
    assert s.extra["extracted_answer"] == last_boxed(response)


def test_no_box_is_no_answer():
    s = MathTask().score(_inst("3"), "the answer is 3")
    assert not s.correct and s.extra == {"extracted_answer": "", "verdict": "no_answer"}
    assert last_boxed("\\boxed{\\frac{1}{2}") is None and last_boxed("\\boxed{a{b}c}") == "a{b}c"


def test_multiply_is_exact():
    task = MultiplyTask()
    inst = task.generate(1, 0)[0]
    gold = inst.data["answer"]
    assert task.score(inst, f"\\boxed{{{int(gold):,}}}").correct
    assert not task.score(inst, f"\\boxed{{{gold}.5}}").correct


def test_generation_is_seeded_and_sized():
    a = MultiplyTask(MultiplyOptions(digits=6)).generate(3, 1)
    assert a == MultiplyTask(MultiplyOptions(digits=6)).generate(3, 1)
    assert a != MultiplyTask(MultiplyOptions(digits=6)).generate(3, 2)
    x, y = int(a[0].meta["a"]), int(a[0].meta["b"])
    assert len(str(x)) == len(str(y)) == 6 and a[0].data["answer"] == str(x * y)
    m = MathTask(MathOptions(terms=4)).generate(5, 0)
    assert all(i.data["problem"].count("×") == 4 for i in m)


def test_math_loads_local_rows_with_configurable_columns(tmp_path):
    f = tmp_path / "m.jsonl"
    rows = [{"problem": "What is 1/2 + 0?", "answer": "\\frac{1}{2}", "subject": "Algebra", "level": 2,
             "unique_id": "test/a/1.json"},
            {"problem": "p2", "solution": "so \\boxed{4}", "level": "Level 5"},
            {"problem": "p3", "answer": "Natalia sold 48 clips... #### 72"}]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    got = MathTask().load(str(f), None)
    assert [i.data["answer"] for i in got] == ["\\frac{1}{2}", "4", "72"]
    assert got[0].id == "test/a/1.json" and got[0].size == 2 and got[1].size == 5
    g = tmp_path / "g.jsonl"
    g.write_text(json.dumps({"q": "2+2?", "a": 4}))
    inst = MathTask(MathOptions(problem_key="q", answer_key="a")).load(str(g), None)[0]
    assert inst.data == {"problem": "2+2?", "answer": "4"}
    with pytest.raises(TaskError, match="no answer column 'answer'"):
        MathTask(MathOptions(problem_key="q", answer_key="answer")).load(str(g), None)
    with pytest.raises(TaskError, match="no such file"):
        MathTask().load(str(tmp_path / "missing.jsonl"), None)


def test_math_loads_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": ["1+1?"], "answer": ["2"]}), tmp_path / "m.parquet")
    assert MathTask().load(str(tmp_path / "m.parquet"), None)[0].data["answer"] == "2"


def run_strategy(task, name: str, options: dict | None = None, n: int = 4):
    cls = strategies.get(name)
    strategy = cls(cls.Options(**(options or {})))
    backend = ScriptedBackend(task.reference_policy(strategy.protocol), counter=CharCounter())
    ctx = RunContext(backend, Caps(), Sampling(), LatencyModel())

    async def go():
        return [await strategy.run_sample(task, i, f"k{j}", ctx) for j, i in enumerate(task.generate(n, 3))]
    return asyncio.run(go())


TASKS = [MultiplyTask(MultiplyOptions(digits=5)), MathTask()]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
@pytest.mark.parametrize("name", ["threadweaver", "parallel-r1", "multiverse"])
def test_scripted_traces_parse_under_their_own_dialect(task, name):
    results = run_strategy(task, name)
    for r in results:
        x = r.score.extra
        assert r.score.correct and str(r.world.metrics.status) == "ok"
        assert x["activated"] and x["blocks"] == 1 and x["format_failures"] == 0
        assert x["threads_per_block"] >= (2 if name == "parallel-r1" else 1)
        assert x["avg_parallelism"] >= 1.0 and 0 < x["thread_token_share"] < 1
        assert x["acceleration_ratio"] == pytest.approx(1 - x["token_latency"] / x["total_tokens"], abs=1e-4)
        assert x["token_latency"] == r.world.metrics.critical_path_tokens


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
@pytest.mark.parametrize("name", ["cot", "sc", "pacore"])
def test_generic_serial_strategies_on_boxed_tasks(task, name):
    options = {"k": 3} if name == "sc" else {"rounds": 2} if name == "pacore" else {}
    for r in run_strategy(task, name, options, n=2):
        assert r.score.correct and r.score.extra["verdict"] == "correct"


def test_threadweaver_critical_path_is_below_cot():
    task = MultiplyTask()
    cot = [r.world.metrics.critical_path_tokens for r in run_strategy(task, "cot", n=5)]
    tw = [r.world.metrics.critical_path_tokens for r in run_strategy(task, "threadweaver", n=5)]
    assert all(t < c for t, c in zip(tw, cot, strict=True))


def test_pacore_synthesis_reads_the_references_boxed_answers():
    from mplm_bench.runtime.synthesis import render_synthesis

    task = MathTask()
    inst = task.generate(1, 0)[0]
    prompt = render_synthesis(task.prompt(inst, "serial"), ["x \\boxed{1}", "y \\boxed{2}"])
    out = task.reference_policy("serial")(prompt)
    assert out.startswith("The references' final answers: 1, 2.") and task.score(inst, out).correct


def test_export_sft_writes_whole_parallel_traces(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from mplm_bench.cli import app

    r = CliRunner().invoke(app, ["export-sft", "-t", "multiply", "-p", "threadweaver", "-n", "3",
                                 "--out", str(tmp_path / "sft")])
    assert r.exit_code == 0, r.output
    rows = pd.concat([pd.read_parquet(tmp_path / "sft" / f) for f in ("train.parquet", "validation.parquet")])
    assert len(rows) == 3 and rows["correct"].all()
    task = MultiplyTask()
    for _, row in rows.iterrows():
        user, assistant = row["messages"][1]["content"], row["messages"][2]["content"]
        assert assistant == task.reference_policy("threadweaver")(user)  # the whole trace, tags and all
        assert "</Outlines>\n<Thread>\n1:" in assistant


def test_list_prints_the_matrix_and_an_unsupported_pair_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from mplm_bench.cli import app

    r = CliRunner().invoke(app, ["list"])
    assert r.exit_code == 0 and "task × strategy" in r.output
    words = " ".join(r.output.split())  # the closing lines wrap at the console's width
    assert "generic strategies" in words and "task protocols" in words
    row = next(line for line in r.output.splitlines() if "multiply" in line and "✓" in line)
    # every generic strategy, and none of the task protocols (fj, mplm, and Countdown's sos, apr)
    from mplm_bench import registry

    generic = [n for n in registry.strategies.names() if getattr(registry.strategies.get(n), "generic", False)]
    assert row.count("✓") == len(generic) >= 7 and row.count("–") == 4
    r = CliRunner().invoke(app, ["run", "-t", "sudoku", "-s", "threadweaver", "-b", "scripted", "-n", "1",
                                 "--out", str(tmp_path)])
    assert r.exit_code == 2 and "does not run on task 'sudoku'" in r.output
    assert not list(tmp_path.iterdir())
