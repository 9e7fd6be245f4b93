"""DeepConf (issue 37): the confidence arithmetic by hand, the log-probabilities of the backends,
and the strategy offline and online on the noisy scripted backend."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest
from toys import CharCounter

from mplm_bench import run
from mplm_bench.backends.scripted import ScriptedBackend, ScriptedOptions
from mplm_bench.runtime.backend import Request, Sampling
from mplm_bench.runtime.confidence import (
    WindowMonitor,
    bottom_group_confidence,
    consensus,
    group_confidences,
    lowest_group_confidence,
    mean_confidence,
    percentile,
    tail_confidence,
    token_confidence,
    trace_confidence,
    weighted_vote,
)
from mplm_bench.strategies.deepconf import DeepConfOptions

# -- the arithmetic, against values worked out by hand ------------------------------------------


def test_token_confidence_is_minus_the_mean_top_k_logprob_rounded_to_3():
    assert token_confidence([-0.1, -2.0, -3.0]) == 1.7  # (0.1 + 2 + 3) / 3
    assert token_confidence([-0.0001, -1.0]) == 0.5  # 0.50005 -> 0.5 (upstream rounds to 3)
    assert token_confidence([0.0]) == 0.0  # a certain token, nothing else listed
    assert token_confidence([-1.0, float("-inf")]) == 1.0  # an impossible entry is skipped
    assert token_confidence([]) == 0.0


def test_group_confidences_slide_a_window_and_short_traces_give_their_mean():
    confs = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert group_confidences(confs, 2) == [1.5, 2.5, 3.5, 4.5]
    assert group_confidences(confs, 5) == [3.0]
    assert group_confidences([1.0, 2.0, 3.0], 5) == [2.0]  # shorter than a window: its mean
    assert group_confidences([], 4) == [0.0]
    assert lowest_group_confidence([3.0, 1.0, 1.0, 3.0, 3.0], 2) == 1.0
    # bottom 50% of [1.5, 2.5, 3.5, 4.5] = mean(1.5, 2.5); bottom 10% of 4 windows: at least one
    assert bottom_group_confidence(confs, 2, 0.5) == 2.0
    assert bottom_group_confidence(confs, 2, 0.1) == 1.5
    assert tail_confidence(confs, 2) == 4.5 and tail_confidence(confs, 10) == 3.0
    assert mean_confidence(confs) == 3.0 and mean_confidence([]) == 0.0
    assert trace_confidence(confs, "min_window", 2) == 1.5
    assert trace_confidence(confs, "bottom_window", 2, bottom_percent=0.5) == 2.0
    assert trace_confidence(confs, "tail", 2) == 4.5  # tail_tokens defaults to the window
    assert trace_confidence(confs, "mean", 2) == 3.0


def test_percentile_is_numpys_linear_one_and_the_vote_is_weighted():
    assert percentile([4.0, 1.0, 3.0, 2.0], 90) == pytest.approx(3.7)  # rank 0.9 * 3 = 2.7
    assert percentile([4.0, 1.0, 3.0, 2.0], 10) == pytest.approx(1.3)
    assert percentile([5.0], 90) == 5.0
    np = pytest.importorskip("numpy")
    xs = [14.68, 16.86, 16.15, 18.47, 14.47, 15.63]
    assert percentile(xs, 90) == pytest.approx(float(np.percentile(xs, 90)))
    winner, totals = weighted_vote(["a", "b", "a", None], [1.0, 2.0, 1.5, 9.0])
    assert winner == "a" and totals == {"a": 2.5, "b": 2.0}
    assert consensus(totals) == pytest.approx(2.5 / 4.5)
    assert weighted_vote(["b", "a"], [1.0, 1.0])[0] == "a"  # a tie: the smallest answer
    assert weighted_vote([None], [1.0]) == (None, {})


def test_the_window_rule_waits_for_a_whole_window_then_fires_once():
    m = WindowMonitor(2, 2.0)
    assert not m.feed([3.0])  # no decision before a whole window
    assert not m.feed([3.0, 1.0])  # windows 3.0, then 2.0: not below 2.0
    assert m.feed([1.0, 5.0])  # window (1, 1) = 1.0 < 2.0 after 4 tokens
    assert m.stopped_at == 4 and m.window_conf == 1.0
    assert m.confidences == [3.0, 3.0, 1.0, 1.0, 5.0]  # what came after is kept, not judged
    assert m.feed([9.0]) and m.stopped_at == 4


# -- the backends' log-probabilities ---------------------------------------------------------------


def _request(logprobs: int | None, on=None) -> Request:
    return Request("s/r1.t0/0", "0", ("Solve it.",), None, Sampling(max_tokens=200, logprobs=logprobs),
                   on_confidences=on)


def test_scripted_confidences_only_when_asked_and_seeded():
    b = ScriptedBackend(lambda p: "a fine answer " * 10, counter=CharCounter())
    assert asyncio.run(b.generate(_request(None))).token_confidences is None  # off by default
    streamed = []
    done = asyncio.run(b.generate(_request(5, streamed.extend)))
    assert done.token_confidences is not None and len(done.token_confidences) == done.completion_tokens
    assert tuple(streamed) == done.token_confidences
    again = asyncio.run(b.generate(_request(5)))
    assert again.token_confidences == done.token_confidences  # a step's signal is its own


def test_the_scripted_signal_is_lower_on_wrong_steps():
    from mplm_bench.tasks.sudoku.task import SudokuTask

    task = SudokuTask(SudokuTask.Options(size=4))
    inst = task.generate(1, 0)[0]
    policy = task.reference_policy("serial")
    clean = ScriptedBackend(policy, ScriptedOptions(tokenizer="approx", confidence_spread=0.0))
    noisy = ScriptedBackend(policy, ScriptedOptions(tokenizer="approx", error_rate=1.0, error_model="step",
                                                    confidence_spread=0.0))
    right, wrong = [], []
    for i in range(6):
        req = Request(f"s{i}/t/0", "0", (task.prompt(inst, "serial"),), None, Sampling(logprobs=20))
        right.append(mean_confidence(asyncio.run(clean.generate(req)).token_confidences))
        wrong.append(mean_confidence(asyncio.run(noisy.generate(req)).token_confidences))
    assert noisy.n_corrupted == 6
    assert sum(wrong) / 6 < sum(right) / 6 - 0.05


class _LogprobServer:
    """An OpenAI-compatible /v1/completions stream whose chunks carry `logprobs`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def __call__(self, request):
        import httpx

        self.bodies.append(json.loads(request.content))
        chunks = [
            {"choices": [{"text": "The", "logprobs": {"tokens": ["The"], "token_logprobs": [-0.5],
                                                      "top_logprobs": [{"The": -0.5, "A": -1.5}]}}]},
            {"choices": [{"text": " end", "logprobs": {"tokens": [" end", "."], "token_logprobs": [-0.1, 0.0],
                                                       "top_logprobs": [{" end": -0.1, " stop": -2.9},
                                                                        {".": 0.0}]},
                          "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3}},
        ]
        data = "".join(f"data: {json.dumps(e)}\n\n" for e in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=data, headers={"content-type": "text/event-stream"})


def test_openai_asks_for_logprobs_and_parses_top_logprobs(monkeypatch):
    import httpx

    from mplm_bench.backends.openai import OpenAIBackend, OpenAIOptions, top_logprob_confidences

    assert top_logprob_confidences({"top_logprobs": [{"a": -0.5, "b": -1.5}, None]}) == [1.0, 0.0]
    monkeypatch.setattr(OpenAIBackend, "_probe", lambda self: [{"id": "m", "max_model_len": 2048}])
    server = _LogprobServer()
    b = OpenAIBackend(OpenAIOptions(base_url="http://127.0.0.1:9/v1", tokenizer="smollm2", stop_probe=False))
    streamed: list[list[float]] = []

    async def go():
        b._client = httpx.AsyncClient(transport=httpx.MockTransport(server))
        b._gate = asyncio.Semaphore(4)
        try:
            return (await b.generate(_request(2, lambda c: streamed.append(list(c)))),
                    await b.generate(_request(None)))
        finally:
            await b.aclose()

    with_lp, without = asyncio.run(go())
    assert server.bodies[0]["logprobs"] == 2 and "logprobs" not in server.bodies[1]
    assert with_lp.token_confidences == (1.0, 1.5, 0.0) and with_lp.text == "The end"
    assert streamed == [[1.0], [1.5, 0.0]]  # per streamed chunk, as they arrive
    assert without.token_confidences is None


# -- the strategy on the noisy scripted backend ----------------------------------------------------

NOISY = {"error_rate": 0.8}


def _samples(run_dir):
    return pd.read_parquet(run_dir / "samples"), pd.read_parquet(run_dir / "calls")


def test_offline_filters_the_top_percent_and_votes_by_confidence(tmp_path):
    r = run("sudoku", "deepconf", backend="scripted", n=4, task_options={"size": 4}, out=tmp_path,
            strategy_options={"mode": "offline", "total_budget": 10, "top_percent": 0.3}, backend_options=NOISY)
    s, c = _samples(r.dir)
    assert (s["traces_started"] == 10).all() and (s["traces_stopped_early"] == 0).all()
    assert (s["tokens_saved"] == 0).all() and s["conf_threshold"].notna().all()
    assert (s["traces_voted"] <= 4).all() and (s["traces_voted"] >= 1).all()  # top 30% of <= 10 answered
    assert (c["finish_reason"] == "stop").all()
    assert (s["gen_tokens"] == c.groupby("instance_id")["completion_tokens"].sum().loc[s["instance_id"]].values).all()


def test_online_stops_weak_traces_and_counts_their_tokens_once(tmp_path):
    opts = {"mode": "online", "total_budget": 12, "warmup_traces": 4, "window_size": 64}
    r = run("sudoku", "deepconf", backend="scripted", n=6, task_options={"size": 4}, out=tmp_path,
            strategy_options=opts, backend_options=NOISY)
    s, c = _samples(r.dir)
    stopped = c[c["finish_reason"] == "abort"]
    assert s["traces_stopped_early"].sum() == len(stopped) > 0
    assert (stopped["status"] == "preempted").all() and (stopped["completion_tokens"] >= 64).all()
    # warm-up traces (round 1) are never stopped
    assert (c.loc[c["round"] == 1, "finish_reason"] == "stop").all()
    per_sample = c.groupby("instance_id")["completion_tokens"].sum()
    assert (s["gen_tokens"].values == per_sample.loc[s["instance_id"]].values).all()  # each token once
    # exact on scripted, but for the traces a consensus stop never started (estimated)
    assert (s["tokens_saved"] > 0).any() and (s["tokens_saved_estimated"] == s["consensus_stop"]).all()
    assert (s["traces_started"] <= 12).all() and (s["traces_started"] >= 8).all()
    assert s["conf_threshold"].notna().all() and (s["status"] == "ok").all()
    extra = [json.loads(e) for e in s["extra_json"]]
    assert all(e["mode"] == "online" and e["traces_voted"] == s["traces_voted"].iloc[i] for i, e in enumerate(extra))


def test_online_saves_tokens_against_sc_with_the_same_budget(tmp_path):
    common = {"backend": "scripted", "n": 12, "task_options": {"size": 4}, "out": tmp_path, "backend_options": NOISY}
    sc = pd.read_parquet(run("sudoku", "sc", strategy_options={"k": 16}, **common).dir / "samples")
    dc = pd.read_parquet(run("sudoku", "deepconf", strategy_options={"mode": "online", "total_budget": 16},
                             **common).dir / "samples")
    assert dc["gen_tokens"].mean() < 0.8 * sc["gen_tokens"].mean()
    assert dc["correct"].mean() >= sc["correct"].mean() - 0.25  # the synthetic signal is informative


def test_a_fixed_threshold_skips_the_warmup_and_consensus_needs_two_votes():
    o = DeepConfOptions(threshold=99.0, total_budget=3)
    assert o.threshold == 99.0
    with pytest.raises(ValueError, match="exceeds total_budget"):
        DeepConfOptions(warmup_traces=8, total_budget=4)
    assert DeepConfOptions().consensus_min_votes == 2
