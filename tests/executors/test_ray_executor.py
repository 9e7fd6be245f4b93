"""`--executor ray` on a local two-CPU Ray cluster with two actors: the Parquet output equals the
local executor's sample for sample, a killed actor's samples run again elsewhere (exactly once
each), a sample that outlives its retries is recorded, and a sweep resumes across executors."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from cli_helpers import REPO  # noqa: E402

from mplm_bench.config import RunConfig  # noqa: E402
from mplm_bench.executors import ExecutorOptions  # noqa: E402
from mplm_bench.executors.ray_executor import RayExecutor  # noqa: E402
from mplm_bench.results.store import RunStore  # noqa: E402
from mplm_bench.runner import build_backend, execute, execute_with, plan  # noqa: E402
from mplm_bench.sweep_config import SweepConfig  # noqa: E402
from mplm_bench.sweep_run import run_sweep  # noqa: E402

# what may differ between two runs of the same samples: when they ran
TIMING = {"samples": ["wall_s"], "calls": ["start_wall", "end_wall", "ttft_s"]}
KEYS = {"samples": ["instance_id", "repeat"], "calls": ["instance_id", "repeat", "call"]}
SWEEP = {"backends": ["scripted"],
         "tasks": [{"name": "sudoku", "grid": {"size": [4]}}, {"name": "sat", "options": {"vars": 6}}],
         "strategies": ["cot", "fj", "mplm"], "n": 3}


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module (starting one takes seconds), never someone else's."""
    ray.init(address="local", num_cpus=2, object_store_memory=256 << 20, include_dashboard=False,
             logging_level=logging.WARNING)
    yield
    ray.shutdown()


def table(run_dir: Path, kind: str) -> pd.DataFrame:
    df = pd.read_parquet(run_dir / kind).drop(columns=TIMING[kind])
    return df.sort_values(KEYS[kind]).reset_index(drop=True)


def assert_same_runs(a: Path, b: Path) -> None:
    runs = sorted(p.name for p in a.iterdir() if (p / "manifest.json").exists())
    assert runs and runs == sorted(p.name for p in b.iterdir() if (p / "manifest.json").exists())
    for run in runs:
        # the same resume keys (file names are per session: batches and compacted pairs)
        assert RunStore(a / run).done_keys() == RunStore(b / run).done_keys()
        for kind in ("samples", "calls"):
            pd.testing.assert_frame_equal(table(a / run, kind), table(b / run, kind))


def sweep(out: Path, **kw) -> SweepConfig:
    return SweepConfig.model_validate(SWEEP | {"out": str(out)} | kw)


def on_ray(**kw) -> ExecutorOptions:
    return ExecutorOptions(kind="ray", ray_actors=2, **kw)


@pytest.fixture(scope="module")
def local_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("local")
    assert run_sweep(sweep(root), quiet=True) == 0
    return root


def test_ray_sweep_equals_local_sample_for_sample(cluster, local_root, tmp_path):
    assert run_sweep(sweep(tmp_path), quiet=True, executor=on_ray()) == 0
    assert_same_runs(local_root, tmp_path)
    for m in (json.loads(p.read_text()) for p in tmp_path.glob("*/manifest.json")):
        layout = m["executor"]
        assert m["status"] == "complete" and layout["executor"] == "ray"
        assert layout["ray_version"] == ray.__version__ and len(layout["nodes"]) == 1
        actors = layout["actors"]
        assert len(actors) == 2 and {a["status"] for a in actors} == {"alive"}
        assert all(a["node_id"] == layout["nodes"][0]["node_id"] and a["pid"] for a in actors)
        assert sum(a["samples"] for a in actors) == 3 and layout["actors_died"] == 0


def test_every_ci_cell_ships_to_an_actor():
    """Actors get a plan's task and strategy as (class, options): a task may hold what does not
    pickle (longqa: a tokenizer's counting closure)."""
    from mplm_bench.executors.ray_actors import PortablePlan
    from mplm_bench.sweep_config import load_sweep
    from mplm_bench.sweep_run import plan_cells

    plans = plan_cells(load_sweep(REPO / "configs" / "ci_sweep.yaml"))
    assert {p.cfg.task for p in plans} >= {"sudoku", "sat"}
    for p in plans:
        q = ray.cloudpickle.loads(ray.cloudpickle.dumps(PortablePlan.of(p))).plan()
        assert type(q.task) is type(p.task) and q.task.options == p.task.options
        assert q.strategy.options == p.strategy.options and q.cfg == p.cfg and q.caps == p.caps
        instance = p.instances[0]
        assert q.task.prompt(instance, q.strategy.protocol) == p.task.prompt(instance, p.strategy.protocol)


def reference(tmp_path: Path, cfg: RunConfig) -> Path:
    p = plan(cfg.model_copy(update={"out": tmp_path / "local"}))

    async def go() -> None:
        backend = build_backend(p)
        try:
            await execute(p, backend)
        finally:
            await backend.aclose()

    asyncio.run(go())
    return tmp_path / "local"


def run_killing_one_actor(cfg: RunConfig, max_retries: int) -> dict:
    """Kill the actor that reports the first finished sample; with one sample at a time per actor
    its next sample is in flight (or about to be) when it dies, and a 9x9 MPLM sample takes long
    enough that the kill lands mid-sample."""
    ex = RayExecutor(on_ray(max_retries=max_retries))
    killed: list[int] = []

    def on_sample(row: dict) -> None:
        if not killed:
            (victim,) = [s for s in ex.slots if s.samples == 1]
            killed.append(victim.index)
            ray.kill(victim.handle)

    async def go() -> dict:
        try:
            return await execute_with(plan(cfg), ex, on_sample)
        finally:
            await ex.aclose()

    manifest = asyncio.run(go())
    assert killed
    return manifest


KILL_CFG = dict(task="sudoku", strategy="mplm", task_options={"size": 9}, n=6, backend="scripted",
                concurrency=1)


def test_a_killed_actors_samples_run_again_elsewhere_exactly_once(cluster, tmp_path):
    cfg = RunConfig(**KILL_CFG, out=tmp_path / "ray")
    manifest = run_killing_one_actor(cfg, max_retries=2)
    layout = manifest["executor"]
    assert manifest["status"] == "complete" and manifest["n_samples_on_disk"] == 6
    assert layout["actors_died"] == 1 and layout["retried_samples"] >= 1 and layout["lost_samples"] == 0
    died = [a for a in layout["actors"] if a["status"] == "died"]
    assert len(died) == 1 and died[0]["error"]
    # the dead actor's slot got a replacement; the samples counted on live actors + the dead one's
    assert len([a for a in layout["actors"] if a["status"] == "alive"]) == 2
    assert sum(a["samples"] for a in layout["actors"]) == 6
    s = pd.read_parquet(cfg.out / cfg.run_id() / "samples")
    assert len(s) == 6 and not s.duplicated(["instance_id", "repeat"]).any()
    assert_same_runs(reference(tmp_path, cfg), tmp_path / "ray")


def test_a_sample_past_its_retries_is_recorded_engine_error(cluster, tmp_path):
    cfg = RunConfig(**KILL_CFG, out=tmp_path / "ray")
    manifest = run_killing_one_actor(cfg, max_retries=0)
    layout = manifest["executor"]
    assert manifest["status"] == "complete" and layout["lost_samples"] >= 1
    s = pd.read_parquet(cfg.out / cfg.run_id() / "samples").sort_values("instance_id")
    assert len(s) == 6 and s["instance_id"].is_unique  # every sample ends with a recorded status
    lost = s[s["status"] == "engine_error"]
    assert len(lost) == layout["lost_samples"] and (lost["n_calls"] == 0).all()
    assert lost["status_detail"].str.contains("Ray actor running this sample died, on attempt 1 of 1").all()
    # no replacement with --max-retries 0: the survivor ran every other sample, as locally
    ref = pd.read_parquet(reference(tmp_path, cfg) / cfg.run_id() / "samples").sort_values("instance_id")
    kept = ~s["instance_id"].isin(lost["instance_id"]).to_numpy()
    cols = [c for c in s.columns if c not in TIMING["samples"]]
    pd.testing.assert_frame_equal(s[kept][cols].reset_index(drop=True), ref[kept][cols].reset_index(drop=True))


def test_an_actor_ray_cannot_place_fails_the_run_instead_of_waiting(cluster, tmp_path):
    from mplm_bench.config import ConfigError

    @ray.remote(num_cpus=2)
    class Blocker:  # holds every CPU of the cluster
        def ping(self) -> None: ...

    blocker = Blocker.remote()
    ray.get(blocker.ping.remote())
    ex = RayExecutor(ExecutorOptions(kind="ray", ray_actors=1, max_retries=1, ray_start_timeout_s=1))
    cfg = RunConfig(task="sudoku", strategy="cot", task_options={"size": 4}, n=2, backend="scripted",
                    out=tmp_path)

    async def go() -> None:
        try:
            await execute_with(plan(cfg), ex)
        finally:
            await ex.aclose()

    try:
        with pytest.raises(ConfigError, match="no Ray actor could start"):
            asyncio.run(go())
    finally:
        ray.kill(blocker)


@pytest.mark.parametrize("first,then", [("ray", "local"), ("local", "ray")])
def test_a_sweep_resumes_across_executors(cluster, local_root, tmp_path, first, then):
    where = {"ray": on_ray(), "local": None}
    assert run_sweep(sweep(tmp_path, n=2), quiet=True, executor=where[first]) == 0
    # and one finished sample lost, as if the run had been killed while writing it
    next(iter(sorted(tmp_path.glob("sudoku-cot-*/samples/*.parquet")))).unlink()
    assert run_sweep(sweep(tmp_path), quiet=True, executor=where[then]) == 0
    assert_same_runs(local_root, tmp_path)
    manifests = [json.loads(p.read_text()) for p in tmp_path.glob("*/manifest.json")]
    assert {m["resumed"] for m in manifests} == {1} and {m["executor"]["executor"] for m in manifests} == {then}


# -- the command line ------------------------------------------------------------------------
RUN = ["run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-T", "size=4", "-n", "3", "-q"]


def test_cli_runs_on_ray_and_writes_what_a_local_run_writes(tmp_path):
    from analysis_data import cli

    r = cli(*RUN, "--out", str(tmp_path / "ray"), "--executor", "ray", "--ray-actors", "2")
    assert r.returncode == 0, r.stderr
    assert cli(*RUN, "--out", str(tmp_path / "local")).returncode == 0
    assert_same_runs(tmp_path / "local", tmp_path / "ray")
    (m,) = [json.loads(p.read_text()) for p in (tmp_path / "ray").glob("*/manifest.json")]
    assert m["executor"]["requested_address"] == "local" and len(m["executor"]["actors"]) == 2
    assert m["versions"]["ray"] == ray.__version__


@pytest.mark.parametrize("args,needle", [
    (["--executor", "spark"], "--executor: Input should be 'local' or 'ray'"),
    (["--ray-address", "127.0.0.1:6379"], "--ray-address needs --executor ray"),
    (["--executor", "ray", "--max-retries", "-1"], "--max-retries: Input should be greater than or equal to 0"),
    # in a fresh process: this one may be connected to the module's cluster already
    (["--executor", "ray", "--ray-address", "127.0.0.1:9"], "cannot connect to Ray at 127.0.0.1:9"),
])
def test_cli_bad_executor_options_are_one_line(tmp_path, args, needle):
    from analysis_data import cli, invoke

    r = (cli if "--ray-address" in args else invoke)(*RUN, "--out", str(tmp_path), *args)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def test_cli_without_ray_names_the_extra(tmp_path):
    import subprocess
    import sys

    from analysis_data import ENV

    code = ("import sys; sys.modules['ray'] = None; from mplm_bench.cli import main; "
            f"sys.argv = ['mplm-bench', *{RUN + ['--out', str(tmp_path), '--executor', 'ray']!r}]; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2 and "pip install 'mplm-bench[ray]'" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not any(tmp_path.iterdir())
