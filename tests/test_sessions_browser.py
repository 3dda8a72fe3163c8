"""In a real browser, at desktop and phone width: a participant logs a session and answers the
check-in (the other participant gets it by mail, through the app's own sender and a real SMTP
server); the facilitator sees the pair at risk, why, and reads the check-ins (logged); the other
participant never sees them."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from coach.config import load_settings
from coach.local_server import free_port
from coach.services import Services
from coach.store.models import AccessLog
from tests.conftest import api_client, assert_accessible, assert_in_view, open_tab, seed_people, sign_in, start_app
from tests.test_mail import Inbox

pytestmark = pytest.mark.slow

COMMENT = "He checks his phone <b>all the time</b>"
ZONE = "Pacific/Kiritimati"  # UTC+14: the participant's today is not UTC's for most of the day
START = date.today() - timedelta(days=10)  # planned: a session 10 days ago, another 3 days ago


@pytest.fixture
def app(tmp_path):
    data = tmp_path / "data"
    seed_people(data, ("ann@example.org", "participant", None), ("jo@example.org", "participant", None))
    svc = Services(load_settings(data_dir=data))
    p = svc.debriefs.create_pair(senior="Retail operations director", junior="Social media associate",
                                 topic="How Gen Z discovers stores on TikTok", sessions=2, programme="Retail pilot",
                                 start_date=START, every_days=7)
    for role, name in (("senior", "ann@example.org"), ("junior", "jo@example.org")):
        svc.debriefs.open(p.id, role, participant_id=svc.accounts.find(name).id)
    svc.close()
    port = free_port()
    inbox = Inbox(port).start()
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false", COACH_SMTP_HOST="127.0.0.1",
                          COACH_SMTP_PORT=str(port), COACH_SMTP_TLS="none", COACH_MAIL_FROM="coach@example.org",
                          COACH_PUBLIC_URL="https://coach.example.org")
    yield url, data, inbox
    proc.terminate()
    proc.wait(30)
    inbox.stop()


def shot(page, tmp_path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1100, 390])
def test_log_a_session_answer_the_check_in_and_the_facilitator_sees_the_pair_at_risk(app, browser, width, tmp_path):
    url, data, inbox = app
    page = browser.new_context(viewport={"width": width, "height": 900}, timezone_id=ZONE).new_page()
    sign_in(page, url, "jo@example.org")
    page.locator("#debrief-due").get_by_text("0 of 2 planned sessions logged").wait_for()  # on the Debrief tab
    open_tab(page, "Sessions")
    status = page.locator("#sessions-status")
    status.get_by_text("No session logged yet").wait_for()
    status.get_by_text(f"A session was planned for {START:%a %d %b}").wait_for()  # missed: log it
    day = page.locator("#session-date input").first  # a date picker, set to today where the participant is
    today = datetime.now(ZoneInfo(ZONE)).date()
    expect(day).to_have_value(today.isoformat())
    assert_in_view(page, "#session-date button.calendar")  # on a phone too: the picker's button is not cut off
    page.get_by_label("What you covered (optional, one line)").fill("TikTok search <b>basics</b>")
    for typed, problem in (("31/12/2026", "is not a date"), ((today + timedelta(days=1)).isoformat(), "is in the future")):
        day.fill(typed)
        page.get_by_role("button", name="Log session").click()
        page.locator("#sessions-notice").get_by_text(problem).wait_for()
        assert page.get_by_label("What you covered (optional, one line)").input_value() == "TikTok search <b>basics</b>"
    day.fill((today - timedelta(days=6)).isoformat())
    page.get_by_role("button", name="Log session").click()
    page.locator("#sessions-notice").get_by_text("Session logged").wait_for()
    status.get_by_text("1 of 2 planned sessions logged").wait_for()
    expect(day).to_have_value(today.isoformat())  # ready for the next one
    status.get_by_text(f"A session was planned for {START + timedelta(days=7):%a %d %b}").wait_for()  # the next
    assert "TikTok search <b>basics</b>" in status.inner_text()  # shown as typed, not as markup
    checkin = page.locator("#check-in")
    checkin.get_by_text("Only your programme's facilitator sees your check-in answers").wait_for()
    shot(page, tmp_path, f"participant-check-in-{width}")
    assert_accessible(page)
    page.get_by_role("button", name="Send check-in").click()  # nothing ticked: each question named
    notice = page.locator("#sessions-notice")
    notice.get_by_text("Please answer").wait_for()
    assert "How useful was this session" in notice.inner_text() and "showing up as a learner" in notice.inner_text()
    checkin.get_by_label("3 useful").check()
    checkin.get_by_label("still deciding").check()
    checkin.get_by_label("no", exact=True).check()
    checkin.get_by_label("Anything to add? (optional)").fill(COMMENT)
    page.get_by_role("button", name="Send check-in").click()
    notice.get_by_text("Check-in sent").wait_for()
    checkin.wait_for(state="hidden")
    # the app's sender mails the senior their check-in, and both the planned sessions gone by unlogged
    mailed = lambda: {(m["To"], m["Subject"]) for m in inbox.messages}  # noqa: E731
    wanted = {("ann@example.org", "Two quick questions about your session"),
              ("jo@example.org", "Log your last mentoring session")}
    for _ in range(300):
        if wanted <= mailed():
            break
        page.wait_for_timeout(100)
    assert wanted <= mailed(), mailed()
    assert not any(m["To"] == "jo@example.org" and "Two quick" in m["Subject"] for m in inbox.messages)  # logged it
    assert_accessible(page)
    page.get_by_label("Send me reminders by e-mail", exact=False).uncheck()  # opt out
    notice.get_by_text("Reminders off").wait_for()

    senior = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(senior, url, "ann@example.org")
    open_tab(senior, "Sessions")
    senior.locator("#check-in").get_by_text("Is this a topic where your junior knows more than you?").wait_for()
    assert "checks his phone" not in senior.content() and "still deciding" not in senior.locator("#sessions-status").inner_text()

    fac = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="Pacific/Auckland").new_page()
    sign_in(fac, url, "fran@example.org")
    open_tab(fac, "Pairs")
    cells = fac.locator("#pairs-table [data-testid^='cell-']")  # not Gradio's hidden copy for sizing
    cells.filter(has_text="not showing up as a learner").first.wait_for()
    counts = fac.locator("#pairs-counts")
    counts.get_by_text("1 at risk").wait_for()
    assert "the junior says the senior is not showing up as a learner" in counts.inner_text()  # a phone reads it here
    assert cells.filter(has_text="⚠ at risk").count() and cells.filter(has_text="1 / 2").count()
    assert cells.filter(has_text="junior: still deciding").count()
    assert cells.filter(has_text=f"⚠ {START + timedelta(days=7):%a %d %b}: missed (not logged)").count()
    assert cells.filter(has_text=re.compile(r"\d\d:\d\d NZ[DS]T")).count()  # last activity, in the viewer's zone
    cells.filter(has_text="How Gen Z discovers stores on TikTok").first.click()
    fac.locator("#pair-details").get_by_text("senior ann@example.org", exact=False).wait_for()
    fac.locator("#pair-sessions").get_by_text("Sessions and check-ins").click()
    fac.get_by_role("button", name="Read the check-ins (written to the access log)").click()
    fac.locator("#pair-check-ins").get_by_text("He checks his phone <b>all the time</b>").wait_for()
    shot(fac, tmp_path, f"facilitator-pairs-{width}")
    assert_accessible(fac)
    if width == 1100:  # the facilitator logs a session for the pair, then opens its debrief early
        fac.locator("#pair-session-date input").first.fill((date.today() - timedelta(days=2)).isoformat())
        fac.get_by_role("button", name="Log a session for this pair").click()
        fac.locator("#pair-note").get_by_text("Session logged").wait_for()
        fac.locator("#pair-sessions").get_by_text("2 of 2 planned sessions logged; the debrief is due").wait_for()
    settings = load_settings(data_dir=data)
    svc = Services(settings)
    try:
        with svc.db.session() as s:
            actions = {(a.username, a.action) for a in s.scalars(select(AccessLog))}
        [pair_id] = [p.id for p in svc.debriefs.pairs()]
        jo_reminders = svc.accounts.find("jo@example.org").reminders
    finally:
        svc.close()
    assert ("fran@example.org", "checkins.read") in actions and ("fran@example.org", "pairs.read") in actions
    assert jo_reminders is False
    if width == 390:
        return
    # the endpoint itself refuses a participant (not only the page, which shows them no button)
    for who in ("ann@example.org", "jo@example.org"):
        answer = api_client(url, who).predict(pair_id, api_name="/read_check_ins")
        assert answer.startswith("⚠️") and "phone" not in answer
