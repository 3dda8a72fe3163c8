"""The follow-up in a real headless Chromium: a senior whose debrief was confirmed 31 days ago
signs in and finds the follow-up waiting in the same chat, starts it (a reload then resumes it),
answers, ends early, carries on, skips an action and adds what became of it in the summary,
confirms and sees what was confirmed as a plain list; at a laptop's and at a phone's width, with
axe-core."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from coach.config import load_settings
from coach.policy import Actor
from coach.services import Services
from coach.store.models import Debrief, utcnow
from tests.conftest import PASSWORD, PROGRAMME, ROOT, answer_all, assert_accessible, seed_people, sign_in, start_app
from tests.test_followups import SENIOR_ANSWERS
from tests.test_interview_browser import answer, bots

pytestmark = pytest.mark.slow
SHOTS = ROOT / ".shots" if os.environ.get("COACH_SHOTS") else None


def shot(page, name: str) -> None:
    if SHOTS:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def confirmed_a_month_ago(data) -> str:
    """Ann's debrief, finished and shared; its confirmation moved 31 days back (the test's clock).
    Returns its id."""
    seed_people(data, ("ann@example.org", "participant", None))
    svc = Services(load_settings(data_dir=data))
    ann = Actor.of(svc.accounts.find("ann@example.org"))
    p = svc.debriefs.create_pair(senior="Retail operations director", junior="Social media associate",
                                 topic="How Gen Z discovers stores on TikTok", sessions=2, programme=PROGRAMME)
    did = svc.debriefs.open(p.id, "senior", participant_id=ann.id)
    answer_all(svc.debriefs, ann, did, SENIOR_ANSWERS)
    svc.debriefs.confirm(ann, did, True)
    with svc.db.session() as s:
        s.execute(update(Debrief).where(Debrief.id == did).values(confirmed_at=utcnow() - timedelta(days=31)))
    svc.close()
    return did


def top(page, selector: str) -> float:
    return page.locator(selector).first.bounding_box()["y"]


@pytest.mark.parametrize("width,height", [(1100, 900), (390, 844)])
def test_the_follow_up_in_the_browser(tmp_path, browser, width, height):
    data = tmp_path / "data"
    data.mkdir()
    did = confirmed_a_month_ago(data)
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false", COACH_BACKEND="none")
    try:
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        sign_in(page, url, "ann@example.org", PASSWORD)
        # the follow-up waiting is the first thing on the page, in view, with one button to start it
        ready = page.locator("#followup-ready")
        ready.get_by_text("Your follow-up is ready").wait_for()
        assert "How Gen Z discovers stores on TikTok" in ready.inner_text()
        start = page.get_by_role("button", name="Start the follow-up")
        assert start.count() == 1 and start.is_visible()
        box = start.bounding_box()
        assert box["y"] + box["height"] <= height  # no scrolling to find it
        assert not page.locator("#coach-chat").is_visible()  # the chat opens with the button
        assert_accessible(page)
        shot(page, f"followup-ready-{width}")
        start.click()
        page.get_by_label("Your answer").wait_for()
        assert not ready.is_visible()
        first = ("You said you would move part of the spring launch budget from the billboard to local creators. "
                 "What happened?")
        assert bots(page).last.inner_text() == first
        assert page.get_by_text("Follow-up on your actions").count() >= 1
        page.wait_for_function("() => document.activeElement && document.activeElement.closest('#coach-answer')")
        assert_accessible(page)
        shot(page, f"followup-start-{width}")
        page.reload()  # started, nothing answered yet: the conversation comes back, not its notice
        page.get_by_label("Your answer").wait_for()
        expect(ready).to_be_hidden()
        assert bots(page).last.inner_text() == first
        assert answer(page, "Done. We gave a third of the billboard money to three creators near Leeds.") == \
            "Did it change a decision you made? Which one?"
        assert answer(page, "Yes. I didn't renew the billboard contract for summer.").startswith(
            "You also said you would ask each store manager")
        # on the debrief it follows, the follow-up not finished is said at the top, one click away
        page.goto(f"{url}/?debrief={did}")
        ready.get_by_text("Your follow-up is not finished").wait_for()
        assert top(page, "#followup-ready") < top(page, "#coach-chat")
        page.get_by_role("button", name="Continue the follow-up").click()
        page.get_by_label("Your answer").wait_for()
        assert "ask each store manager" in bots(page).last.inner_text()
        page.get_by_role("button", name="End now…").click()
        # the follow-up's own words: a follow-up, not an interview or a debrief
        expect(page.locator("#end-confirm")).to_contain_text("End the follow-up here?")
        page.get_by_role("button", name="Yes, end now").click()
        page.get_by_role("button", name="Continue the follow-up").wait_for()
        assert "(ended the follow-up here)" in page.locator("#coach-chat").inner_text()
        assert "You ended the follow-up early" in page.locator("#coach-summary").inner_text()
        page.reload()  # nothing lost, and the page comes back to the follow-up, not started over
        page.get_by_role("button", name="Continue the follow-up").click()
        page.get_by_label("Your answer").wait_for()
        assert not ready.is_visible()
        assert "ask each store manager" in bots(page).last.inner_text()
        page.get_by_role("button", name="Skip question").click()  # said later, in the summary
        summary = page.locator("#coach-summary")
        summary.get_by_text("Nothing is recorded for “Ask each store manager to post one short video a week” (you "
                            "skipped it)", exact=False).wait_for()
        assert bots(page).last.inner_text().startswith("Thank you, that's everything")
        # the progress says which actions were asked about, not whether they were done
        assert "(answered)" in page.locator(".coach-progress").first.inner_text()
        assert "(done)" not in page.locator(".coach-progress").first.inner_text()
        keep = page.locator("#coach-keep")
        keep.get_by_text("What happened: Move part of the spring launch budget from the billboard to local "
                         "creators: done. We gave a third", exact=False).wait_for()
        assert keep.get_by_text("Decision changed: I didn't renew the billboard contract", exact=False).count() == 1
        assert keep.get_by_text("Ask each store manager", exact=False).count() == 0
        assert page.get_by_text("shared as your debrief is", exact=False).count() == 1
        assert not page.get_by_label("I agree to share this summary").is_visible()  # not asked again
        # the coach read "done"; the senior puts it right: "partly done", in the summary
        page.get_by_text("Put right what became of an action, change an item's wording", exact=False).click()
        page.get_by_label("Item", exact=True).click()
        page.get_by_role("option", name=re.compile("^What happened: Move part")).click()
        expect(page.locator("#edit-status").get_by_text("What became of this action")).to_be_visible()
        expect(page.get_by_label("done", exact=True)).to_be_checked()
        expect(page.get_by_label("Its wording, in your words")).to_have_value(
            "Done. We gave a third of the billboard money to three creators near Leeds.")
        page.get_by_label("partly done", exact=True).check()
        page.get_by_role("button", name="Save the change").click()
        keep.get_by_text("from the billboard to local creators: partly done.", exact=False).wait_for()
        assert keep.get_by_text("to local creators: done.", exact=False).count() == 0
        assert "What became of “Move part of the spring launch budget from the billboard…”: partly done." in \
            page.locator("#coach-chat").inner_text()  # their turn, stored
        # the skipped action: what became of it, added from scratch in their own words
        page.get_by_label("What it is", exact=True).click()
        page.get_by_role("option", name="What became of “Ask each store manager to post one short video a week”").click()
        expect(page.locator("#add-status").get_by_text("What became of this action")).to_be_visible()
        page.locator("#add-status").get_by_label("not yet", exact=True).check()
        said = "Not started: the managers were all on the stocktake. It's on next month's agenda."
        page.get_by_label("What happened, in your words").fill(said)
        page.get_by_role("button", name="Add it").click()
        keep.get_by_text("Ask each store manager to post one short video a week: not yet. Not started: the managers",
                         exact=False).wait_for()
        assert keep.get_by_text("next month's agenda. · in your words", exact=False).count() == 1
        assert ("What became of “Ask each store manager to post one short video a week”: not yet. " + said) in \
            page.locator("#coach-chat").inner_text()  # their turn, stored: which action, then their words
        expect(summary).not_to_contain_text("Nothing is recorded")
        assert "(added in your summary)" in page.locator(".coach-progress").first.inner_text()
        expect(page.locator("#add-status")).to_be_hidden()
        assert_accessible(page)
        shot(page, f"followup-summary-{width}")
        page.get_by_role("button", name="Confirm summary").click()
        page.locator("#coach-summary").get_by_text("Confirmed.").wait_for()
        # nothing is left to confirm: no button, no ticking, no corrections
        expect(page.get_by_role("button", name="Confirm summary")).to_be_hidden()
        expect(page.get_by_text("Correct an earlier answer", exact=True)).to_be_hidden()
        assert page.locator("#coach-summary").get_by_text("Untick", exact=False).count() == 0
        # what was confirmed, as a plain list: no tick boxes, ticked or greyed out
        expect(keep).to_be_hidden()
        assert page.locator("#summary-col input[type=checkbox]:visible").count() == 0
        kept = page.locator("#coach-kept li")
        expect(kept).to_have_count(2)
        assert "to local creators: partly done. We gave a third" in kept.nth(0).inner_text()
        assert "Decision changed: I didn't renew the billboard contract" in kept.nth(0).inner_text()
        assert "Ask each store manager to post one short video a week: not yet. Not started" in kept.nth(1).inner_text()
        assert_accessible(page)
        shot(page, f"followup-confirmed-{width}")
        page.reload()  # still the confirmed follow-up, with nothing waiting
        page.locator("#coach-summary").get_by_text("Confirmed.").wait_for()
        expect(page.get_by_role("button", name="Confirm summary")).to_be_hidden()
        expect(page.locator("#coach-kept li")).to_have_count(2)
        assert not ready.is_visible()
    finally:
        proc.terminate()
        proc.wait(30)
