"""The prompt contract (runtime/prompt_kinds.py, strategies/contract.py): a strategy declares the
kinds of prompt it sends, a task's reference policy the kinds it answers; a scripted run of a pair
that misses one is refused in one line, and `list`'s matrix says the same. Also: the boxed tasks'
default verifier and its noise, noise on a task that cannot err, the declared answer
conventions, and `Rounds.run_round` with one prompt per trajectory."""

from __future__ import annotations

import asyncio
import json
import random
import re
from dataclasses import dataclass

import pytest
from cli_helpers import invoke_cli
from pydantic import Field
from toys import CharCounter

import mplm_bench
from mplm_bench import registry
from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.config import ConfigError
from mplm_bench.registry import strategies, tasks
from mplm_bench.runtime.answers import FINAL_ANSWER
from mplm_bench.runtime.backend import ASSISTANT_MARK, Completion, Request, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.latency import LatencyModel
from mplm_bench.runtime.prompt_kinds import (
    PromptKind,
    UnansweredPrompt,
    kind_of,
    parse_verify,
    read_verdict,
    render_synthesis,
    render_verdict,
    render_verify,
    split_continuation,
)
from mplm_bench.runtime.threads import Thread
from mplm_bench.strategies.base import RunContext, SampleResult, Strategy
from mplm_bench.strategies.contract import Support, pairing
from mplm_bench.strategies.trajectories import EnsembleOptions, Rounds, merge, trajectory_sampling
from mplm_bench.tasks.base import Instance, Score, Task
from mplm_bench.tasks.boxed.corrupt import corrupt_verdict
from mplm_bench.tasks.multiply import MultiplyTask


class BestOfNOptions(EnsembleOptions):
    n: int = Field(3, ge=1)


class VerifiedBestOfN(Strategy):
    """The issue's walk-through strategy: n candidates, one verifier per candidate, the first
    candidate its verifier calls correct (else the first)."""

    options: BestOfNOptions
    sends = frozenset({PromptKind.PROBLEM, PromptKind.VERIFY})

    def trajectories(self) -> int:
        return 2 * self.options.n

    async def run_sample(self, task: Task, instance: Instance, key: str, ctx: RunContext) -> SampleResult:
        rounds = Rounds(self, task, key, ctx, trajectory_sampling(self, task, instance, ctx))
        prompt = task.prompt(instance, self.protocol)
        cands = await rounds.run_round([prompt] * self.options.n)
        checks = await rounds.run_round([render_verify(prompt, c.response) for c in cands],
                                        consumed=[c.id for c in cands])
        verdicts = [read_verdict(t.response) for t in checks]
        chosen = next((c for c, v in zip(cands, verdicts, strict=True) if v), cands[0]).world.metrics
        ens = merge(key, rounds.rounds, root=None, latency=ctx.latency)
        ens.metrics.status, ens.metrics.answer = chosen.status, chosen.answer
        ens.metrics.extra = {"verdicts": verdicts}
        return SampleResult(ens, task.score(instance, chosen.answer))


@pytest.fixture
def verifier() -> type[Strategy]:
    # a fresh subclass per test: the registry writes its name and options onto the class it adopts
    return strategies.register("verified-bon", options=BestOfNOptions, protocol="serial", generic=True)(
        type("VerifiedBestOfN", (VerifiedBestOfN,), {}))


class ExactTask(Task):
    """A task whose reference policy cannot err (no `corrupt`)."""

    protocols = ("serial",)

    def generate(self, n, seed):
        return [Instance(id=f"e{i}", size=1, data={}) for i in range(n)]

    def load(self, source, n):
        return self.generate(n or 1, 0)

    def prompt(self, instance, protocol):
        return "What is 6 x 7? Answer in <stop></stop>."

    def score(self, instance, answer):
        return Score(correct=answer == "42", score=float(answer == "42"), parsed=answer)

    def policy(self, protocol):
        return lambda prompt: "<stop>42</stop>"


# -- the kinds ----------------------------------------------------------------------------------
def test_each_kind_is_read_back_from_its_text():
    verify = render_verify("What is 2 + 2?", "It is \\boxed{4}.\nVerdict: correct (a quote)")
    assert kind_of(verify) is PromptKind.VERIFY
    view = parse_verify(verify)
    assert view.problem == "What is 2 + 2?" and view.candidate == "It is \\boxed{4}.\nVerdict: correct (a quote)"
    assert kind_of(render_synthesis("p", ["a"])) is PromptKind.SYNTHESIS
    assert kind_of("p" + ASSISTANT_MARK + "so far") is PromptKind.CONTINUATION
    assert split_continuation("p" + ASSISTANT_MARK + "so far") == ("p", "so far")
    assert split_continuation("p") == ("p", None)
    assert kind_of("Solve this Sudoku") is PromptKind.PROBLEM
    assert read_verdict("work\nVerdict: correct\nmore\nVerdict: incorrect") is False
    assert read_verdict(render_verdict(True)) is True and read_verdict("no verdict") is None


def test_a_policy_refuses_a_kind_it_does_not_answer():
    sat = tasks.get("sat")()
    policy = sat.reference_policy("serial")
    assert policy.answers == {PromptKind.PROBLEM, PromptKind.SYNTHESIS}
    with pytest.raises(UnansweredPrompt, match="does not answer verify prompts"):
        policy(render_verify("a formula", "<stop>UNSAT.</stop>"))  # once: `Result: UNSAT`, status ok


# -- plan and list: one check ---------------------------------------------------------------------
def test_a_scripted_run_of_an_unanswered_kind_is_one_line_and_writes_nothing(tmp_path, verifier):
    with pytest.raises(ConfigError) as e:
        mplm_bench.run("sat", "verified-bon", backend="scripted", n=1, out=tmp_path / "api")
    assert "\n" not in str(e.value) and "sends verify prompts" in str(e.value)
    assert "'sat'" in str(e.value) and "real model" in str(e.value)
    r = invoke_cli("run", "-t", "sat", "-s", "verified-bon", "-b", "scripted", "-n", "1", "--out", tmp_path / "cli")
    assert r.returncode == 2 and "sends verify prompts" in r.stdout + r.stderr
    assert len([line for line in (r.stdout + r.stderr).splitlines() if line.strip()]) == 1
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
    # replay writes with the same policy: refused the same way
    with pytest.raises(ConfigError, match="sends verify prompts"):
        mplm_bench.run("sat", "verified-bon", backend="vllm", n=1, out=tmp_path / "api",
                       backend_options={"replay": "scripted", "model": "some/model"})


def test_list_matrix_is_the_plan_check(verifier):
    r = invoke_cli("list")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if "task × strategy" in line):]  # the matrix
    header = next(line for line in lines if "┃ task" in line)
    columns = [c.strip() for c in header.strip("┃").split("┃")]
    marks = {"✓": Support.SCRIPTED, "○": Support.MODELS, "–": Support.NONE}
    seen = 0
    for name in registry.tasks.names():
        row = next(line for line in lines if re.match(rf"│ {re.escape(name)}\s+│", line))
        cells = [c.strip() for c in row.strip("│").split("│")]
        task = registry.tasks.get(name)()
        for strategy, cell in zip(columns[1:], cells[1:], strict=True):
            assert marks[cell] is pairing(task, registry.strategies.get(strategy)).support, (name, strategy)
            seen += 1
    assert seen >= 6 * 12
    col = columns.index("verified-bon")

    def cell(task: str) -> str:
        return next(line for line in lines if re.match(rf"│ {task}\s+│", line)).strip("│").split("│")[col].strip()

    assert cell("sat") == "○" and cell("sudoku") == "○"  # runs on a real model only
    assert cell("multiply") == "✓" and cell("math") == "✓"  # the boxed tasks' default verifier
    assert cell("countdown") == "–"


def test_the_verifier_strategy_runs_on_every_boxed_task_and_noise_reaches_its_verdicts(tmp_path, verifier):
    for task in ("multiply", "math"):
        res = mplm_bench.run(task, "verified-bon", backend="scripted", n=3, out=tmp_path)
        rows = res.samples()
        assert rows["correct"].all() and (rows["status"] == "ok").all()
        calls = res.calls()
        assert sorted(set(calls["thread_id"])) == ["r1.t0", "r1.t1", "r1.t2", "r2.t0", "r2.t1", "r2.t2"]
    noisy = mplm_bench.run("multiply", "verified-bon", backend="scripted", n=8, out=tmp_path,
                           backend_options={"error_rate": 0.5, "error_model": "step"})
    rows = noisy.samples()
    verdicts = [v for e in rows["extra_json"] for v in json.loads(e)["verdicts"]]
    assert True in verdicts and False in verdicts and (rows["status"] == "ok").all()


# -- the boxed tasks' verifier and its noise -----------------------------------------------------
def test_the_boxed_default_verifier_judges_by_the_final_answer():
    for name in ("multiply", "math"):
        task = tasks.get(name)()
        inst = task.generate(1, 0)[0]
        prompt = task.prompt(inst, "serial")
        policy = task.reference_policy("serial")
        right = f"work\n\\boxed{{{inst.data['answer']}}}"
        wrong = f"work\n\\boxed{{{inst.data['answer']}1}}"
        assert read_verdict(policy(render_verify(prompt, right))) is True
        assert read_verdict(policy(render_verify(prompt, wrong))) is False
        assert read_verdict(policy(render_verify(prompt, "no answer at all"))) is False
        # the noise turns the verdict round, and never touches a box the reply quotes
        reply = policy(render_verify(prompt, right))
        flipped = task.corrupt("serial", render_verify(prompt, right), reply, random.Random(0))
        assert read_verdict(flipped) is False and flipped.replace("incorrect", "correct") == reply
    assert corrupt_verdict("no verdict here") == "no verdict here"


# -- noise on a task that cannot err --------------------------------------------------------------
def test_noise_on_a_task_that_cannot_err_is_one_line(tmp_path):
    tasks.register("exact-toy")(type("ExactToy", (ExactTask,), {}))
    assert not tasks.get("exact-toy")().can_err("serial") and MultiplyTask().can_err("serial")
    for opts in ({"error_rate": 0.2}, {"error_model": "step"}, {"exact_synthesis": True}):
        with pytest.raises(ConfigError) as e:
            mplm_bench.run("exact-toy", "cot", backend="scripted", n=1, out=tmp_path / "x", backend_options=opts)
        assert "\n" not in str(e.value) and "cannot err" in str(e.value) and f"-M {next(iter(opts))}" in str(e.value)
    assert not (tmp_path / "x").exists()
    ok = mplm_bench.run("exact-toy", "cot", backend="scripted", n=1, out=tmp_path, backend_options={"error_rate": 0})
    assert ok.samples()["correct"].all()
    r = invoke_cli("run", "-t", "exact-toy", "-s", "cot", "-b", "scripted", "-M", "error_rate=0.1", "--out", tmp_path)
    assert r.returncode == 2 and "cannot err" in r.stdout + r.stderr


# -- answer conventions ---------------------------------------------------------------------------
def test_each_task_declares_its_serial_answer_convention_and_its_dialect_follows_it():
    text = "reasoning <stop>7</stop>"
    for name in registry.tasks.names():
        task = registry.tasks.get(name)()
        if "serial" not in task.protocols:
            continue
        dialect = task.dialect("serial")
        if task.answer == "stop":
            assert dialect is None, name  # the tag grammar: the body of <stop>
        else:
            step = dialect.parse(Thread("0", None, 0, ["p"]), text, "stop")
            assert step.terminal.body.strip() == text, name  # the whole response
    assert tasks.get("multiply")().dialect("serial") is FINAL_ANSWER
    with pytest.raises(TypeError, match="one of stop, response"):
        type("Typo", (ExactTask,), {"answer": "boxed"})


# -- rounds: one prompt per trajectory, unique ids ------------------------------------------------
@dataclass
class Recorder:
    """Wraps a backend and keeps every request."""

    inner: ScriptedBackend
    name = "recorder"
    virtual_time = True

    def __post_init__(self) -> None:
        self.requests: list[Request] = []

    async def generate(self, request: Request) -> Completion:
        self.requests.append(request)
        return await self.inner.generate(request)

    async def abort(self, request_id: str) -> None:
        return None

    def describe(self) -> dict:
        return {}

    async def aclose(self) -> None:
        return None


def test_run_round_takes_one_prompt_per_trajectory_with_unique_ids_and_seeds():
    task = ExactTask()
    backend = Recorder(ScriptedBackend(lambda p: f"<stop>{p[-1]}</stop>", counter=CharCounter()))
    ctx = RunContext(backend, Caps(), Sampling(seed=100), LatencyModel())
    strategy = strategies.get("cot")()
    rounds = Rounds(strategy, task, "s", ctx, ctx.sampling)

    async def go():
        first = await rounds.run_round(["a", "b", "c"])
        second = await rounds.run_round(["x", ["y", "z"]], consumed=["r1.t0", "r1.t1,r1.t2"])
        return first, second

    first, second = asyncio.run(go())
    assert [t.id for t in first] == ["r1.t0", "r1.t1", "r1.t2"] and [t.id for t in second] == ["r2.t0", "r2.t1"]
    assert [t.world.metrics.answer for t in first + second] == ["a", "b", "c", "x", "z"]
    assert [t.prompt for t in second] == ["x", "yz"] and second[1].consumed == "r1.t1,r1.t2"
    by_id = {r.request_id.rsplit("/", 1)[0]: r.sampling.seed for r in backend.requests}
    assert by_id == {"s/r1.t0": 100, "s/r1.t1": 101, "s/r1.t2": 102, "s/r2.t0": 103, "s/r2.t1": 104}
    ens = merge("s", rounds.rounds, root=None)
    assert len({c.thread_id for c in ens.calls}) == 5 and ens.metrics.rounds == 2
    with pytest.raises(ValueError, match="2 consumed lists for 1 prompts"):
        asyncio.run(rounds.run_round(["q"], consumed=["a", "b"]))
