"""`mplm-bench export-sft` end to end: prompts equal what `run` sends, the chat renders as the
engine backends render it, `datasets` loads the files, and bad input writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mplm_bench import registry
from mplm_bench.backends.engine_common import counter_renderer
from mplm_bench.cli import app
from mplm_bench.runtime.backend import Request
from mplm_bench.runtime.protocol import SYSTEM_PROMPT
from mplm_bench.runtime.synthesis import is_synthesis


def invoke(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.output


def export(out: Path, *args: str) -> pd.DataFrame:
    code, output = invoke("export-sft", *args, "--out", str(out), "-q")
    assert code == 0, output
    parts = [pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))]
    return pd.concat(parts, ignore_index=True)


CASES = [
    ("sudoku", "serial", "size=4"), ("sudoku", "fj", "size=4"), ("sudoku", "mplm", "size=4"),
    ("sudoku", "pacore", "size=4"), ("sat", "serial", "vars=6"), ("sat", "fj", "vars=6"),
    ("sat", "mplm", "vars=6"), ("sat", "pacore", "vars=6"),
]
if "longqa" in registry.tasks.names():  # the export is generic over the registry
    CASES += [("longqa", p, "length=8000") for p in ("serial", "fj", "mplm", "pacore")]
STRATEGY = {"serial": "cot", "fj": "fj", "mplm": "mplm", "pacore": "pacore"}


@pytest.mark.parametrize("task,protocol,opt", CASES)
def test_every_exported_step_is_what_run_sends(tmp_path: Path, task: str, protocol: str, opt: str) -> None:
    """The issue's guarantee, against a real `mplm-bench run -b scripted --log-prompts` of the
    same instances: export's training seed stream, which `run` itself never takes (hence the API)."""
    from mplm_bench import run
    from mplm_bench.config import RunConfig, parse_kv
    from mplm_bench.export.options import training_seed

    run(RunConfig(task=task, strategy=STRATEGY[protocol], backend="scripted", task_options=parse_kv([opt], "-T"),
                  n=4, seed=training_seed(0), log_prompts=True, out=tmp_path / "runs"))
    (run_dir,) = (tmp_path / "runs").iterdir()
    calls = pd.read_parquet(run_dir / "calls")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    rows = export(tmp_path / "sft", "--task", task, "--protocol", protocol, "-T", opt, "-n", "4")

    sent = calls[(calls["status"] == "ok") & (calls["finish_reason"] == "stop")]
    if protocol == "pacore":
        sent = sent[sent["prompt"].map(is_synthesis)]
        assert "PaCoRe synthesis from the exact policy" in (tmp_path / "sft" / "README.md").read_text()
    assert len(rows) == len(sent) > 0  # one example per finished step, nothing more
    by_call = sent.set_index(["instance_id", "call"])
    for r in rows.itertuples():
        system, user, assistant = r.messages
        call = by_call.loc[(r.instance_id, r.call)]
        assert (call["thread_id"], call["step"]) == (r.thread_id, r.step)
        assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
        assert system["content"] == SYSTEM_PROMPT
        assert user["content"] == call["prompt"]
        assert assistant["content"] == call["response"]
        assert r.prompt_tokens == call["prompt_tokens"] and r.completion_tokens == call["completion_tokens"]
    assert set(rows["config_hash"]) == {manifest["config_hash"]}
    assert (rows["role"] == "master").sum() == (rows["depth"] == 0).sum() > 0


def test_rendered_chat_is_what_the_engine_backends_send(tmp_path: Path) -> None:
    """Trained on: the whole chat rendered by the model's template. Served: the system and user
    messages rendered with the generation prompt, by the renderer the vllm and openai backends
    share. The first must start with the second, then the response."""
    rows = export(tmp_path / "sft", "--task", "sudoku", "--protocol", "mplm", "-T", "size=4", "-n", "2")
    renderer = counter_renderer(None)
    template = renderer_template()
    for r in rows.sample(20, random_state=0).itertuples():
        system, user, assistant = r.messages
        request = Request("x/0", r.thread_id, (user["content"],), system["content"])
        served = renderer.text(request)
        assert served == template.render([system, user], add_generation_prompt=True)
        trained = template.render([system, user, assistant], add_generation_prompt=False)
        assert trained.startswith(served + assistant["content"])


def renderer_template():  # the embedded model's chat template, as the renderer uses it
    from mplm_bench.models.tokenizer import load_token_counter

    return load_token_counter(None).chat_template


def test_round_trip_through_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "sft"
    rows = export(out, "--task", "sat", "--protocol", "fj", "-T", "vars=6", "-n", "20",
                  "--format", "jsonl", "--val-fraction", "0.2")
    files = {s: str(out / f"{s}.parquet") for s in ("train", "validation")}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert ds["train"].num_rows + ds["validation"].num_rows == len(rows)
    msgs = ds["train"][0]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert all(isinstance(m["content"], str) and m["content"] for m in msgs)
    # the card's YAML `configs` make the folder loadable by name, as `trl sft --dataset_name DIR` does
    by_card = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache2"))
    assert {k: v.num_rows for k, v in by_card.items()} == {k: v.num_rows for k, v in ds.items()}
    jsonl = datasets.load_dataset("json", data_files=str(out / "train.jsonl"), cache_dir=str(tmp_path / "cache3"))
    assert jsonl["train"][0]["messages"] == msgs


def test_prompt_completion_layout(tmp_path: Path) -> None:
    rows = export(tmp_path / "sft", "--task", "sudoku", "--protocol", "fj", "-T", "size=4", "-n", "2",
                  "--layout", "prompt-completion")
    assert "messages" not in rows.columns
    first = rows.iloc[0]
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert [m["role"] for m in first["completion"]] == ["assistant"]


def test_split_is_by_problem_and_seeded(tmp_path: Path) -> None:
    args = ["--task", "sudoku", "--protocol", "fj", "-T", "size=4", "-n", "12", "--val-fraction", "0.25"]
    a = export(tmp_path / "a", *args)
    b = export(tmp_path / "b", *args)
    c = export(tmp_path / "c", *args, "--seed", "1")
    train, val = (set(a.loc[a["split"] == s, "instance_id"]) for s in ("train", "validation"))
    assert len(val) == 3 and len(train) == 9 and not train & val
    pd.testing.assert_frame_equal(a, b)  # same command, same bytes in the columns
    assert set(c.loc[c["split"] == "validation", "instance_id"]) != val


def test_row_options(tmp_path: Path) -> None:
    args = ["--task", "sudoku", "--protocol", "mplm", "-T", "size=4", "-n", "3", "--val-fraction", "0"]
    base = export(tmp_path / "base", *args)
    masters = base[base["role"] == "master"]
    workers = base.groupby("instance_id")["role"].apply(lambda r: (r == "worker").sum())

    up = export(tmp_path / "up", *args, "--upsample-master", "3")
    assert (up["role"] == "master").sum() == 3 * len(masters)
    assert (up["role"] == "worker").sum() == workers.sum()

    none = export(tmp_path / "none", *args, "--drop-workers")
    assert set(none["role"]) == {"master"} and len(none) == len(masters)

    half = export(tmp_path / "half", *args, "--worker-fraction", "0.5")
    kept = half.groupby("instance_id")["role"].apply(lambda r: (r == "worker").sum())
    assert (kept == (workers * 0.5 + 0.5).astype(int)).all()
    # kept worker steps are a subset of the full export's
    key = ["instance_id", "call"]
    assert set(map(tuple, half[half["role"] == "worker"][key].values)) <= set(map(tuple, base[key].values))


def test_dedupe_by_problem(tmp_path: Path) -> None:
    """The same puzzle twice under two ids: always in one split; once with --dedupe."""
    from mplm_bench.tasks.sudoku.task import SudokuOptions, SudokuTask

    a, b = SudokuTask(SudokuOptions(size=4)).generate(2, seed=0)
    data = tmp_path / "p.jsonl"
    lines = [{"id": f"p{i}", **inst.data} for i, inst in enumerate([a, a, b])]
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    args = ["--task", "sudoku", "--protocol", "serial", "--data", str(data), "-n", "3", "--val-fraction", "0.5"]
    plain = export(tmp_path / "plain", *args)
    assert set(plain["instance_id"]) == {"p0", "p1", "p2"}
    assert plain.loc[plain["instance_id"] == "p0", "split"].iloc[0] == plain.loc[plain["instance_id"] == "p1", "split"].iloc[0]
    deduped = export(tmp_path / "dedupe", *args, "--dedupe")
    assert set(deduped["instance_id"]) == {"p0", "p2"}
    assert "| duplicate instance | 1 |" in (tmp_path / "dedupe" / "README.md").read_text()


def test_dataset_card(tmp_path: Path) -> None:
    out = tmp_path / "sft"
    rows = export(out, "--task", "sudoku", "--protocol", "mplm", "-p", "fj", "-T", "size=4", "-n", "10")
    card = (out / "README.md").read_text()
    header = card.split("---\n")[1]
    import yaml

    meta = yaml.safe_load(header)
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "train.parquet"},
                                                 {"split": "validation", "path": "validation.parquet"}]
    assert "mplm-bench export-sft --task sudoku --protocol mplm --protocol fj -T size=4 -n 10" in card
    n_mplm_workers = ((rows["protocol"] == "mplm") & (rows["role"] == "worker") & (rows["split"] == "train")).sum()
    assert f"| train | mplm | worker | {n_mplm_workers:,} |" in card
    assert "`smollm2` tokenizer" in card and '"config_hash"' in card
    assert f"Longest example: {(rows['prompt_tokens'] + rows['completion_tokens']).max():,} tokens" in card


def test_noise_is_refused_unless_asked_then_recorded(tmp_path: Path) -> None:
    args = ["export-sft", "--task", "sudoku", "--protocol", "fj", "-T", "size=4", "-n", "4",
            "-M", "error_rate=0.3", "--out", str(tmp_path / "sft"), "-q"]
    code, output = invoke(*args)
    assert code == 2 and "--allow-noise" in output and not (tmp_path / "sft").exists()
    code, output = invoke(*args, "--allow-noise")
    assert code == 0, output
    assert "Noisy traces" in (tmp_path / "sft" / "README.md").read_text()


def test_pacore_synthesis_over_noisy_references(tmp_path: Path) -> None:
    """-M exact_synthesis: the references err, every written response is the exact synthesizer's."""
    from mplm_bench.runtime.synthesis import parse_synthesis
    from mplm_bench.tasks.sudoku.synthesis import synthesis_policy

    noisy = ["--task", "sudoku", "--protocol", "pacore", "-T", "size=9", "-n", "30", "-M", "error_rate=0.1"]
    rows = export(tmp_path / "sft", *noisy, "-M", "exact_synthesis=true")  # no --allow-noise needed
    assert len(rows) > 0 and rows["correct"].all()
    for m in rows["messages"]:
        assert m[2]["content"] == synthesis_policy(m[1]["content"])  # exact, on these references
    disagree = [len(set(parse_synthesis(m[1]["content"]).references)) > 1 for m in rows["messages"]]
    assert sum(disagree) >= len(rows) // 2
    assert "Noisy references, exact synthesis" in (tmp_path / "sft" / "README.md").read_text()
    # any other protocol's rows would be noisy themselves: refused as before
    code, output = invoke("export-sft", *noisy, "-M", "exact_synthesis=true", "-p", "serial",
                          "--out", str(tmp_path / "mixed"), "-q")
    assert code == 2 and "--allow-noise" in output and not (tmp_path / "mixed").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--task", "nope", "--protocol", "mplm"], "unknown task 'nope'"),
        (["--task", "sudoku", "--protocol", "cot"], "unknown protocol 'cot'"),
        (["--task", "sudoku", "--protocol", "mplm", "-T", "size=7"], "size"),
        (["--task", "sudoku", "--protocol", "mplm", "-T", "oops"], "key=value"),
        (["--task", "sudoku", "--protocol", "mplm", "-M", "bogus=1"], "bogus"),
        (["--task", "sudoku", "--protocol", "mplm", "--worker-fraction", "1.5"], "--worker-fraction"),
        (["--task", "sudoku", "--protocol", "mplm", "--upsample-master", "0"], "--upsample-master"),
        (["--task", "sudoku", "--protocol", "mplm", "--val-fraction", "1"], "--val-fraction"),
        (["--task", "sudoku", "--protocol", "mplm", "--format", "xml"], "--format"),
        (["--task", "sudoku", "--protocol", "mplm", "--layout", "text"], "--layout"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path: Path, args: list[str], needle: str) -> None:
    code, output = invoke("export-sft", *args, "--out", str(tmp_path / "sft"), "-q")
    assert code == 2, output
    assert needle in output and "Traceback" not in output and len(output.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_non_empty_out_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "sft"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["export-sft", "--task", "sudoku", "--protocol", "serial", "-T", "size=4", "-n", "2", "--out", str(out), "-q"]
    code, output = invoke(*args)
    assert code == 2 and "--overwrite" in output and (out / "keep.txt").read_text() == "mine"
    code, output = invoke(*args, "--overwrite")
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "train.parquet", "validation.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["sft"]  # no staging folder left behind


def test_interrupted_export_leaves_nothing(tmp_path: Path) -> None:
    from mplm_bench.export.options import ExportOptions
    from mplm_bench.export.sft import export_sft

    def stop(protocol: str, sample: object) -> None:
        raise KeyboardInterrupt

    opts = ExportOptions(task="sudoku", protocols=["mplm"], task_options={"size": 4}, n=3, out=tmp_path / "sft")
    with pytest.raises(KeyboardInterrupt):
        export_sft(opts, on_sample=stop)
    assert not any(tmp_path.iterdir())
