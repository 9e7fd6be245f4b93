"""Bad user input through the command line: one clear `error:` line, exit code 2, no traceback,
nothing written. In-process through `mplm_bench.cli.main` (the console script's entry point,
usage errors included), and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import ENV
from input_helpers import assert_one_error_line, cli

GRID4 = {"puzzle": [[0, 0, 3, 4], [0, 4, 0, 0], [0, 1, 4, 0], [0, 0, 2, 1]],  # unique
         "solution": [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]}
RUN = ["run", "-t", "sudoku", "-s", "mplm", "-b", "scripted", "-q"]


def files(tmp_path: Path, **contents: str | bytes) -> dict[str, Path]:
    out = {}
    for name, text in contents.items():
        path = tmp_path / name.replace("_", ".", 1)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        out[name] = path
    return out


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def data_cases(tmp_path: Path) -> list[tuple[list[str], str]]:
    f = files(
        tmp_path,
        badline_jsonl=jsonl(GRID4, GRID4) + '{"puzzle": [[1,0],\n',
        nofield_jsonl=jsonl({"puzzle": GRID4["puzzle"]}),
        rows_jsonl=jsonl({"puzzle": [[1, 0, 0]], "solution": [[1, 2, 3]]}),
        mismatch_jsonl=jsonl({"puzzle": GRID4["puzzle"], "solution": [[1] * 9] * 9}),
        range_jsonl=jsonl({**GRID4, "puzzle": [[9, 0, 0, 0], *GRID4["puzzle"][1:]]}),
        wrongsol_jsonl=jsonl({**GRID4, "solution": [[1, 2, 3, 4]] * 4}),
        dup_jsonl=jsonl({**GRID4, "id": "a"}, {**GRID4, "id": "a"}),
        binary_jsonl=b"\xff\xfe\x00\x01garbage\n",
        empty_jsonl="",
        notes_txt="hello",
        broken_parquet=b"PAR1 not really",
        bad_cnf="p cnf 3 1\n1 -2 x 0\n",
        badclause_jsonl=jsonl({"clauses": [[1, 2, "a"]], "label": "SAT"}),
    )
    (tmp_path / "folder").mkdir()
    return [
        (["--data", str(f["badline_jsonl"])], "badline.jsonl:3: bad JSON"),
        (["--data", str(f["nofield_jsonl"])], "missing field"),
        (["--data", str(f["rows_jsonl"])], "N must be a square"),
        (["--data", str(f["mismatch_jsonl"])], "puzzle is 4×4, solution 9"),
        (["--data", str(f["range_jsonl"])], "is not in 0..4"),
        (["--data", str(f["wrongsol_jsonl"])], "not a permutation"),
        (["--data", str(f["dup_jsonl"])], "duplicate id 'a'"),
        (["--data", str(f["binary_jsonl"])], "not UTF-8 text"),
        (["--data", str(f["empty_jsonl"])], "no instances"),
        (["--data", str(f["notes_txt"])], "unsupported file type"),
        (["--data", str(f["broken_parquet"])], "cannot read Parquet"),
        (["--data", str(tmp_path / "folder")], "unsupported file type"),
        (["--data", str(tmp_path / "missing.jsonl")], "no such file"),
        (["-t", "sat", "--data", str(f["bad_cnf"])], "bad literal 'x'"),
        (["-t", "sat", "--data", str(f["badclause_jsonl"])], "not a list of non-zero integers"),
    ]


OPTION_CASES = [
    (["-t", "nope"], "unknown task 'nope'"),
    (["-s", "nope"], "unknown strategy 'nope'"),
    (["-b", "nope"], "unknown backend 'nope'"),
    (["-T", "size=7"], "size must be one of"),
    (["-T", "size=abc"], "task option size"),
    (["-T", "colour=red"], "colour"),
    (["-T", "oops"], "expected key=value"),
    (["-S", "max_threads=abc"], "cap option max_threads"),
    (["-S", "max_threads=0"], "max_threads must be at least 1"),
    (["-S", "max_wall_s=-1"], "max_wall_s must be positive"),
    (["-S", "max_sample_chars=0"], "max_sample_chars must be at least 1"),
    (["-S", "scheduler=warp"], "strategy option scheduler"),
    (["-S", "colour=red"], "colour"),
    (["-M", "temperature=hot"], "sampling option temperature"),
    (["-M", "top_p=2"], "top_p must be in (0, 1]"),
    (["-M", "max_tokens=0"], "max_tokens must be at least 1"),
    (["-M", "bogus=1"], "bogus"),
    (["-M", "request_timeout_s=0"], "request_timeout_s"),
    (["-M", "request_retries=-1"], "request_retries"),
    (["-M", "faults=eror=0.1"], "unknown kind 'eror'"),
    (["-M", "faults=error=0.8,hang=0.8"], "add up to more than 1"),
    (["-n", "0"], "must be at least 1"),
    (["-n", "abc"], "Invalid value for '-n'"),
    (["--concurrency", "0"], "must be at least 1"),
    (["--repeats", "0"], "must be at least 1"),
    (["--no-such-flag"], "No such option"),
]


@pytest.mark.parametrize("extra,needle", OPTION_CASES)
def test_bad_run_options(extra, needle, tmp_path, monkeypatch, capsys):
    # later -t/-s/-b win over the defaults in RUN
    code, err = cli(monkeypatch, capsys, *RUN, *extra, "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, needle)
    assert not (tmp_path / "out").exists()  # no run folder, nothing partial


def test_bad_task_files(tmp_path, monkeypatch, capsys):
    for extra, needle in data_cases(tmp_path):
        code, err = cli(monkeypatch, capsys, *RUN, *extra, "--out", str(tmp_path / "out"))
        assert_one_error_line(code, err, needle)
        assert not (tmp_path / "out").exists(), extra


def test_unwritable_output_folders(tmp_path, monkeypatch, capsys):
    (tmp_path / "a_file").write_text("x")
    for out, needle in [(tmp_path / "a_file" / "sub", "is not a folder"), (Path("/proc/mplm"), "cannot write")]:
        code, err = cli(monkeypatch, capsys, *RUN, "--out", str(out))
        assert_one_error_line(code, err, needle)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, err = cli(monkeypatch, capsys, *RUN, "--out", str(locked))
        assert_one_error_line(code, err, "cannot write")
        assert not list(locked.iterdir())


SWEEP = """out: {out}
backends: [scripted]
tasks:
  - name: sudoku
    grid: {{size: [4]}}
strategies: [mplm]
seeds: [0]
n: 2
"""


@pytest.mark.parametrize("edit,needle", [
    (("seeds:", "seed:"), "seed: Extra inputs are not permitted"),
    (("grid:", "gird:"), "gird"),
    (("size: [4]", "size: [4, 7]"), "size must be one of"),
    (("strategies: [mplm]", "strategies: [mlpm]"), "unknown strategy 'mlpm'"),
    (("n: 2", "n: [2"), "not valid YAML"),
    (("n: 2", "n: -1"), "n: Input should be greater than or equal to 1"),
])
def test_sweep_files_with_a_typo(edit, needle, tmp_path, monkeypatch, capsys):
    out = tmp_path / "swout"
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP.format(out=out).replace(*edit))
    code, err = cli(monkeypatch, capsys, "sweep", str(path), "-q")
    assert_one_error_line(code, err, needle)
    assert not out.exists()  # every cell is validated before any runs


@pytest.fixture(scope="module")
def a_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    r = subprocess.run([sys.executable, "-m", "mplm_bench.cli", *RUN, "-T", "size=4", "-n", "2",
                        "--out", str(out)], capture_output=True, text=True, timeout=300,
                       env=ENV)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("spec,needle", [
    ("- where: {task: sudoku}\n  acuracy: {min: 1.0}\n", "unknown metric 'acuracy'"),
    ("- where: {task: sudoku}\n  accuracy: {mni: 1.0}\n", "accuracy.mni"),
    ("- where: {task: sudoku\n", "not valid YAML"),
    ("where: 1\n", "expected a non-empty list of rules"),
])
def test_check_specs_with_a_typo(spec, needle, a_run, tmp_path, monkeypatch, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    code, err = cli(monkeypatch, capsys, "check", str(a_run), "--spec", str(path))
    assert_one_error_line(code, err, needle)


@pytest.mark.parametrize("args,needle", [
    (["report", "/no/such/run"], "no such file or folder"),
    (["report", "{run}", "--format", "xml"], "--format 'xml'"),
    (["plot", "{run}", "--kind", "nope", "--out", "{tmp}/x.png"], "--kind 'nope'"),
    (["plot", "{run}", "--kind", "scaling", "--out", "{tmp}/x.gif"], "must end in"),
    (["compare", "{run}", "/no/such/run"], "no such file or folder"),
    (["nosuchcommand"], "No such command"),
])
def test_bad_analysis_input(args, needle, a_run, tmp_path, monkeypatch, capsys):
    args = [a.format(run=a_run, tmp=tmp_path) for a in args]
    code, err = cli(monkeypatch, capsys, *args)
    assert_one_error_line(code, err, needle)
    assert not list(tmp_path.iterdir())


def test_the_console_script_gives_one_line_too(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mplm_bench.cli", *RUN, "-n", "abc", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120,
                       env=ENV)
    assert_one_error_line(r.returncode, r.stderr, "Invalid value for '-n'")
    assert "Traceback" not in r.stderr and not list(tmp_path.iterdir())
