"""A facilitator looks after the programme's pairs in a real browser: a pair's sessions are planned
with a date picker and a rhythm (the dates shown before it is created), a missed planned session
is flagged, a pair submitted twice is refused, a lost invitation gets a new link, topic, sessions
and plan are edited, a pair is closed, and one created by mistake is removed; at desktop and phone
width, accessibly."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.conftest import assert_accessible, assert_in_view, open_tab, seed_people, sign_in, start_app

pytestmark = pytest.mark.slow


@pytest.fixture
def app(tmp_path):
    data = tmp_path / "data"
    seed_people(data)
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    yield url, data
    proc.terminate()
    proc.wait(30)


def fill_pair(page, topic: str) -> None:
    page.get_by_label("Topic the junior knows better").fill(topic)
    page.get_by_label("Senior's sign-in name").fill("ann@example.org")
    page.get_by_label("Senior's role").fill("Retail operations director")
    page.get_by_label("Junior's sign-in name").fill("jo@example.org")
    page.get_by_label("Junior's role and strengths").fill("Social media associate")
    page.get_by_role("button", name="Create pair").click()


@pytest.mark.parametrize("width", [1100, 390])
def test_a_facilitator_looks_after_the_pairs(app, browser, width):
    url, data = app
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(page, url, "fran@example.org")
    open_tab(page, "Pairs")
    page.get_by_role("button", name="Create pair").click()  # nothing filled: every missing field is named
    note = page.locator("#pair-created")
    note.get_by_text("Please fill in", exact=False).wait_for()
    for field in ("the senior's sign-in name", "the junior's sign-in name", "the topic"):
        assert field in note.inner_text()
    assert_in_view(page, "#plan-start button.calendar")
    page.locator("#plan-start input").first.fill("01/03/2026")  # not a date: refused, not dropped
    fill_pair(page, "How Gen Z discovers stores on TikTok")
    note.get_by_text("“01/03/2026” is not a date like 2026-03-31").wait_for()
    start = date.today() - timedelta(days=20)  # planned to start 20 days ago, every week: two sessions missed
    page.locator("#plan-start input").first.fill(start.isoformat())
    page.locator("#plan-start input").first.press("Enter")
    page.get_by_label("Then meet").first.click()
    page.get_by_role("option", name="every week", exact=True).click()
    preview = page.locator("#plan-preview")
    preview.get_by_text(f"Planned: {start:%a %d %b %Y}, {start + timedelta(days=7):%a %d %b}").wait_for()
    assert f"{start + timedelta(days=21):%a %d %b %Y}" in preview.inner_text()  # the 4th and last
    assert_accessible(page)
    fill_pair(page, "How Gen Z discovers stores on TikTok")
    note.get_by_text("Pair created").wait_for()
    assert f"Planned: {start:%a %d %b %Y}" in note.inner_text()
    assert page.locator("#plan-start input").first.input_value() == ""  # the form is cleared, plan too
    first = re.findall(r"/auth/invite/([\w-]+)", note.inner_html())
    assert len(first) == 2 and page.get_by_label("Topic the junior knows better").input_value() == ""  # cleared
    fill_pair(page, "How Gen Z discovers stores on TikTok")  # submitted twice
    note.get_by_text("This pair already exists").wait_for()
    assert_accessible(page)

    cell = page.locator("#pairs-table [data-testid^='cell-']")  # not Gradio's hidden copy for sizing
    cell.filter(has_text=f"⚠ {start:%a %d %b}: missed (not logged)").first.wait_for()
    assert f"the session planned for {start:%a %d %b} is not logged" in page.locator("#pairs-counts").inner_text()
    cell.filter(has_text="How Gen Z discovers stores on TikTok").first.click()  # choose it in the list
    page.locator("#pair-details").get_by_text("senior ann@example.org", exact=False).wait_for()
    assert page.locator("#edit-plan-start input").first.input_value() == start.isoformat()
    page.locator("#edit-plan-preview").get_by_text(f"{start + timedelta(days=7):%a %d %b}").wait_for()
    later = date.today() + timedelta(days=3)  # the pair starts later than planned: the plan moves
    page.locator("#edit-plan-start input").first.fill(later.isoformat())
    page.locator("#edit-plan-start input").first.press("Enter")
    page.locator("#edit-plan-preview").get_by_text(f"Planned: {later:%a %d %b %Y}").wait_for()
    page.get_by_role("button", name="Save changes").click()
    page.locator("#pair-note").get_by_text("Saved.").wait_for()
    cell.filter(has_text=f"{later:%a %d %b}").first.wait_for()  # the next planned session, not missed
    assert "is not logged" not in page.locator("#pairs-counts").inner_text()
    assert_accessible(page)
    page.get_by_role("button", name="New invitation link for the senior").click()
    page.locator("#pair-note").get_by_text("New single-use invitation link", exact=False).wait_for()
    again = re.findall(r"/auth/invite/([\w-]+)", page.locator("#pair-note").inner_html())
    assert again and again[0] not in first  # a fresh link; the old one no longer works
    page.get_by_label("Topic", exact=True).fill("TikTok as a search engine for young shoppers")
    page.get_by_role("button", name="Save changes").click()
    cell.filter(has_text="TikTok as a search engine for young shoppers").first.wait_for()
    assert not page.get_by_role("button", name="Reopen the pair").is_visible()  # an open pair: Close only
    page.get_by_role("button", name="Close the pair").click()
    cell.filter(has_text="closed").first.wait_for()
    page.get_by_role("button", name="Reopen the pair").wait_for()  # a closed one: Reopen only
    assert not page.get_by_role("button", name="Close the pair").is_visible()
    page.get_by_role("button", name="Remove the pair (created by mistake)").click()
    page.locator("#pair-note").get_by_text("was removed").wait_for()
    assert cell.filter(has_text="TikTok as a search engine").count() == 0
    assert_accessible(page)
