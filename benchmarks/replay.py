"""Replay on a real engine against the protocol's lower bound and the simulated latency (issue 11).

On one engine, in one run:

1. calibrate it (`mplm_bench/latency/calibrate.py`) into a latency profile;
2. replay Sudoku under serial CoT, fork-join and MPLM (`-M replay=scripted`: the reference
   policy writes each step, the engine generates exactly as many tokens on the real prompt),
   one sample at a time (`--concurrency 1`, as the simulation assumes: the sample alone);
3. run the same instances on the scripted backend with the profile (`-M latency_profile`).

Per protocol it prints wall-clock seconds per sample; the lower bound critical-path tokens x the
per-token decode latency of one sequence alone (what the protocol costs if nothing but its
longest dependency chain were decoded; measured on the serial replay's own steps, in the same
minutes as the rest, since other jobs on a shared machine move it); their ratio; the simulated
seconds and their error against the wall-clock. Then the one distortion of replay: the previous response of a resumed thread is
prefilled on its next step; its tokens as a share of all prefilled (uncached) tokens.

    python benchmarks/replay.py [--n 3] [--size 4] [--quick] [--out DIR]

The CPU build spawns engine processes: keep the __main__ guard.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from mplm_bench.api import arun
from mplm_bench.backends.vllm import VLLMBackend, VLLMOptions
from mplm_bench.config import RunConfig
from mplm_bench.latency.calibrate import QUICK, CalibrationPlan, ScriptedReplies, calibrate
from mplm_bench.latency.profile import LatencyProfile, save
from mplm_bench.plan import plan

PROTOCOLS = ("cot", "fj", "mplm")
# enough points for a fit on a 2-core CPU in about two minutes (Sudoku 4x4 prompts are ~100-600 tokens)
PLAN = CalibrationPlan(prompt_lengths=(32, 128, 512, 1024), batches=(1, 2, 4, 8, 16), decode_tokens=16, repeats=2)
ENGINE = {"max_model_len": 4096, "kv_cache_space_gb": 1.0}


def cfg(strategy: str, size: int, n: int, out: Path, backend: str, options: dict) -> RunConfig:
    return RunConfig(task="sudoku", strategy=strategy, task_options={"size": size}, n=n, backend=backend,
                     backend_options=options, out=out, concurrency=1, log_prompts=True)


def prefilled_response_tokens(calls: pd.DataFrame) -> tuple[int, int]:
    """(tokens of previous responses prefilled again on resumed steps, all uncached prompt tokens)."""
    c = calls.sort_values(["instance_id", "thread_id", "step"])
    previous = c.groupby(["instance_id", "thread_id"])["completion_tokens"].shift()
    uncached = c["prompt_tokens"] - c["cached_prompt_tokens"]
    resumed = c["step"] > 0
    again = pd.concat([previous[resumed], uncached[resumed]], axis=1).min(axis=1)
    return int(again.sum()), int(uncached.sum())


async def replay(size: int, n: int, quick: bool, out: Path) -> dict:
    replies = ScriptedReplies()
    backend = VLLMBackend(VLLMOptions(replay="scripted", **ENGINE), policy=replies)
    try:
        t = time.perf_counter()
        profile = await calibrate(backend, replies, QUICK if quick else PLAN)
        calibration_s = time.perf_counter() - t
        results = {}
        for s in PROTOCOLS:
            p = plan(cfg(s, size, n, out, "vllm", {"replay": "scripted", **ENGINE}))
            replies.fallback = p.task.reference_policy(p.strategy.protocol)
            run = await arun(p, backend=backend)  # the Python API, on the calibrated engine (kept)
            results[s] = (run.samples(), run.calls())
    finally:
        await backend.aclose()
    return {"profile": profile, "calibration_s": calibration_s, "replay": results}


async def simulate(profile_path: Path, size: int, n: int, out: Path) -> dict[str, pd.DataFrame]:
    sims = {}
    for s in PROTOCOLS:
        run = await arun(cfg(s, size, n, out, "scripted", {"latency_profile": str(profile_path)}))
        sims[s] = run.samples()
    return sims


def decode_alone(calls: pd.DataFrame) -> float:
    """Seconds per generated token after the first, over one-sequence steps (serial CoT)."""
    c = calls[calls["completion_tokens"] > 1]
    per = (c["end_wall"] - c["start_wall"] - c["ttft_s"]) / (c["completion_tokens"] - 1)
    return float(per.median())


def report(r: dict, sims: dict[str, pd.DataFrame], size: int, n: int) -> None:
    profile: LatencyProfile = r["profile"]
    f, on = profile.fit, profile.measured_on
    calibrated = next(d.iteration_s for d in profile.measurements.decode if d.batch == 1)
    per_token = decode_alone(r["replay"]["cot"][1])
    print(f"engine: {on.backend} {on.vllm} on {on.device} ({on.device_name}), {on.model}, {on.dtype}, "
          f"block {on.block_size}; calibrated in {r['calibration_s']:.0f} s")
    print(f"profile: per request {f.per_request_s * 1000:.0f} ms, prefill {f.prefill_s_per_token * 1000:.2f} ms/token, "
          f"decode iteration {f.decode_base_s * 1000:.1f} ms + {f.decode_per_seq_s * 1000:.2f} ms/sequence; "
          f"decode alone {calibrated * 1000:.1f} ms/token (calibration), {per_token * 1000:.1f} ms/token "
          "(serial replay: the bound's)")
    print(f"\nSudoku {size}x{size}, {n} samples per protocol, one at a time (seconds are means per sample)")
    head = f"{'protocol':<9}{'ok':>4}{'wall s':>9}{'CP tok':>8}{'bound s':>9}{'wall/bound':>11}{'sim s':>8}{'sim err':>9}"
    print(head)
    again_all = uncached_all = 0
    for s in PROTOCOLS:
        samples, calls = r["replay"][s]
        sim = sims[s].set_index(["instance_id", "repeat"])["sim_latency_s"]
        wall = samples.set_index(["instance_id", "repeat"])["wall_s"]
        cp = samples["critical_path_tokens"].mean()
        bound = cp * per_token
        err = statistics.mean((sim[k] - wall[k]) / wall[k] for k in wall.index)
        ok = int((samples["status"] == "ok").sum())
        print(f"{s:<9}{ok:>4}{wall.mean():>9.1f}{cp:>8.0f}{bound:>9.1f}{wall.mean() / bound:>11.2f}"
              f"{sim.mean():>8.1f}{err:>+9.0%}")
        again, uncached = prefilled_response_tokens(calls)
        again_all += again
        uncached_all += uncached
    print(f"\nreplay distortion: {again_all} tokens of previous responses were prefilled again on resumed "
          f"steps, {again_all / max(1, uncached_all):.0%} of all {uncached_all} prefilled prompt tokens")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3, help="samples per protocol")
    ap.add_argument("--size", type=int, default=4, help="Sudoku size N")
    ap.add_argument("--quick", action="store_true", help="calibrate with few points (rough)")
    ap.add_argument("--out", type=Path, default=None, help="keep the runs and the profile here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        if out.exists() and any(out.iterdir()):
            ap.error(f"--out {out} is not empty: calibration and replay must come from the same run")
        out.mkdir(parents=True, exist_ok=True)
        r = asyncio.run(replay(args.size, args.n, args.quick, out / "replay"))
        save(r["profile"], out / "profile.yaml")
        sims = asyncio.run(simulate(out / "profile.yaml", args.size, args.n, out / "sim"))
        report(r, sims, args.size, args.n)


if __name__ == "__main__":
    main()
