"""Each notebook in JupyterLab, in headless Chromium: run all cells, move one slider, see the result change.

Uses Debian's ``chromium`` (``/usr/bin/chromium``) through the Python
``playwright`` package, never a browser playwright downloads.  Skipped when
either is missing (``.ci/run`` installs chromium first, so CI always runs it).
On failure a screenshot is saved under ``test-artifacts/browser/``.

The dashboard's first slider is moved five times; the seconds from each key
press to the redrawn result and plot (and the kernel's share, from the
dashboard's status line) are written to ``test-artifacts/browser/redraw.json``.
The median of the five must be under half a second (issue 5).  Not every
move: Chromium, JupyterLab and the kernel share two cores, and on this host
the same run in the kernel takes anywhere from 0.2 to 0.4 s from one second
to the next, so any one move can be slowed by the others.  The closing notes
report every move.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("VMKIT_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = Path(os.environ.get("VMKIT_NOTEBOOK_DIR", ROOT / "notebooks"))
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "browser"
REDRAW_LIMIT_S = 0.5        # issue 5: a slider move redraws its dashboard in under half a second

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    port, token = _free_port(), secrets.token_hex(12)
    home = tmp_path_factory.mktemp("jupyter")
    # Every cell in the page (no windowing), so that an error in a cell far down is in the DOM to be found.
    settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), MPLBACKEND="module://matplotlib_inline.backend_inline")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={NOTEBOOK_DIR}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=NOTEBOOK_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}") from None
            time.sleep(0.5)
    yield base, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _widget_state(page) -> tuple[str, list[str]]:
    """The text of every widget HTML area, and the image sources of every widget output."""
    return page.evaluate("""() => {
        const text = Array.from(document.querySelectorAll('.widget-html-content, .widget-html, .widget-label'))
            .map(e => e.innerText).join('\\n');
        const imgs = Array.from(document.querySelectorAll('.widget-output img, .jupyter-widgets-output-area img'))
            .map(e => e.getAttribute('src') || '');
        return [text, imgs];
    }""")


# Resolves, in the page, with the milliseconds from the next key press to the moment both the printed result
# and the plot differ from what they were when it was set up.  A MutationObserver looks only when the page
# changes: polling from the test would keep Chromium busy and slow the kernel that shares its two cores.
_WATCH_REDRAW = """() => {
    const state = () => [
        Array.from(document.querySelectorAll('.widget-html-content, .widget-html, .widget-label'))
            .map(e => e.textContent).join('\\n'),
        Array.from(document.querySelectorAll('.widget-output img, .jupyter-widgets-output-area img'))
            .map(e => e.getAttribute('src') || '').join(' ')];
    const [text0, imgs0] = state();
    let pressed = null;
    document.addEventListener('keydown', () => { pressed = performance.now(); }, {capture: true, once: true});
    window.__vmkitRedraw = new Promise((resolve, reject) => {
        const observer = new MutationObserver(() => {
            const [text, imgs] = state();
            if (pressed !== null && text !== text0 && imgs !== imgs0) {
                observer.disconnect();
                resolve(performance.now() - pressed);
            }
        });
        observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
        setTimeout(() => { observer.disconnect(); reject(new Error('no redraw within 30 s')); }, 30000);
    });
}"""


def _move(page, key: str) -> dict:
    """Press ``key`` on the focused slider; wait until the printed result and the plot have both changed.

    Returns the seconds from the key press to the redrawn page (measured in the page), and the seconds the
    dashboard's own status line says the kernel spent (``ran ... in X s``).
    """
    page.evaluate(_WATCH_REDRAW)
    page.keyboard.press(key)
    latency = page.evaluate("() => window.__vmkitRedraw") / 1000
    time.sleep(0.5)             # let the status line arrive, and the browser settle before the next move
    found = re.findall(r"simulated s in (\d+\.\d+) s", _widget_state(page)[0])
    return {"seconds": round(latency, 3), "kernel_seconds": float(found[-1]) if found else None}


def _run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _wait_done(page, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    time.sleep(1.0)
    while time.time() < deadline:
        busy = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-InputPrompt'))
                                    .some(e => e.innerText.includes('[*]'))""")
        if not busy:
            return
        time.sleep(0.5)
    raise AssertionError(f"cells still running after {timeout_s} s")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_in_jupyterlab(lab, browser, path):
    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{path.name}?token={token}&reset", timeout=90_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
        # JupyterLab may ask which kernel to start: take the one it proposes (the notebook's python3).
        select = page.get_by_role("button", name="Select", exact=True)
        try:
            select.wait_for(timeout=5_000)
            select.click()
        except sync_api.TimeoutError:
            pass
        page.wait_for_function("""() => document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                                     || document.body.innerText.includes('| Idle')""", timeout=90_000)
        _run_all(page)
        _wait_done(page, 240)
        errors = page.evaluate("""() => Array.from(document.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
            .map(e => e.textContent).filter(t => t.includes('Traceback') || t.includes('Error'))""")
        assert errors == [], errors[:3]
        handle = page.locator(".widget-slider .noUi-handle, .jupyter-widgets .noUi-handle").first
        handle.wait_for(timeout=30_000)
        handle.scroll_into_view_if_needed()
        assert _widget_state(page)[1], "no plot in a widget output"
        handle.focus()
        # Away from the end the slider starts at, then back, and so on: each press is one new value.
        at_min = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemin")
        away, back = ("ArrowRight", "ArrowLeft") if at_min else ("ArrowLeft", "ArrowRight")
        keys = [away, back, away, back, away]
        moves = [_move(page, key) for key in keys]
        record = ARTIFACTS / "redraw.json"
        data = json.loads(record.read_text()) if record.exists() else {}
        best = min(m["seconds"] for m in moves)
        median = statistics.median(m["seconds"] for m in moves)
        data[path.name] = {"best": best, "median": median, "moves": moves}
        record.write_text(json.dumps(data, indent=2, sort_keys=True))
        print(f"{path.name}: slider to redrawn plot {', '.join(str(m['seconds']) for m in moves)} s "
              f"(in the kernel {', '.join(str(m['kernel_seconds']) for m in moves)} s)")
        assert median < REDRAW_LIMIT_S, (f"{path.name}: the median of {len(moves)} slider moves took "
                                         f"{median:.2f} s to redraw (limit {REDRAW_LIMIT_S} s): {moves}")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{path.stem}.png"), full_page=True)
        raise
    finally:
        page.close()
