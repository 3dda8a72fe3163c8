"""The admin's People and System tabs and the facilitator's programme dashboard, in a real
browser at desktop and phone width: readable, usable, and with no serious accessibility fault."""

from __future__ import annotations

import pytest

from tests.conftest import assert_accessible, open_tab, seed_people, sign_in, start_app

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("width", [1100, 390])
def test_admin_and_dashboard_at_desktop_and_phone_width(tmp_path, browser, width):
    data = tmp_path / "data"
    seed_people(data)
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        page = browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844}).new_page()
        sign_in(page, url, "admin")
        open_tab(page, "People")
        cell = page.locator("[data-testid^='cell-']").filter(has_text="fran@example.org")  # not the hidden copy
        cell.first.wait_for()
        cell.first.click()  # the row chooses the account
        page.locator("#account-chosen").get_by_text("Chosen: fran@example.org").wait_for()
        page.get_by_role("button", name="Create facilitator").click()  # every missing field named at once
        note = page.locator("#facilitator-created")
        note.get_by_text("their sign-in name", exact=False).wait_for()
        assert "their name" in note.inner_text() and "programme" in note.inner_text()
        assert_accessible(page)
        open_tab(page, "System")
        page.get_by_text("Model backend:").wait_for()
        assert page.get_by_text("Steps that use the model:").is_visible()
        assert "{" not in page.locator("body").inner_text().split("This installation")[1][:400]  # a page, not JSON
        assert_accessible(page)
        page.context.close()

        page = browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844}).new_page()
        sign_in(page, url, "fran@example.org")
        open_tab(page, "Review")
        page.get_by_text("Programme dashboard and export").click()
        page.get_by_text("The round so far").first.wait_for()
        page.get_by_text("Broken assumptions shared most often", exact=False).first.wait_for()
        assert_accessible(page)
        page.context.close()
    finally:
        proc.terminate()
        proc.wait(30)
