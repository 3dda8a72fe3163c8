"""The facilitator's review in a real browser: approve, edit, reject, export; participant text
stays text (a <img onerror> in an answer never runs)."""

from __future__ import annotations

import json
import re

import pytest

from coach.config import load_settings
from coach.policy import OPERATOR as OP
from coach.services import Services
from tests.conftest import PROGRAMME, answer_all, assert_accessible, open_tab, seed_people, sign_in, start_app

pytestmark = pytest.mark.slow

XSS = "<img src=x onerror=\"window.__xss=1\">"


def finished_shared_debrief(data) -> str:
    svc = Services(load_settings(data_dir=data))
    d = svc.debriefs
    p = d.create_pair(senior="Retail operations director", junior="Social media associate",
                      topic="How Gen Z discovers stores on TikTok", programme=PROGRAMME)
    did = d.open(p.id, "senior")
    for answer in [
        f"I learned that teenagers search TikTok before Google when they look for a shop. {XSS}",
        "She showed me how she searches for a café near her flat; every result was a video.",
        "I thought our website was where young customers found us, but it turns out most never visit it.",
        "I'll ask every store manager to post one short video a week, starting in March.",
        "They worked well because she used our own stores as examples.",
    ]:
        answer_all(d, OP, did, [answer])
    # the senior unticks one item of their summary: facilitators never see it
    keep = [r["id"] for r in svc.records.for_debrief(did) if not r["quote"].startswith("They worked well")]
    d.confirm(OP, did, share=True, keep=keep)
    svc.close()
    return did


def test_facilitator_approves_edits_rejects_and_exports(tmp_path, browser):
    data = tmp_path / "data"
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        did = finished_shared_debrief(data)
        seed_people(data)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        sign_in(page, url, "fran@example.org")
        page.get_by_text("You run a programme").wait_for()  # the welcome speaks to facilitators
        assert page.locator("#change-password").count() == 1  # own password: /account/password
        open_tab(page, "Review")  # the queue fills when the tab opens
        page.get_by_label("Shared debriefs").click()
        page.get_by_role("option", name="How Gen Z discovers stores on TikTok").first.click()
        page.locator("#review-transcript").get_by_text("every result was a video").wait_for()

        items = page.locator("#review-items label")

        def pick(kind: str):
            items.filter(has_text=re.compile(kind)).first.click()

        # the participant unticked "They worked well": it is in the transcript only, not an item
        assert page.locator("#review-transcript").get_by_text("They worked well").count() == 1
        assert items.filter(has_text="They worked well").count() == 0
        pick("Learned")
        page.locator("#review-transcript mark").wait_for()  # the quote is highlighted in the transcript
        assert_accessible(page)
        page.get_by_role("button", name="Approve", exact=True).click()
        page.locator("#review-note").get_by_text("approved by Fran").wait_for()
        assert items.filter(has_text=re.compile("Learned.*approved")).count() == 1  # the list follows at once
        pick("Broken assumption")
        page.locator("#review-transcript mark", has_text="I thought our website").wait_for()
        page.get_by_label("Before (broken assumption)").fill("Young customers find our stores through the website")
        page.get_by_role("button", name="Save edit and approve").click()
        items.filter(has_text="Young customers find our stores through the website").filter(
            has_text="edited").wait_for()  # the list shows the edited text, marked as edited
        pick("Action")
        page.get_by_label("Reason (for a rejection, optional)").fill("Too vague to act on")
        page.get_by_role("button", name="Reject").click()
        page.locator("#review-note").get_by_text("rejected by Fran").wait_for()
        pick("Action")
        # the reason written for the rejected item is not left for the next one
        reason = page.get_by_label("Reason (for a rejection, optional)")
        for _ in range(50):
            if reason.input_value() == "":
                break
            page.wait_for_timeout(100)
        assert reason.input_value() == ""
        page.get_by_role("button", name="Undo the decision on this item").click()  # changed their mind
        page.locator("#review-note").get_by_text("back to be reviewed").wait_for()
        page.get_by_label("Reason (for a rejection, optional)").fill("Too vague to act on")
        page.get_by_role("button", name="Reject").click()
        page.locator("#review-note").get_by_text("rejected by Fran").wait_for()
        assert "0 to review" in page.get_by_label("Shared debriefs").input_value()  # the queue's count follows

        page.get_by_text("Programme dashboard and export").click()
        with page.expect_download() as dl:
            page.get_by_role("button", name="Export approved records (JSON)").click()
            page.locator("a[download]").first.click()
        rows = json.loads(open(dl.value.path(), encoding="utf-8").read())
        assert sorted(r["kind"] for r in rows) == ["broken_assumption", "learned"]  # the action was rejected
        [ba] = [r for r in rows if r["kind"] == "broken_assumption"]
        assert ba["before"] == "Young customers find our stores through the website"
        assert {r["reviewed_by"] for r in rows} == {"Fran"} and all(r["reviewed_at"] for r in rows)
        assert all(r["debrief"] == did for r in rows)
        # the participant's markup was shown as text and never ran
        assert page.locator("#review-transcript").get_by_text('<img src=x onerror="window.__xss=1">').count() == 1
        assert page.evaluate("window.__xss") is None
        # what the facilitator opened is in the access log, with who and when
        svc = Services(load_settings(data_dir=data))
        from coach.accounts import Accounts

        log = [(a.username, a.action, a.target) for a in Accounts(svc.db).access_log()]
        svc.close()
        assert ("fran@example.org", "review.open", f"debrief:{did}") in log
        assert ("fran@example.org", "export.json", f"programme:{PROGRAMME}") in log
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_review_desk_works_at_phone_width(tmp_path, browser):
    """At 390 px the review desk is usable: the items are a list of readable entries, not a table
    squeezed to a letter a line; choosing one and approving it works."""
    data = tmp_path / "data"
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        finished_shared_debrief(data)
        seed_people(data)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        sign_in(page, url, "fran@example.org")
        open_tab(page, "Review")
        page.get_by_label("Shared debriefs").click()
        page.get_by_role("option", name="How Gen Z discovers stores on TikTok").first.click()
        entry = page.locator("#review-items label").filter(has_text="Learned").first
        entry.wait_for()
        assert entry.bounding_box()["width"] > 250  # a readable line, not one letter a line
        entry.click()
        page.get_by_role("button", name="Approve all remaining items").click()
        page.locator("#review-note").get_by_text("items approved").wait_for()
        assert_accessible(page)
    finally:
        proc.terminate()
