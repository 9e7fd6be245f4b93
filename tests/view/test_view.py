"""`mplm-bench view` without a browser: what the page holds (calls, arrows, critical path) against
the Parquet it came from, how it embeds model text, and the command's errors."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from view_data import CLI, ENV, HOSTILE, cli, make_hostile, scripted_run, tiled

from mplm_bench.analysis.load import load_calls, load_samples
from mplm_bench.view import data
from mplm_bench.view.build import build_file
from mplm_bench.view.data import sample_payload
from mplm_bench.view.page import blob_tag, embed_json


@pytest.fixture(scope="module")
def mplm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("view")
    return scripted_run(root, "-t", "sudoku", "-s", "mplm", "-T", "size=4", "-n", "2", "--log-prompts")


def test_payload_matches_parquet(mplm_run: Path):
    samples = load_samples([mplm_run])
    for s in samples.itertuples():
        calls = load_calls(mplm_run, s.instance_id, s.repeat, columns=None)
        p = sample_payload(calls)
        c = p["calls"]
        assert len(c["call"]) == s.n_calls == len(calls)
        assert p["threads"][0] == "0" and len(p["threads"]) == s.n_threads  # the master on top
        assert sorted(c["response"]) == sorted(calls["response"])
        assert all(c["prompt"]) and p["prompts"]  # --log-prompts kept them
        # one arrow per thread consumed from: spawns (master -> worker step 0) and messages
        consumed = sum(len([x for x in str(v or "").split(",") if x]) for v in calls["consumed_from"])
        arrows = [p["arrows"][i:i + 3] for i in range(0, len(p["arrows"]), 3)]
        assert len(arrows) == consumed
        assert sum(k == 0 for _, _, k in arrows) == s.n_threads - 1
        for a, b, _ in arrows:  # a sender's step ends before the step that reads it starts
            assert c["ev"][a] <= c["sv"][b] + 1e-6
        # the critical path: a chain back from the master's last step to time 0, each step
        # starting the moment its predecessor ended, adding up to the sample's figure
        path = p["critical"]
        assert p["threads"][c["lane"][path[0]]] == "0" and c["cs"][path[-1]] == 0
        for later, earlier in zip(path, path[1:], strict=False):
            assert c["ce"][earlier] == pytest.approx(c["cs"][later])
        assert sum(c["ct"][i] for i in path) == pytest.approx(s.critical_path_tokens)


def test_embedded_json_cannot_close_its_tag():
    payload = {"response": [HOSTILE]}
    text = embed_json(payload)
    assert "<" not in text and json.loads(text) == payload
    tag = blob_tag(3, {"response": [HOSTILE] * 200})  # big enough to be compressed
    body = re.fullmatch(r'<script type="application/json" id="calls-3" data-enc="gzip\+base64">(.*)</script>\n', tag).group(1)
    assert json.loads(gzip.decompress(base64.b64decode(body))) == {"response": [HOSTILE] * 200}


def test_view_writes_one_offline_page(mplm_run: Path, tmp_path: Path):
    run = tmp_path / mplm_run.name
    import shutil

    shutil.copytree(mplm_run, run)
    make_hostile(run, "sudoku-4-s0-00000")
    r = cli("view", str(run))
    assert r.returncode == 0, r.stderr
    page = run / "view.html"
    assert str(page) in r.stdout and "2 sample(s)" in r.stdout
    html = page.read_text()
    # every </script> closes one of the page's own tags: nothing a model wrote ended one
    assert html.count("</script>") == html.count("<script") == 1 + 1 + 1 + 2  # index, table, code, 2 samples
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    # only the page's own script may run: the policy names its hash
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html and "script-src 'unsafe" not in html
    out = tmp_path / "elsewhere" / "v.html"
    assert cli("view", str(run.parent), "--out", str(out)).returncode == 0 and out.stat().st_size > 0


@pytest.mark.parametrize("args,needle", [
    (["/no/such/run"], "no such file or folder"),
    (["--serve", "--out", "x.html", "."], "pick one"),
])
def test_view_bad_input_is_one_error_line(args: list[str], needle: str):
    r = cli("view", *args)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_view_of_a_folder_without_runs(tmp_path: Path):
    r = cli("view", str(tmp_path))
    assert r.returncode == 2 and "no runs here" in r.stderr


def test_view_help_imports_nothing_heavy():
    code = ("import sys; from typer.testing import CliRunner; from mplm_bench.cli import app;"
            "r = CliRunner().invoke(app, ['view', '--help']); assert r.exit_code == 0 and '--serve' in r.output, r.output;"
            "heavy = [m for m in ('pandas', 'pyarrow', 'selenium') if m in sys.modules]; assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr


def test_serve_command_prints_its_url_and_serves(mplm_run: Path):
    proc = subprocess.Popen(CLI + ["view", str(mplm_run.parent), "--serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert '"mode":"serve"' in page and "sudoku-4-s0-00001" in page
        q = urllib.parse.urlencode({"run": mplm_run.name, "instance": "sudoku-4-s0-00001", "repeat": 0})
        calls = json.loads(urllib.request.urlopen(f"{url}calls?{q}", timeout=30).read())
        assert calls["threads"][0] == "0" and len(calls["calls"]["call"]) > 1
        for bad in ({"run": "..", "instance": "x", "repeat": 0}, {"run": "/etc", "instance": "passwd", "repeat": 0}):
            with pytest.raises(urllib.error.HTTPError) as e:  # only the runs found can be read
                urllib.request.urlopen(f"{url}calls?{urllib.parse.urlencode(bad)}", timeout=30)
            assert e.value.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---- at scale (issue 40): the page grows with the table only; calls stop at a budget ----------
CALLS_TAG = re.compile(r'<script type="application/json" id="calls-(\d+)"[^>]*>(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """A real 20-sample run tiled to 200 and to 2,000 samples."""
    root = tmp_path_factory.mktemp("grow")
    base = scripted_run(root / "base", "-t", "sudoku", "-s", "mplm", "-T", "size=4", "-n", "20")
    return {n: tiled(base, root / f"n{n}", n) for n in (200, 2000)}


def _decoded(html: str, tag_id: str) -> object:
    m = re.search(f'<script type="application/json" id="{tag_id}"( data-enc="gzip\\+base64")?>(.*?)</script>', html, re.S)
    return json.loads(gzip.decompress(base64.b64decode(m.group(2))) if m.group(1) else m.group(2))


def test_page_stays_small_when_samples_grow(grown: dict[int, Path], monkeypatch: pytest.MonkeyPatch):
    rows_read = []
    real = data.iter_committed

    def counting(*args, **kwargs):  # the calls rows the build reads
        for batch in real(*args, **kwargs):
            rows_read[-1] += batch.num_rows
            yield batch

    monkeypatch.setattr(data, "iter_committed", counting)
    budget = 0.25  # MB: about 110 of these samples
    size = {}
    for n, run in grown.items():
        rows_read.append(0)
        built = build_file([run], run.parent / "page.html", calls_mb=budget)
        html = built.path.read_text()
        size[n] = built.size
        tags = CALLS_TAG.findall(html)
        assert not built.all_calls and 0 < built.n_in_page == len(tags) < n
        assert sum(len(t) for _, t in tags) <= budget * 1e6
        assert built.n_calls == len(load_calls(run))  # counted from the table, not by reading them all
        assert rows_read[-1] < built.n_calls / 3 or n == 200  # reading stopped at the budget
        # the columnar table decodes to the samples, in the page's order
        table, frame = _decoded(html, "sample-table"), load_samples([run])
        ids = table["instance_id"]
        assert len(ids) == n and sorted(ids) == sorted(frame["instance_id"])
        calls = table["n_calls"]
        calls = calls if isinstance(calls, list) else [calls["d"][i] for i in calls["i"]]
        assert dict(zip(ids, calls, strict=True)) == dict(zip(frame["instance_id"], frame["n_calls"], strict=True))
    # ten times the samples: the same calls, and a table of tens of bytes a sample
    assert size[2000] < 1.5 * size[200]
    assert (size[2000] - size[200]) / 1800 < 64


def test_calls_budget_bounds(grown: dict[int, Path], tmp_path: Path):
    run = grown[200]
    every = build_file([run], tmp_path / "all.html", calls_mb=float("inf"))  # the old one-file page
    assert every.all_calls and every.n_in_page == 200
    html = every.path.read_text()
    for k, body in CALLS_TAG.findall(html)[:3]:
        payload = _decoded(html, f"calls-{k}")
        assert payload["calls"]["call"] and body
    none = build_file([run], tmp_path / "none.html", calls_mb=0)
    assert not none.all_calls and none.n_in_page == 0 and not CALLS_TAG.search(none.path.read_text())
    r = cli("view", str(run), "--out", str(tmp_path / "v.html"), "--calls-mb", "0.1")
    assert r.returncode == 0 and "holds the calls of" in r.stdout and "--serve" in r.stdout, r.stdout
    r = cli("view", str(run), "--calls-mb", "-1")
    assert r.returncode == 2 and "--calls-mb" in r.stderr
