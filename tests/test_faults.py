"""Faults: the app SIGKILLed mid-interview and restarted loses no acknowledged turn."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import start_app
from tests.test_interview_browser import answer, bots, create_pair, participant

pytestmark = pytest.mark.slow


def test_sigkill_mid_interview_then_restart_keeps_every_acknowledged_turn(tmp_path, browser):
    data = tmp_path / "data"
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        links = create_pair(browser, url, data)
        page = participant(browser, links["senior"])
        page.get_by_text("Looking back over your sessions").wait_for()
        answer(page, "I learned that TikTok is a search engine for young shoppers.")
        last = answer(page, "She showed me how she searches for a café near her flat; every result was a video.")
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up runs
        proc.wait(30)
    proc, url2 = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        page.goto(url2)  # the sign-in is stored server-side: it survives the restart too
        page.get_by_text("every result was a video").wait_for()
        assert page.get_by_text("I learned that TikTok is a search engine for young shoppers.").count() == 1
        assert bots(page).last.inner_text() == last  # the coach's acknowledged reply survived too
        assert last.startswith("Let me check I have it right")  # the check-back, asked before the kill
        # and the interview goes on from there
        assert answer(page, "Yes, that's it.").startswith("When your pair was set up")
    finally:
        proc.terminate()
        proc.wait(30)
