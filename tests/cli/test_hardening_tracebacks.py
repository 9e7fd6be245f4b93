"""Issue 39.6: damaged or foreign files and hostile requests are one `error:` line or a warning,
never a traceback (manifests that are JSON but no manifest, damaged calls, a stray Parquet file, a
copied part, a file named as a tokenizer, a sweep file that is not UTF-8, the viewer's requests)."""

from __future__ import annotations

import http.client
import logging
import shutil
import threading
import urllib.parse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import SCRIPTED_RUN, run_cli
from cli_helpers import run_main as cli_main

from mplm_bench.analysis.load import load_calls, load_samples
from mplm_bench.view.server import ViewServer

NOT_MANIFESTS = ['{"config": 5}', "[" * 100_000, '{"config": {"task_options": [1]}, "run_id": "x"}',
                 '{"config": {}, "sessions": [5]}']


@pytest.mark.parametrize("text", NOT_MANIFESTS, ids=["config-number", "deep", "options-array", "sessions"])
@pytest.mark.parametrize("command", ["run", "report", "check", "plot", "view"])
def test_a_manifest_that_is_json_but_not_a_manifest_is_one_line(text, command, scripted_run, tmp_path,
                                                                monkeypatch, capsys):
    (scripted_run / "manifest.json").write_text(text)
    out = scripted_run.parent
    spec = tmp_path / "spec.yaml"
    spec.write_text("- where: {task: sudoku}\n  n: {min: 1}\n")
    args = {"run": [*SCRIPTED_RUN, "-n", "3", "--out", out, "-q"], "report": ["report", out],
            "check": ["check", out, "--spec", spec], "view": ["view", out, "--out", tmp_path / "v.html"],
            "plot": ["plot", out, "--kind", "scaling", "--out", tmp_path / "p.png"]}[command]
    code, _, err = cli_main(monkeypatch, capsys, *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "manifest" in err


def test_damaged_calls_are_a_warning_and_the_page_is_still_written(scripted_run, tmp_path, caplog):
    (calls,) = (scripted_run / "calls").glob("*.parquet")
    calls.write_bytes(calls.read_bytes()[:300])  # truncated
    caplog.set_level(logging.WARNING)
    r = run_cli("view", scripted_run, "--out", tmp_path / "v.html")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "damaged calls part" in r.stderr and "0 calls" in r.stdout + r.stderr
    raw = bytearray(calls.read_bytes())
    raw[10] ^= 0xFF  # pages garbled: nothing of it is read, and no KeyError
    calls.write_bytes(bytes(raw))
    r = run_cli("view", scripted_run, "--out", tmp_path / "v.html")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


def test_a_stray_parquet_file_of_another_layout_is_not_data(scripted_run, tmp_path, caplog):
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), scripted_run / "samples" / "stray.parquet")
    caplog.set_level(logging.WARNING)
    s = load_samples([scripted_run])
    assert len(s) == 3 and s["instance_id"].notna().all()
    assert "another layout" in caplog.text
    r = run_cli("plot", scripted_run, "--kind", "scaling", "--out", tmp_path / "p.png")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = run_cli(*SCRIPTED_RUN, "-n", "3", "--out", scripted_run.parent, "-q")
    assert r.returncode == 0 and (scripted_run / "corrupt" / "samples" / "stray.parquet").is_file()


def test_a_copied_part_is_counted_once(scripted_run, caplog):
    for table in ("samples", "calls"):
        (part,) = (scripted_run / table).glob("*.parquet")
        shutil.copy(part, part.with_name("copy (1).parquet"))
    caplog.set_level(logging.WARNING)
    assert len(load_samples([scripted_run])) == 3
    c = load_calls(scripted_run, columns=["instance_id", "repeat", "call"])
    assert not c.duplicated().any()
    assert "counted once" in caplog.text


def test_a_file_that_is_no_tokenizer_is_one_line_and_nothing_is_written(tmp_path):
    r = run_cli("run", "-t", "sudoku", "-s", "cot", "-b", "scripted", "-T", "size=4", "-n", "1",
                "-M", "tokenizer=/etc/passwd", "--out", tmp_path / "out", "-q")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: tokenizer /etc/passwd: not a tokenizer")
    assert not (tmp_path / "out").exists()


def test_a_sweep_file_that_is_not_utf8_is_one_line(tmp_path):
    bad = tmp_path / "sweep.yaml"
    bad.write_bytes(b"tasks: [sudoku]\n\xff\xfe: 1\n")
    r = run_cli("sweep", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == f"error: {bad}: not UTF-8 text (invalid start byte at byte 16)"


def get(server: ViewServer, path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host if host is not None else f"127.0.0.1:{server.server_address[1]}")
    conn.endheaders()
    r = conn.getresponse()
    return r.status, r.read()


def test_the_viewer_refuses_foreign_hosts_and_overflowing_repeats(scripted_run):
    server = ViewServer([scripted_run.parent])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert get(server, "/")[0] == 200
        assert get(server, "/", host=f"localhost:{server.server_address[1]}")[0] == 200
        status, body = get(server, "/", host="attacker.example:80")  # DNS rebinding
        assert status == 403 and b"sudoku" not in body
        assert get(server, "/", host="")[0] == 403
        q = urllib.parse.urlencode({"run": scripted_run.name, "instance": "x", "repeat": 10**30})
        status, body = get(server, f"/calls?{q}")
        assert status == 400 and b"Error" not in body
    finally:
        server.shutdown()
        server.server_close()
