"""Full senior and junior debriefs in a real headless Chromium, with a reload mid-interview."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from coach.accounts import SESSION_CACHE_SECONDS
from coach.config import load_settings
from coach.store.db import Database
from coach.store.models import Debrief, SignInSession, Turn, User, utcnow
from tests.conftest import accept_invitation, assert_accessible, open_tab, seed_people, sign_in, start_app

pytestmark = pytest.mark.slow


@pytest.fixture
def app(tmp_path):
    data = tmp_path / "data"
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    yield url, data
    proc.terminate()
    proc.wait(30)


def bots(page):
    return page.locator('#coach-chat [data-testid="bot"]')


def answer(page, text: str, by_enter: bool = False) -> str:
    """Send an answer (Send button, or the Enter key) and return the coach's next message."""
    n = bots(page).count()
    page.get_by_label("Your answer").fill(text)
    if by_enter:
        page.get_by_label("Your answer").press("Enter")
    else:
        page.get_by_role("button", name="Send").click()
    page.wait_for_function(
        "n => { const b = document.querySelectorAll('#coach-chat [data-testid=\"bot\"]');"
        " return b.length > n && !b[b.length - 1].innerText.trim().startsWith('…'); }", arg=n, timeout=40000)
    return bots(page).last.inner_text()


SENIOR, JUNIOR = "ann@example.org", "jo@example.org"


def create_pair(browser, url, data) -> dict[str, str]:
    """The facilitator creates a pair in the browser; returns each participant's invitation link."""
    seed_people(data)
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    sign_in(page, url, "fran@example.org")
    open_tab(page, "Pairs")
    page.get_by_label("Topic the junior knows better").fill("How Gen Z discovers stores on TikTok")
    page.get_by_label("Senior's sign-in name").fill(SENIOR)
    page.get_by_label("Senior's name").fill("Ann")
    page.get_by_label("Senior's role").fill("Retail operations director")
    page.get_by_label("Junior's sign-in name").fill(JUNIOR)
    page.get_by_label("Junior's role and strengths").fill("Social media associate")
    page.get_by_label("In a sentence, what do you currently believe about this topic?").fill(
        "Young people find shops on Google.")
    page.get_by_role("button", name="Create pair").click()
    page.get_by_text("Pair created").wait_for()
    links = re.findall(r"http://[^<\s`]+/auth/invite/[\w-]+", page.locator("#pair-created").inner_html())
    ctx.close()
    return {"senior": links[0], "junior": links[1]}


def participant(browser, link: str, width: int = 1100, height: int = 900):
    """A participant's own browser: uses the invitation, lands in their debrief."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    accept_invitation(page, link)
    return page


def debrief_of(data, username: str) -> str:
    db = Database(load_settings(data_dir=data).sqlalchemy_url)
    with db.session() as s:
        did = s.scalar(select(Debrief.id).join(User, User.id == Debrief.participant_id).where(User.username == username))
    db.dispose()
    return did


def stored_turns(data, code):
    db = Database(load_settings(data_dir=data).sqlalchemy_url)
    with db.session() as s:
        d = s.get(Debrief, code)
        out = [(t.speaker, t.text) for t in s.scalars(select(Turn).where(Turn.debrief_id == code).order_by(Turn.idx))]
        shared, status = d.shared, d.status
    db.dispose()
    return out, shared, status


def test_senior_debrief_end_to_end_with_reload(app, browser):
    url, data = app
    links = create_pair(browser, url, data)
    page = participant(browser, links["senior"], 390, 844)  # the senior is on a phone
    page.get_by_text("Looking back over your sessions").wait_for()
    assert_accessible(page)
    assert "concrete example" in answer(page, "I learned that TikTok is a search engine for young shoppers.")
    check = answer(page, "She showed me how she searches for a café near her flat, and every result was a video.")
    # the coach says back, in the senior's words, what it will record, and asks
    assert check.startswith("Let me check I have it right") and "TikTok is a search engine for young shoppers" in check
    q = answer(page, "Yes, that's it.")
    assert q == "When your pair was set up, before the sessions, your starting beliefs were noted. One was: “Young people find shops on Google.” Is that still what you think?"

    page.get_by_label("Your answer").fill("Half of an answer I have not sent yet")
    page.wait_for_timeout(500)
    page.reload()  # mid-interview: nothing lost, same point, even the unsent answer
    page.get_by_text("Is that still what you think?").wait_for()
    assert page.get_by_text("every result was a video").count() == 1
    assert bots(page).last.inner_text() == q
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value === 'Half of an answer I have not sent yet')")

    check = answer(page, "No. Now I know they search TikTok first; Google comes later if at all.")
    assert check.startswith("And the change of view I'd note") and "Young people find shops on Google" in check
    nxt = answer(page, "Yes.")
    assert nxt.startswith("What will you do differently")
    check = answer(page, "I'll ask each store manager to post one short video a week, starting next month.")
    assert check.startswith("The step I'd note")
    assert answer(page, "No, it's more that I'll film the first one myself, next Monday.").startswith(
        "How did the sessions themselves go")  # in their own words instead: no further question
    closing = answer(page, "They worked well because she used our own stores; I'd add a fifth session on ads.")
    assert closing.startswith("Thank you, that's everything")
    keep = page.locator("#coach-keep")
    keep.get_by_text("I'll film the first one myself", exact=False).wait_for()  # one list: the summary
    assert keep.get_by_text("you confirmed this", exact=False).count() >= 2  # said so in the conversation
    assert not page.get_by_label("Your answer").is_visible()  # finished: no more answers
    assert_accessible(page)
    boxes = page.locator("#coach-keep label", has_text="Will do:")
    for i in range(boxes.count()):  # "that's not what I meant": untick every action
        boxes.nth(i).locator("input").uncheck()
    page.get_by_label("I agree to share this summary").check()
    page.get_by_role("button", name="Confirm summary").click()
    page.get_by_text("You agreed to share this summary").wait_for()
    # once confirmed, what was recorded is a plain list: nothing left to tick but the sharing box
    kept = page.locator("#coach-kept")
    kept.get_by_text("What was recorded").wait_for()
    assert not page.locator("#coach-keep").is_visible() and "Will do:" not in kept.inner_text()

    code = debrief_of(data, SENIOR)
    turns, shared, status = stored_turns(data, code)
    said = [t for sp, t in turns if sp == "participant"]
    assert said[0] == "I learned that TikTok is a search engine for young shoppers." and len(said) == 8
    assert shared is True and status == "done"
    db = Database(load_settings(data_dir=data).sqlalchemy_url)
    with db.session() as s:
        records = [(r.kind, r.status, r.provenance) for r in s.get(Debrief, code).records]
    db.dispose()
    assert ("action", "withdrawn", "confirmed") in records and ("learned", "pending", "confirmed") in records


def test_ending_early_is_confirmed_can_be_resumed_and_the_summary_takes_the_participants_words(app, browser):
    url, data = app
    links = create_pair(browser, url, data)
    page = participant(browser, links["senior"])
    page.get_by_text("Looking back over your sessions").wait_for()
    answer(page, "I learned that our young customers compare prices on their phones in the shop, for example at the till.")
    answer(page, "Yes.")
    page.get_by_role("button", name="End now…").click()
    page.get_by_role("button", name="Keep going").click()  # not by mistake: nothing happens
    assert page.get_by_label("Your answer").is_visible()
    page.get_by_role("button", name="End now…").click()
    page.get_by_role("button", name="Yes, end now").click()
    page.locator("#coach-summary").get_by_text("You ended the interview early").wait_for()
    # the participant puts an item in their own words and adds one the coach missed
    page.get_by_text("Change an item's wording, or add one that is missing").click()
    page.get_by_label("Item", exact=True).click()
    page.get_by_role("option").first.click()
    # the item's wording is put in the box, to edit rather than retype
    expect(page.get_by_label("Its wording, in your words")).not_to_have_value("")
    page.get_by_label("Its wording, in your words").fill("Young customers check prices on their phones while in the shop.")
    page.get_by_role("button", name="Save the change").click()
    page.locator("#coach-keep").get_by_text("Young customers check prices on their phones while in the shop").wait_for()
    page.get_by_label("What it is").click()
    page.get_by_role("option", name="Something I will do").click()
    page.get_by_label("What is missing, in your words").fill("I'll put price-match signs at the tills in March.")
    page.get_by_role("button", name="Add it").click()
    page.locator("#coach-keep").get_by_text("price-match signs", exact=False).wait_for()
    assert page.locator("#coach-keep").get_by_text("in your words", exact=False).count() == 2
    # and carries on where it stopped
    page.get_by_role("button", name="Continue the interview").click()
    page.get_by_text("Let's carry on where we stopped.", exact=False).wait_for()
    assert page.get_by_label("Your answer").is_visible()
    db = Database(load_settings(data_dir=data).sqlalchemy_url)
    with db.session() as s:
        records = {(r.kind, r.text, r.provenance) for r in s.get(Debrief, debrief_of(data, SENIOR)).records}
    db.dispose()
    assert ("action", "I'll put price-match signs at the tills in March.", "participant") in records
    assert ("learned", "Young customers check prices on their phones while in the shop.", "participant") in records


def test_junior_debrief_end_to_end(app, browser):
    url, data = app
    links = create_pair(browser, url, data)
    page = participant(browser, links["junior"])
    page.get_by_text("What did you teach or show").wait_for()
    assert answer(page, "Good.", by_enter=True).startswith("Could you say a bit more")  # vague probe; Enter sends
    check = answer(page, "I showed him how our TikTok analytics work, for example the watch-time graph of our last post.")
    assert check.startswith("So what you taught, as I'd note it")
    assert answer(page, "Yes.").startswith("Where did your senior colleague struggle")
    page.get_by_role("button", name="Skip question").click()
    page.get_by_text("What did you gain yourself").wait_for()
    assert "for example" not in bots(page).last.inner_text()  # asked open: no answers suggested
    answer(page, "I feel much more confident presenting to directors; last week I spoke up in the ops meeting.")
    answer(page, "Yes.")
    # correct an earlier answer before finishing: adding to it is the default
    page.get_by_text("Correct an earlier answer", exact=True).click()
    page.get_by_label("Which answer").click()
    page.get_by_role("option", name="What you taught").click()
    page.locator("#correction-said").get_by_text("I showed him how our TikTok analytics work", exact=False).wait_for()
    page.get_by_label("Your correction").fill("Also: how hashtags work as search terms.")
    assert page.get_by_label("adds to what I said there").is_checked()
    page.get_by_role("button", name="Save correction").click()
    page.get_by_text("I've noted your correction").wait_for()
    page.get_by_role("button", name="End now…").click()
    page.get_by_role("button", name="Yes, end now").click()
    page.locator("#coach-summary").get_by_text("Your summary").wait_for()
    assert page.locator("#coach-keep").get_by_text("Taught:", exact=False).count() >= 1  # a junior's own kinds
    page.get_by_role("button", name="Confirm summary").click()  # without agreeing to share
    page.get_by_text("It stays private to you").wait_for()

    turns, shared, status = stored_turns(data, debrief_of(data, JUNIOR))
    said = [t for sp, t in turns if sp == "participant"]
    assert "(skipped this question)" in said and "Also: how hashtags work as search terms." in said
    assert shared is False and status == "done"

    # a changed mind after confirming: sharing can still be given (and taken back)
    page.get_by_label("I agree to share this summary").check()
    page.get_by_role("button", name="Confirm summary").click()
    page.get_by_text("You agreed to share this summary").wait_for()
    assert stored_turns(data, debrief_of(data, JUNIOR))[1] is True


def test_empty_message_gets_a_notice_and_loses_nothing(app, browser):
    url, data = app
    links = create_pair(browser, url, data)
    page = participant(browser, links["senior"])
    page.get_by_text("Looking back over your sessions").wait_for()
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Please type an answer first").wait_for()
    page.get_by_label("Your answer").fill("x" * 7000)
    page.get_by_role("button", name="Send").click()
    page.get_by_text("the limit is 6,000").wait_for()
    assert len(page.get_by_label("Your answer").input_value()) == 7000  # still in the box


def test_markup_in_answers_is_shown_as_text_and_never_runs(app, browser):
    url, data = app
    links = create_pair(browser, url, data)
    page = participant(browser, links["junior"])
    page.get_by_text("What did you teach or show").wait_for()
    odd = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script> 漢字 🙂 **not bold**"
    answer(page, odd)
    assert page.evaluate("window.__xss") is None
    assert odd in page.locator("#coach-chat").inner_text()  # exactly as typed, as text
    page.get_by_role("button", name="End now…").click()
    page.get_by_role("button", name="Yes, end now").click()
    page.locator("#coach-summary").get_by_text("Your summary").wait_for()
    assert page.evaluate("window.__xss") is None


def test_an_expired_session_refuses_the_message_and_keeps_it_in_the_box(app, browser):
    url, data = app
    links = create_pair(browser, url, data)
    page = participant(browser, links["senior"])
    page.get_by_text("Looking back over your sessions").wait_for()
    db = Database(load_settings(data_dir=data).sqlalchemy_url)
    with db.session() as s:  # the session runs out while the senior is typing
        s.execute(update(SignInSession).values(last_seen=utcnow() - timedelta(days=1)))
    db.dispose()
    page.wait_for_timeout(SESSION_CACHE_SECONDS * 1000 + 500)  # the app re-reads sessions this often
    page.get_by_label("Your answer").fill("A long answer I would hate to type again.")
    page.get_by_role("button", name="Send").click()
    page.locator("#coach-expired", has_text="Your sign-in has ended").wait_for()  # said plainly
    assert page.get_by_label("Your answer").input_value() == "A long answer I would hate to type again."
    turns, _, _ = stored_turns(data, debrief_of(data, SENIOR))
    assert [t for sp, t in turns if sp == "participant"] == []  # refused before anything was stored
    page.locator("#coach-expired").get_by_role("link", name="sign in again").click()
    page.get_by_role("button", name="Sign in").wait_for()  # back to the sign-in form


def test_a_participant_deletes_their_account_from_the_browser(app, browser):
    url, data = app
    links = create_pair(browser, url, data)
    page = participant(browser, links["junior"])
    page.get_by_text("What did you teach or show").wait_for()
    answer(page, "I showed him how our TikTok analytics work.")
    did = debrief_of(data, JUNIOR)
    page.get_by_text("Your data: download or delete").click()
    page.get_by_label("I understand: this deletes my account").check()
    page.get_by_role("button", name="Delete my account and all my data").click()
    page.get_by_text("Your account and all your debriefs have been deleted").wait_for()
    page.wait_for_url("**/auth/login", timeout=15000)  # and back to the sign-in form
    db = Database(load_settings(data_dir=data).sqlalchemy_url)
    with db.session() as s:
        left = s.scalars(select(Turn.text).where(Turn.debrief_id == did)).all()
        user = s.scalar(select(User.id).where(User.username == JUNIOR))
    db.dispose()
    assert left == [] and user is None
