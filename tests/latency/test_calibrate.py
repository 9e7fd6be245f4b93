"""Latency profiles: the fit, the YAML round trip, bad files, and simulated seconds on a run."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest
import yaml
from cli_helpers import run_cli as cli

from mplm_bench.config import ConfigError, RunConfig
from mplm_bench.latency.calibrate import QUICK, calibration_plan
from mplm_bench.latency.profile import (
    DecodePoint,
    LatencyProfile,
    MeasuredOn,
    Measurements,
    PrefillPoint,
    dump,
    fit,
    least_squares,
    load,
    save,
)
from mplm_bench.runner import build_backend, execute, plan

# an engine with 20 ms per request, 50 us per prefill token and 10 ms + 1 ms x batch per iteration
PER_REQUEST, PREFILL, BASE, PER_SEQ = 0.02, 5e-5, 0.01, 0.001


def measurements() -> Measurements:
    return Measurements(
        prefill=[PrefillPoint(prompt_tokens=n + 20, uncached_tokens=n, latency_s=PER_REQUEST + n * PREFILL)
                 for n in (32, 512, 2048)],
        decode=[DecodePoint(batch=b, tokens=32, iteration_s=BASE + b * PER_SEQ) for b in (1, 4, 16)],
    )


def profile() -> LatencyProfile:
    m = measurements()
    on = MeasuredOn(backend="vllm", model="SmolLM2-135M-Instruct", device="cpu", dtype="bfloat16",
                    block_size=32, max_num_seqs=256, vllm="0.32.0", host_cpus=2)
    return LatencyProfile(measured_on=on, fit=fit(m), measurements=m)


def test_least_squares_and_fit_recover_the_engine():
    assert least_squares([1, 2, 3], [3, 5, 7]) == pytest.approx((1.0, 2.0))
    assert least_squares([4, 4], [1.0, 3.0]) == (2.0, 0.0)
    f = fit(measurements())
    assert (f.per_request_s, f.prefill_s_per_token) == (pytest.approx(PER_REQUEST), pytest.approx(PREFILL))
    assert (f.decode_base_s, f.decode_per_seq_s) == (pytest.approx(BASE), pytest.approx(PER_SEQ))
    costs = profile().costs()
    assert costs.max_batch == 256 and costs.block_size == 32 and costs.iteration(4) == pytest.approx(0.014)


def test_noise_never_fits_negative_costs():
    m = Measurements(prefill=[PrefillPoint(prompt_tokens=10, uncached_tokens=10, latency_s=0.01),
                              PrefillPoint(prompt_tokens=1000, uncached_tokens=1000, latency_s=1.1)],
                     decode=[DecodePoint(batch=1, tokens=8, iteration_s=0.02), DecodePoint(batch=8, tokens=8, iteration_s=0.019)])
    f = fit(m)
    assert f.per_request_s == 0.0 and f.decode_per_seq_s == 0.0 and f.decode_base_s == pytest.approx(0.0195)


def test_profile_round_trips(tmp_path):
    p = profile()
    path = tmp_path / "profile.yaml"
    save(p, path)
    back = load(path)
    assert back == p and dump(back) == path.read_text()
    assert back.measured_on.model_extra == {"host_cpus": 2}  # unknown hardware keys are kept
    assert yaml.safe_load(path.read_text())["format"] == "mplm-bench/latency-profile@1"


@pytest.mark.parametrize("content,needle", [
    (None, "No such file"),
    ("fit: [unclosed", "not valid YAML"),
    ("- 1\n- 2\n", "expected a mapping"),
    ("format: other@9\n", "format"),
    ("DROP", "fit.per_request_s"),
    ("NEGATIVE", "fit.decode_base_s"),
])
def test_a_bad_profile_is_one_line(tmp_path, content, needle):
    path = tmp_path / "bad.yaml"
    data = profile().model_dump(mode="json")
    if content == "DROP":
        del data["fit"]["per_request_s"]
        content = yaml.safe_dump(data)
    elif content == "NEGATIVE":
        data["fit"]["decode_base_s"] = -1
        content = yaml.safe_dump(data)
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as e:
        load(path)
    assert "\n" not in str(e.value)


def test_cli_rejects_a_bad_profile_with_exit_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("fit: {}\n")
    out = tmp_path / "out"
    r = cli("run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=4", "-n", "1",
            "-M", f"latency_profile={bad}", "--out", str(out), "-q")
    assert r.returncode == 2 and "latency profile" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_profile_needs_the_scripted_backend_and_no_token_costs(tmp_path):
    path = tmp_path / "p.yaml"
    save(profile(), path)
    with pytest.raises(ConfigError, match="scripted backend"):
        plan(RunConfig(task="sudoku", strategy="mplm", backend="vllm", out=tmp_path,
                       backend_options={"latency_profile": str(path)}))
    with pytest.raises(ConfigError, match="one or the other"):
        plan(RunConfig(task="sudoku", strategy="mplm", backend="scripted", out=tmp_path,
                       backend_options={"latency_profile": str(path), "decode_per_token": 2}))


def test_calibration_plan_options():
    assert calibration_plan(quick=True) == QUICK
    p = calibration_plan(prompt_lengths="16, 64", batches="1,8", decode_tokens=8, repeats=2)
    assert (p.prompt_lengths, p.batches, p.decode_tokens, p.repeats) == ((16, 64), (1, 8), 8, 2)
    for kwargs, needle in [({"batches": "1,x"}, "whole numbers"), ({"batches": "0"}, "at least 1"),
                           ({"decode_tokens": 1}, "at least 2"), ({"prompt_lengths": "64", "repeats": 1}, "two points")]:
        with pytest.raises(ConfigError, match=needle):
            calibration_plan(**kwargs)


def test_calibrate_needs_a_real_engine(tmp_path):
    r = cli("calibrate", "-b", "scripted", "--out", str(tmp_path / "p.yaml"))
    assert r.returncode == 2 and "real engine" in r.stderr
    r = cli("calibrate", "--out", str(tmp_path / "no" / "p.yaml"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def _run(tmp_path, strategy: str, options: dict) -> tuple[pd.DataFrame, dict]:
    cfg = RunConfig(task="sudoku", strategy=strategy, task_options={"size": 4}, n=3, backend="scripted",
                    backend_options=options, out=tmp_path)

    async def go():
        p = plan(cfg)
        backend = build_backend(p)
        return p, await execute(p, backend)

    p, manifest = asyncio.run(go())
    return pd.read_parquet(p.store.dir / "samples"), manifest


@pytest.mark.parametrize("strategy", ["cot", "fj", "mplm", "sc"])
def test_every_sample_gets_simulated_seconds(tmp_path, strategy):
    path = tmp_path / "p.yaml"
    save(profile(), path)
    s, manifest = _run(tmp_path, strategy, {"latency_profile": str(path)})
    assert s["sim_latency_s"].notna().all() and (s["sim_latency_s"] > 0).all()
    assert (s["sim_latency_s"] == s["virtual_time"]).all()
    lm = manifest["latency_model"]
    assert lm["unit"] == "seconds" and "alone" in lm["scope"]
    assert lm["profile"]["measured_on"]["device"] == "cpu" and len(lm["profile"]["sha256_12"]) == 12
    json.dumps(manifest)
    if strategy == "cot":  # one step alone: the profile's own formula
        f = profile().fit
        # tokens from the run: prompt (nothing cached on a first step) and completion
        assert s["sim_latency_s"].iloc[0] > f.per_request_s + (s["gen_tokens"].iloc[0] - 1) * (f.decode_base_s + f.decode_per_seq_s)


def test_without_a_profile_nothing_is_simulated(tmp_path):
    s, manifest = _run(tmp_path, "mplm", {})
    assert s["sim_latency_s"].isna().all()
    assert manifest["latency_model"] == {"decode_per_token": 1.0, "prefill_per_token": 0.0, "per_request": 0.0}


def test_a_rounds_trajectories_share_one_batch_on_the_simulated_engine(tmp_path):
    """Self-consistency's K trajectories run on the engine together: decode iterations shared,
    the common prompt prefilled once; so K of them cost more than one and far less than K."""
    path = tmp_path / "p.yaml"
    save(profile(), path)
    cot, _ = _run(tmp_path / "cot", "cot", {"latency_profile": str(path)})
    sc, _ = _run(tmp_path / "sc", "sc", {"latency_profile": str(path)})
    from mplm_bench.registry import strategies

    k = strategies.get("sc").Options().k  # the default K
    one, many = cot["sim_latency_s"].to_numpy(), sc["sim_latency_s"].to_numpy()
    assert (one < many).all() and (many < k * one).all()
