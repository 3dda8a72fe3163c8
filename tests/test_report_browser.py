"""The facilitator's Report tab, its printable page and its PDF in a real headless Chromium, at a
laptop's and a phone's width, with axe-core; an admin's report has no quotes."""

from __future__ import annotations

import re

import httpx
import pytest

from coach.config import load_settings
from coach.policy import Actor
from coach.services import Services
from tests.conftest import PROGRAMME, assert_accessible, open_tab, seed_people, session_cookie, sign_in, start_app
from tests.test_followup_browser import shot
from tests.test_report import belief, outcome, pair_with_records, pdf_text

pytestmark = pytest.mark.slow


def seed(data) -> None:
    seed_people(data)
    svc = Services(load_settings(data_dir=data))
    for k in range(5):
        pair_with_records(svc, PROGRAMME, [belief(quote=f"I thought our customers never watched video, store {k}."),
                                           outcome("done", "Stopped the print catalogue.")],
                          [{"kind": "learned", "quote": "I can run a workshop for directors.", "theme": "people and leadership"}])
    fran = Actor.of(svc.accounts.find("fran@example.org"))
    svc.report.choose_highlights(fran, [svc.report.quotable(fran)[0]["id"]])
    svc.close()


@pytest.fixture
def app(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    seed(data)
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false", COACH_BACKEND="none")
    yield url
    proc.terminate()
    proc.wait(30)


@pytest.mark.parametrize("width,height", [(1100, 900), (390, 844)])
def test_the_report_tab_the_printable_page_and_the_pdf(app, browser, width, height):
    url = app
    page = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True).new_page()
    sign_in(page, url, "fran@example.org")
    open_tab(page, "Report")
    view = page.locator("#impact-report")
    view.get_by_text(f"Impact report: {PROGRAMME}").wait_for()
    assert view.get_by_text("Decisions changed").count() >= 1
    assert view.get_by_text("“I thought our customers never watched video", exact=False).count() == 1
    assert view.get_by_text("How this report was made").count() == 1
    assert_accessible(page)
    shot(page, f"report-tab-{width}")
    # the facilitator picks a second quote in the tab; the report shows both, no names
    page.get_by_text("Choose the report's quotes, and a second follow-up").click()
    unchosen = page.locator("#report-quotes label", has_text="store").filter(has_not=page.locator("input:checked"))
    picked = unchosen.first.inner_text().split("”")[0].lstrip("“")
    unchosen.first.locator("input").check()
    page.get_by_role("button", name="Save the chosen quotes").click()
    page.get_by_text("Saved: the report shows these quotes.").wait_for()
    view.get_by_text(picked, exact=False).wait_for()
    assert view.locator("blockquote").count() == 2 and "example.org" not in view.inner_text()
    page.get_by_label("Ask again about actions still not started", exact=False).check()
    page.get_by_text("A second follow-up is now on for your programme.").wait_for()
    page.get_by_role("button", name="Download the report as PDF").click()
    link = page.locator("#report-pdf a[download]")
    try:
        link.wait_for(timeout=60000)
    except Exception:
        shot(page, f"report-pdf-fail-{width}")
        raise
    with page.expect_download() as dl:
        link.click()
    text = pdf_text(open(dl.value.path(), "rb").read())
    assert f"Impact report: {PROGRAMME}" in text and "How this report was made" in text
    assert "What juniors gained, by theme" in text and "I thought our customers never watched video" in text
    assert re.search(r"Actions by outcome\s+done\s+5", text)  # the chart's figures are text in the PDF

    printable = page.context.new_page()
    printable.goto(f"{url}/report")
    printable.get_by_role("button", name="Print this page").wait_for()
    assert_accessible(printable)
    shot(printable, f"report-printable-{width}")


def test_the_admin_report_has_aggregates_only_and_participants_get_none(app):
    url = app
    admin = {"Cookie": f"coach_session={session_cookie(url, 'admin')}"}
    page = httpx.get(f"{url}/report", headers=admin)
    assert page.status_code == 200 and "Impact report: all programmes" in page.text
    assert "never watched video" not in page.text  # no quotes for the installation
    pdf = httpx.get(f"{url}/report.pdf", headers=admin)
    assert pdf.headers["content-type"] == "application/pdf" and "all programmes" in pdf_text(pdf.content)
    assert httpx.get(f"{url}/report", follow_redirects=False).status_code in (303, 401)
