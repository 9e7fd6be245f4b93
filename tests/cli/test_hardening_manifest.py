"""Damaged manifests (issue 22, item 5): `run` says so in one line; `report`/`check` skip the
damaged run with one warning instead of refusing the whole root."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_main as cli

RUN = ["run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "-T", "size=4", "-n", "2", "-q"]


@pytest.fixture
def root(tmp_path, monkeypatch, capsys) -> Path:
    for seed in (0, 1, 2):
        code, _, err = cli(monkeypatch, capsys, *RUN, "--seed", seed, "--out", tmp_path / "root")
        assert code == 0, err
    return tmp_path / "root"


def manifests(root: Path) -> list[Path]:
    return sorted(root.glob("*/manifest.json"))


@pytest.mark.parametrize("text,why", [('{"run_id": "x", "conf', "not valid JSON"),
                                      ("[]", "a JSON list, not an object")])
def test_run_on_a_damaged_manifest_is_one_line(text, why, root, monkeypatch, capsys):
    m = manifests(root)[0]
    m.write_text(text)
    code, _, err = cli(monkeypatch, capsys, *RUN, "--seed", 0, "--out", root)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {m}: damaged manifest ({why}") and "move the manifest away" in err
    assert m.read_text() == text  # nothing overwritten
    m.unlink()  # the way out the message gives: the samples resume, and the run gets a manifest
    code, _, err = cli(monkeypatch, capsys, *RUN, "--seed", 0, "--out", root)
    assert code == 0 and "resuming: 2 samples already on disk" in err, err
    assert m.is_file()  # without one, report/check/plot/view would not find the run (issue 39.1)
    code, _, err = cli(monkeypatch, capsys, *RUN, "--seed", 0, "--out", root)
    assert code == 0 and "nothing to do" in err, err


def test_report_and_check_skip_a_damaged_run(root, monkeypatch, capsys, caplog, tmp_path):
    truncated, listed, _ = manifests(root)
    truncated.write_text(truncated.read_text()[:100])
    listed.write_text("[]")
    code, out, err = cli(monkeypatch, capsys, "report", root, "--format", "csv")
    assert code in (0, None) and not err, err
    warnings = caplog.messages  # on the console: the same lines on stderr (logging's last resort)
    assert len(warnings) == 2 and all(w.startswith("warning: skipping ") for w in warnings), err
    assert {str(truncated), str(listed)} == {w.split()[2].rstrip(":") for w in warnings}
    assert ",2," in out  # the one intact run: its 2 samples
    spec = tmp_path / "spec.yaml"
    spec.write_text("- where: {task: sudoku}\n  n: {min: 2}\n")
    caplog.clear()
    code, _, err = cli(monkeypatch, capsys, "check", root, "--spec", spec)
    assert code == 0 and len(caplog.messages) == 2, err
    # nothing readable at all: one error line
    code, _, err = cli(monkeypatch, capsys, "report", listed.parent)
    assert code == 2 and err.startswith(f"error: {listed}: unreadable manifest") and err.count("\n") == 1, err
