"""A headless Chromium (Debian's `chromium` + `chromium-driver`) driven by selenium, for the
viewer's browser tests and the README screenshot. Nothing is downloaded: selenium is given the
system binaries, so its driver manager never runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Chromium's own background traffic is off: the page must work with no network at all
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")


def binaries() -> tuple[str | None, str | None]:
    browser = os.environ.get("MPLM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("MPLM_CHROMEDRIVER") or shutil.which("chromedriver")
    return browser, driver


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    browser, driver = binaries()
    if not browser or not driver:
        return "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install -e '.[dev]')"
    return None


@contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = binaries()
    if browser is None or driver is None:
        raise RuntimeError(f"no headless browser: {missing()}")
    profile = tempfile.mkdtemp(prefix="mplm-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium's usage ping
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
