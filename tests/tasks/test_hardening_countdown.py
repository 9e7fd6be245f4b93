"""Issue 39.8: Countdown's SoS+ beam can be bounded below (`-T sos_min_beam`), the reference
searches' drawn beams are recorded (`sos_beam`, `apr_beam`, `apr_sub_beam`), and a call whose
prompt the engine rejected counts as truncated without raising `peak_context_tokens` past it."""

from __future__ import annotations

from cli_helpers import invoke_cli
from input_helpers import assert_one_error_line, cli

from mplm_bench.analysis.load import load_samples
from mplm_bench.runtime.accounting import CallRecord, SampleMetrics
from mplm_bench.tasks.countdown.task import CountdownOptions, CountdownTask


def test_the_sos_beam_can_be_fixed_and_every_draw_is_recorded():
    fixed = CountdownTask(CountdownOptions(sos_min_beam=3, sos_max_beam=3)).generate(20, 0)
    assert {i.meta["sos_beam"] for i in fixed} == {3}
    drawn = CountdownTask(CountdownOptions()).generate(40, 0)
    assert {i.meta["sos_beam"] for i in drawn} <= set(range(1, 6)) and len({i.meta["sos_beam"] for i in drawn}) > 1
    assert all(1 <= i.meta["apr_beam"] <= 10 for i in drawn)
    assert all(i.meta["apr_sub_beam"] is None or i.meta["apr_beam"] <= i.meta["apr_sub_beam"] <= 15 for i in drawn)


def test_the_drawn_beams_reach_the_samples_table(tmp_path):
    r = invoke_cli("run", "-t", "countdown", "-s", "sos", "-b", "scripted", "-n", "2", "-T", "sos_min_beam=2",
                   "--out", tmp_path, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    s = load_samples([tmp_path])
    assert len(s) == 2 and s["sos_beam"].between(2, 5).all() and s["apr_beam"].notna().all()


def test_a_beam_range_upside_down_is_one_line(tmp_path, monkeypatch, capsys):
    code, err = cli(monkeypatch, capsys, "run", "-t", "countdown", "-s", "sos", "-b", "scripted", "-q",
                    "-T", "sos_min_beam=4", "-T", "sos_max_beam=2", "--out", str(tmp_path / "out"))
    assert_one_error_line(code, err, "sos_min_beam=4 is above sos_max_beam=2")
    assert not (tmp_path / "out").exists()


def test_a_rejected_prompt_is_a_truncated_call_outside_the_peak_context():
    m = SampleMetrics()
    m.add_call(CallRecord(call=0, thread_id="0", parent_id=None, step=0, round=1, prompt_tokens=3000,
                          completion_tokens=900, finish_reason="stop"))
    m.add_call(CallRecord(call=1, thread_id="0", parent_id=None, step=1, round=2, prompt_tokens=5000,
                          completion_tokens=0, finish_reason="prompt_too_long"))
    assert m.peak_context_tokens == 3900 and m.n_truncated_calls == 1
