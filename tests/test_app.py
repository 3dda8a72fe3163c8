"""The app as a user starts it (`python app.py`), checked in a real headless Chromium."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from tests.conftest import accept_invitation, open_tab, run_cli, start_app

pytestmark = pytest.mark.slow


def llama_children(app_pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"coach.llama_launcher {app_pid}"], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def test_fresh_start_serves_the_app_and_the_model(tmp_path, browser):
    proc, url = start_app(tmp_path / "fresh")  # empty COACH_DATA_DIR, no key, no network
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for()  # nothing without signing in
        # a fresh installation prints a single-use link for the first administrator
        log = next((tmp_path).glob("app-*.log")).read_text()
        link = re.search(r"http://\S+/auth/invite/[\w-]+", log).group(0)
        accept_invitation(page, link.replace("http://127.0.0.1:7860", url))
        page.get_by_text("A debrief coach for reverse mentoring").wait_for(timeout=30000)
        if os.environ.get("COACH_TEST_SCREENSHOT"):
            page.screenshot(path=os.environ["COACH_TEST_SCREENSHOT"], full_page=True)
        open_tab(page, "System")
        page.get_by_role("button", name="Check the model").click()
        box = page.get_by_label("Model self-test")
        page.wait_for_function(
            "el => el.value && (el.value.startsWith('The model works') || el.value.includes('not available'))",
            arg=box.element_handle(), timeout=90000)
        assert box.input_value().startswith("The model works: it answered in ")
        assert (tmp_path / "fresh" / "coach.db").exists()
        # the running app holds the embedded index: a command on the same data dir leaves the
        # indexing to it (tests/test_index.py has the whole round trip)
        busy = run_cli("reindex", "--data-dir", str(tmp_path / "fresh"), "-q")
        assert busy.returncode == 0 and busy.stderr.startswith("the app (process") and "in line with SQL" in busy.stderr

        # the admin creates a facilitator, who uses the invitation and runs their programme
        open_tab(page, "People")
        page.get_by_label("Facilitator's sign-in name").fill("fay@example.org")
        page.get_by_label("Name", exact=True).fill("Fay")
        page.get_by_label("Programme they run").fill("Pilot 2027")
        page.get_by_role("button", name="Create facilitator").click()
        note = page.locator("#facilitator-created")
        note.get_by_text("single-use invitation link").wait_for()
        fac_link = re.search(r"http://\S+/auth/invite/[\w-]+", note.inner_text()).group(0)
        fay = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
        accept_invitation(fay, fac_link)
        fay.locator("#signed-in", has_text="programme “Pilot 2027”").wait_for()
        assert fay.get_by_role("tab", name="Pairs").is_visible()
        assert fay.get_by_role("tab", name="System").count() == 0 or not fay.get_by_role("tab", name="System").is_visible()
        fay.goto(fac_link)
        fay.get_by_text("has been used or has expired").wait_for()  # single use
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    time.sleep(0.5)
    assert llama_children(proc.pid) == []  # SIGTERM stopped the model server too


def test_sigkilled_app_leaves_no_model_server(tmp_path):
    proc, url = start_app(tmp_path / "killme")
    deadline = time.monotonic() + 60
    while not llama_children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert llama_children(proc.pid), "the app should start the local model server in the background"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while llama_children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert llama_children(proc.pid) == []
