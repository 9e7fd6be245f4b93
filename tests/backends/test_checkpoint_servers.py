"""A checkpoint whose tags are special tokens, behind servers that strip them, trim stop strings,
say or do not say which stop matched, or cannot tokenize: the adaptive dialects fork, or the run
is refused in one line, never a silent serial `ok` (issue 33; docs/checkpoints.md).

The servers are canned (tests/checkpoint_server.py) where no real one here shows the behaviour;
tests/engine/test_engine_checkpoints.py runs the same checkpoint on a real `vllm serve`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import checkpoint_server as cs
import programmed_model as pm
import pytest

from mplm_bench import api
from mplm_bench.config import ConfigError
from mplm_bench.tasks.boxed.profiles import MULTIVERSE, PARALLEL_R1, THREADWEAVER

TABLES = {"threadweaver": pm.NEXT, "parallel-r1": pm.NEXT, "multiverse": cs.MULTIVERSE_NEXT}
OPENERS = {"threadweaver": "<Outlines>", "parallel-r1": "<Parallel>", "multiverse": "<Goal>"}


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return cs.tokenizer(tmp_path_factory.mktemp("checkpoint"))


def run(base_url: str, strategy: str, out: Path, n: int = 2, **options):
    return api.run("multiply", strategy, backend="openai", n=n, out=out, log_prompts=True,
                   backend_options={"base_url": base_url, "max_tokens": 64, "max_retries": 0, **options})


@pytest.mark.parametrize("stops", ["vllm", "sglang", "keep"])
@pytest.mark.parametrize("strategy", ["threadweaver", "parallel-r1", "multiverse"])
def test_forks_behind_servers_that_strip_special_tokens_and_trim_stops(tok, tmp_path, strategy, stops):
    cp = cs.Checkpoint(tok, TABLES[strategy], stops=stops)
    with cs.serve(cp) as url:
        result = run(url, strategy, tmp_path)
    samples = result.samples()
    assert (samples["blocks"] >= 1).all() and set(samples["status"]) == {"ok"}
    calls = result.calls()
    trunk = calls[calls.thread_id == "0"].sort_values("call")
    assert OPENERS[strategy] in trunk.response.iloc[0]  # the tags are in the trace, not stripped
    assert (calls.thread_id != "0").any()
    # every request that carried stop strings asked for special tokens in the text
    staged = [b for b in cp.bodies if b.get("stop")]
    assert staged and all(b["skip_special_tokens"] is False for b in staged)


def test_a_request_without_the_flag_loses_the_tags(tok):
    """What a client that leaves vLLM's default gets from this checkpoint: no tags, so no stop."""
    cp = cs.Checkpoint(tok, pm.NEXT)
    prompt = cp.chat([{"role": "user", "content": "What is 12 * 34?"}])
    plain = cp.generate({"prompt": prompt, "max_tokens": 24, "stop": ["</Outlines>"]})["choices"][0]
    kept = cp.generate({"prompt": prompt, "max_tokens": 24, "stop": ["</Outlines>"],
                        "skip_special_tokens": False})["choices"][0]
    assert "<" not in plain["text"] and plain["stop_reason"] is None  # ran to EOS: a serial trace
    assert kept["stop_reason"] == "</Outlines>"


@pytest.mark.parametrize("strategy", ["threadweaver", "parallel-r1", "multiverse"])
def test_a_server_that_trims_and_does_not_say_is_refused_in_one_line(tok, tmp_path, strategy):
    cp = cs.Checkpoint(tok, TABLES[strategy], stops="silent")
    with cs.serve(cp) as url, pytest.raises(ConfigError, match="trims the matched stop string") as e:
        run(url, strategy, tmp_path)
    assert "\n" not in str(e.value)
    assert not list(tmp_path.glob("*/samples/*"))  # no sample ran
    assert all(b["prompt"] == "1, 2, 3, 4, 5, 6, 7, 8, 9," for b in cp.bodies)  # only the probe


def test_the_same_server_still_runs_strategies_without_stop_strings(tok, tmp_path):
    cp = cs.Checkpoint(tok, pm.NEXT, stops="silent")
    with cs.serve(cp) as url:
        assert len(run(url, "cot", tmp_path).samples()) == 2


def test_no_tokenizer_is_one_error_line_never_the_embedded_one(tok, tmp_path):
    cp = cs.Checkpoint(tok, pm.NEXT, tokenize=False)
    with cs.serve(cp) as url:
        with pytest.raises(ConfigError, match="has no /tokenize.*set -M tokenizer=DIR"):
            run(url, "threadweaver", tmp_path)
        assert not cp.bodies


def test_a_given_tokenizer_must_encode_like_the_server(tok, tmp_path):
    folder = tmp_path / "tok"
    pm.build_tokenizer(folder)
    cp = cs.Checkpoint(tok, pm.NEXT)
    with cs.serve(cp) as url:
        with pytest.raises(ConfigError, match="does not encode like the served model"):
            run(url, "threadweaver", tmp_path / "a", tokenizer="smollm2")
        assert run(url, "threadweaver", tmp_path / "b", tokenizer=str(folder)).samples()["blocks"].min() == 1
    cp_no_tokenize = cs.Checkpoint(tok, pm.NEXT, tokenize=False)
    with cs.serve(cp_no_tokenize) as url:  # a server that cannot tokenize: the given one is used
        assert run(url, "threadweaver", tmp_path / "c", tokenizer=str(folder)).samples()["blocks"].min() == 1


def test_the_served_identity_keys_the_run(tok, tmp_path):
    """Another tokenizer behind the same URL and model name is another run, not a resume."""
    plain = tmp_path / "plain"
    from mplm_bench.train.tokenizer import build_tokenizer, save_tokenizer

    save_tokenizer(build_tokenizer(["What is 12 * 34?"] * 8, vocab_size=300), plain, 2048)
    other = cs.tokenizer(plain)
    ids = []
    for t in (tok, other):
        with cs.serve(cs.Checkpoint(t, pm.NEXT)) as url:
            result = run(url, "cot", tmp_path / "out")
            ids.append(result.run_id)
            manifest = json.loads((result.dir / "manifest.json").read_text())
            served = manifest["backend"]["served"]
            assert served["id"] == "checkpoint" and len(served["tokenizer_digest"]) == 12
            assert manifest["config"]["served"] == served  # the run id hashes what the manifest records
    assert ids[0] != ids[1]


def _first_user_request(cp: cs.Checkpoint) -> str:
    first = next(b for b in cp.bodies if isinstance(b["prompt"], list))  # after the stop probe
    return cp.tokenizer.decode(first["prompt"], skip_special_tokens=False)


@pytest.mark.parametrize(("strategy", "profile"), [("threadweaver", THREADWEAVER), ("parallel-r1", PARALLEL_R1),
                                                    ("multiverse", MULTIVERSE)])
def test_the_first_request_is_the_upstream_rollouts_byte_for_byte(tok, tmp_path, strategy, profile):
    cp = cs.Checkpoint(tok, TABLES[strategy])
    with cs.serve(cp) as url:
        result = run(url, strategy, tmp_path, n=1)
    samples = result.samples()
    from mplm_bench.registry import tasks

    task = tasks.get("multiply")()
    q = task.question(task.generate(1, 0)[0])
    upstream = {
        # threadweaver data_generation/src/save_dataset.py: [{"role": "user", "content": f"{q} {instruction}"}]
        # under the checkpoint's ChatML template with the generation prompt (simple_eval.py)
        "threadweaver": f"<|im_start|>user\n{q} Let's think step by step and output the final answer "
                        "within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n",
        # Parallel-R1: [{"role": "user", "content": template.format(Problem=q)}], generation prompt
        "parallel-r1": f"<|im_start|>user\n{PARALLEL_R1.render(q)}<|im_end|>\n<|im_start|>assistant\n",
        # Multiverse-Engine example/example.py, its raw prompt f-string
        "multiverse": ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                       f"<|im_end|>\n<|im_start|>user\n{q}\n<|im_end|>\n<|im_start|>assistant\n"),
    }[strategy]
    assert _first_user_request(cp) == upstream
    assert set(samples["prompt_profile"]) == {profile.name}


def test_the_harness_profile_and_a_prompt_file(tok, tmp_path):
    (tmp_path / "p.yaml").write_text('system: null\nuser: "Q: {problem}\\nA:"\n')
    cp = cs.Checkpoint(tok, pm.NEXT)
    with cs.serve(cp) as url:
        api.run("multiply", "threadweaver", backend="openai", n=1, out=tmp_path / "f",
                strategy_options={"prompt": str(tmp_path / "p.yaml")},
                backend_options={"base_url": url, "max_tokens": 24})
        assert _first_user_request(cp).startswith("<|im_start|>user\nQ: Compute ")
        cp.bodies.clear()
        api.run("multiply", "threadweaver", backend="openai", n=1, out=tmp_path / "h",
                strategy_options={"prompt": "harness"}, backend_options={"base_url": url, "max_tokens": 24})
        assert _first_user_request(cp).startswith("<|im_start|>system\nYou are a helpful assistant.")


def test_a_dead_server_mid_run_exits_nonzero_with_one_line(tok, tmp_path):
    cp = cs.Checkpoint(tok, pm.NEXT, fail_completions_after=4)  # the probe's 2, then 2 steps
    with cs.serve(cp) as url:
        r = subprocess.run([sys.executable, "-m", "mplm_bench.cli", "run", "-t", "multiply", "-s", "threadweaver",
                            "-b", "openai", "-n", "3", "--concurrency", "1", "-M", f"base_url={url}",
                            "-M", "max_retries=0", "-M", "request_retries=0", "-M", "max_tokens=24",
                            "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    line = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "engine_error" in line[0] and "of 3 samples" in line[0]
