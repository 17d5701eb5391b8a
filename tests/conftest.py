"""Shared test configuration: slow tests run only with ``--run-slow`` (``make test-slow``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # figures are drawn headless


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="run tests marked @pytest.mark.slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (make test-slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _close_figures():  # noqa: ANN202
    """Close every figure a test drew, so that memory does not grow over the suite."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator for tests that draw."""
    return np.random.default_rng(20261122)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# The probe appends a script that records, after load, whether every image decoded and how
# many data tables exist; --dump-dom prints the DOM after scripts ran.
_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute('data-probe',
    `images=${imgs.length};loaded=${ok};tables=${document.querySelectorAll('table.data').length}`);
});
</script></body>"""


def _chromium_run(page: Path, *args: str) -> str:
    """Run headless Chromium on a page with ``args`` (``--dump-dom``, ``--screenshot=...``);
    its standard output."""
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium not installed: `apt-get install chromium` (.ci/run does this)")
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", f"--user-data-dir={page.parent / 'chromium-profile'}",
         "--virtual-time-budget=5000", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout


def _render_probe(page: Path) -> dict[str, int]:
    """Open a report page in headless Chromium and count images that loaded and tables."""
    probed = page.with_name("probe.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE),
                      encoding="utf-8")
    dom = _chromium_run(probed, "--dump-dom")
    found = re.search(r'data-probe="images=(\d+);loaded=(\d+);tables=(\d+)"', dom)
    assert found, "the probe did not run in Chromium"
    images, loaded, tables = map(int, found.groups())
    return {"images": images, "loaded": loaded, "tables": tables}


@pytest.fixture
def render_probe() -> Callable[[Path], dict[str, int]]:
    """Open an HTML page in headless Chromium; count images that loaded and data tables.

    Skips the test with a message when Chromium is not installed (.ci/run installs it).
    """
    return _render_probe


@pytest.fixture
def browser() -> Callable[..., str]:
    """``browser(page, *args)``: run headless Chromium on an HTML page (``--dump-dom`` gives
    the page as rendered, after its scripts; ``--screenshot=PATH`` a PNG). Skips the test
    with a message when Chromium is not installed."""
    return _chromium_run


def _exit_code(argv: list[str]) -> int:
    """Run ``setback ARGV`` in this process; its exit code, whether argparse exits (a bad
    option) or the command returns."""
    from analyses.cli import main

    try:
        return main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.fixture
def cli() -> Callable[[list[str]], int]:
    """``cli(argv) -> exit code`` of ``setback`` (errors of options included)."""
    return _exit_code
