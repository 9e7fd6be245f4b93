"""The viewer in a real browser (Debian's headless Chromium via selenium): open the page from
file://, filter and sort the table, open a sample, click steps on the canvas timeline, read their
text — a hostile response stays text and runs nothing — and `--serve` shows a new sample on reload.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from view_data import HOSTILE, HOSTILE_ANSWER, cli, make_hostile, scripted_run, tiled

from mplm_bench.analysis.load import load_calls
from mplm_bench.view import headless

pytestmark = pytest.mark.skipif(headless.missing() is not None, reason=str(headless.missing()))

HOSTILE_ID = "sudoku-4-s0-00000"


@pytest.fixture(scope="module")
def browser():
    with headless.chromium(1400, 1000) as drv:
        yield drv


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("viewb")
    run = scripted_run(root, "-t", "sudoku", "-s", "mplm", "-T", "size=4", "-n", "2", "--log-prompts")
    make_hostile(run, HOSTILE_ID)
    out = root / "page.html"
    assert cli("view", str(run), "--out", str(out)).returncode == 0
    return run, out


def wait(drv, script: str, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout).until(lambda d: d.execute_script(script))


def rows(drv) -> list:
    from selenium.webdriver.common.by import By

    return drv.find_elements(By.CSS_SELECTOR, "#table tbody tr")


def open_sample(drv, instance_id: str) -> None:
    (row,) = [r for r in rows(drv) if instance_id in r.text]
    row.click()
    wait(drv, f"return STATE.p !== null && SAMPLES[STATE.k].instance_id === {instance_id!r}")


def click_step(drv, thread: str, step: int) -> None:
    """A real mouse click on the canvas, at the middle of that step's bar."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    sc = drv.find_element(By.ID, "scroller")
    drv.execute_script("arguments[0].scrollIntoView()", sc)
    x, y, w, h = drv.execute_script("""
        const p = STATE.p, lane = p.threads.indexOf(arguments[0]), sc = document.getElementById('scroller');
        const i = p.lanes[lane].find((j) => p.calls.step[j] === arguments[1]);
        selectCall(i, true); STATE.sel = null;  // scroll it into view only
        const [s, e] = clockOf(p), mid = (s[i] + e[i]) / 2;
        return [GUTTER + mid * p.ppu - sc.scrollLeft, AXIS + lane * ROW + ROW / 2 - sc.scrollTop, sc.clientWidth, sc.clientHeight];
    """, thread, step)
    drv.execute_script("document.getElementById('step').replaceChildren()")  # only the click fills it again
    ActionChains(drv).move_to_element_with_offset(sc, int(x - w / 2), int(y - h / 2)).click().perform()
    wait(drv, "return document.getElementById('step-response') !== null")


def step_text(drv) -> str:
    return drv.execute_script("return document.getElementById('step-response').textContent")


def test_page_from_file(browser, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    run, out = page
    browser.get(out.as_uri())
    wait(browser, "return document.body.dataset.ready === '1'")
    assert len(rows(browser)) == 2
    assert "sudoku-mplm-scripted" in browser.find_element(By.ID, "runs").text  # the run's settings
    # filter and sort
    browser.find_element(By.ID, "find").send_keys("00001")
    assert [r.text.count("sudoku-4-s0-00001") for r in rows(browser)] == [1]
    browser.find_element(By.ID, "find").clear()
    browser.execute_script("const f = document.getElementById('find'); f.dispatchEvent(new Event('input'))")
    Select(browser.find_element(By.CSS_SELECTOR, "select[data-filter=status]")).select_by_visible_text("ok")
    assert len(rows(browser)) == 2
    Select(browser.find_element(By.ID, "sort")).select_by_visible_text("n_calls")
    calls = [browser.execute_script(f"return SAMPLES[{r.get_attribute('data-k')}].n_calls") for r in rows(browser)]
    assert calls == sorted(calls, reverse=True)

    open_sample(browser, HOSTILE_ID)
    calls = load_calls(run, HOSTILE_ID, 0, columns=None)
    master = calls[(calls.thread_id == "0") & (calls.step == 0)].iloc[0]
    click_step(browser, "0", 0)
    assert step_text(browser) == master.response
    assert "thread 0 · step 0" in browser.find_element(By.ID, "step").text
    assert browser.execute_script("return document.getElementById('step-prompt').textContent") == master.prompt

    click_step(browser, "1", 0)
    assert step_text(browser) == HOSTILE  # shown as the characters the model wrote
    assert browser.execute_script("return window.pwned") is None  # and nothing of it ran
    assert browser.execute_script("return document.querySelectorAll('#step img, #step script, #sample-head img').length") == 0
    n_steps = int((calls.thread_id == "1").sum())
    assert len(browser.find_elements(By.CSS_SELECTOR, "#step ol.steps li")) == n_steps  # the thread's steps
    # the sample's columns (its hostile answer among them) are text as well
    assert HOSTILE_ANSWER in browser.find_element(By.ID, "sample-head").get_attribute("textContent")

    # the wall clock draws the same steps; a step clicked there opens too
    Select(browser.find_element(By.ID, "clock")).select_by_value("wall")
    click_step(browser, "0", 0)
    assert step_text(browser) == master.response
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert browser.execute_script("return window.pwned") is None


def test_serve_shows_a_new_sample_on_reload(browser, tmp_path: Path, page):
    from mplm_bench.view.server import ViewServer

    run, _ = page
    root = tmp_path / "live"
    root.mkdir()
    server = ViewServer([root])  # an empty root: `run` has not started yet
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(server.url)
        wait(browser, "return document.body.dataset.ready === '1'")
        assert len(rows(browser)) == 0
        shutil.copytree(run, root / run.name)  # a run lands
        browser.refresh()
        wait(browser, "return document.body.dataset.ready === '1'")
        assert len(rows(browser)) == 2
        scripted_run(root, "-t", "sudoku", "-s", "mplm", "-T", "size=4", "-n", "3", "--log-prompts")  # resumes: one more
        browser.refresh()
        wait(browser, "return document.body.dataset.ready === '1'")
        assert len(rows(browser)) == 3
        open_sample(browser, "sudoku-4-s0-00002")  # its calls come from /calls when opened
        click_step(browser, "0", 0)
        fresh = load_calls(root / run.name, "sudoku-4-s0-00002", 0, columns=None)
        assert step_text(browser) == fresh[(fresh.thread_id == "0") & (fresh.step == 0)].response.iloc[0]
        open_sample(browser, HOSTILE_ID)
        click_step(browser, "1", 0)
        assert step_text(browser) == HOSTILE and browser.execute_script("return window.pwned") is None
    finally:
        server.shutdown()
        server.server_close()


def test_preempted_steps_are_marked(browser, tmp_path: Path):
    """MPLM on a satisfiable formula stops at the first model and preempts the other branches:
    those steps keep their status on the page."""
    from selenium.webdriver.common.by import By

    run = scripted_run(tmp_path, "-t", "sat", "-s", "mplm", "-n", "1")
    calls = load_calls(run, columns=None)
    cut = calls[calls.status == "preempted"].iloc[0]
    out = tmp_path / "sat.html"
    assert cli("view", str(run), "--out", str(out)).returncode == 0
    browser.get(out.as_uri())
    wait(browser, "return document.body.dataset.ready === '1'")
    open_sample(browser, cut.instance_id)
    assert browser.execute_script("return STATE.p.calls.status.filter((s) => s === 'preempted').length") == \
        int((calls.status == "preempted").sum())
    click_step(browser, cut.thread_id, int(cut.step))
    assert browser.find_element(By.CSS_SELECTOR, "#step td[data-field=status]").text == "preempted"
    assert step_text(browser) == cut.response


def test_calls_load_on_demand(browser, tmp_path: Path):
    """A file over its calls budget (issue 40): a sample's calls are parsed only when it is opened;
    a sample beyond the budget is greyed and says how to open it; `--serve` on the same run
    fetches that sample's calls when it is opened."""
    from selenium.webdriver.common.by import By

    base = scripted_run(tmp_path / "base", "-t", "sudoku", "-s", "mplm", "-T", "size=4", "-n", "10")
    run = tiled(base, tmp_path / "big", 300)
    out = tmp_path / "big.html"
    r = cli("view", str(run), "--out", str(out), "--calls-mb", "0.1")
    assert r.returncode == 0 and "--serve" in r.stdout, r.stdout
    browser.get(out.as_uri())
    wait(browser, "return document.body.dataset.ready === '1'")
    assert len(rows(browser)) == 300
    held = browser.execute_script("return [...document.querySelectorAll('script[id^=\"calls-\"]')].map((t) => Number(t.id.slice(6)))")
    assert 0 < len(held) < 300 and browser.execute_script("return CACHE.size") == 0  # nothing parsed up front
    k_in = held[0]
    k_out = min(set(range(300)) - set(held))
    instance = browser.execute_script(f"return SAMPLES[{k_out}].instance_id")
    n_calls = len(load_calls(run, instance, 0, columns=None))
    browser.execute_script(f"openSample({k_in})")
    wait(browser, f"return STATE.p !== null && STATE.k === {k_in}")
    assert browser.execute_script("return [...CACHE.keys()]") == [k_in]
    assert browser.execute_script("return STATE.p.n") == len(load_calls(run, browser.execute_script(
        f"return SAMPLES[{k_in}].instance_id"), 0, columns=None))
    # beyond the budget: greyed in the table, and opening it names --serve
    assert "nocalls" in browser.find_element(By.CSS_SELECTOR, f"#table tbody tr[data-k='{k_out}']").get_attribute("class")
    browser.execute_script(f"openSample({k_out})")
    wait(browser, "return document.getElementById('sample-head').textContent.includes('--serve')")
    assert browser.execute_script("return STATE.p") is None
    browser.find_element(By.ID, "in-page").click()  # only the samples this file holds calls of
    assert len(rows(browser)) == len(held)

    from mplm_bench.view.server import ViewServer

    server = ViewServer([run.parent])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(server.url)
        wait(browser, "return document.body.dataset.ready === '1'")
        assert browser.execute_script("return document.querySelectorAll('script[id^=\"calls-\"]').length") == 0
        assert browser.execute_script(f"return SAMPLES[{k_out}].instance_id") == instance  # same table order
        open_sample(browser, instance)
        assert browser.execute_script("return STATE.p.n") == n_calls
        fetched = browser.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)")
        assert [u for u in fetched if "/calls?" in u and instance in u], fetched
        click_step(browser, "0", 0)
        fresh = load_calls(run, instance, 0, columns=None)
        assert step_text(browser) == fresh[(fresh.thread_id == "0") & (fresh.step == 0)].response.iloc[0]
    finally:
        server.shutdown()
        server.server_close()
