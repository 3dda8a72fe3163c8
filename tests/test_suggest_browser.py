"""A junior gets topic ideas with evidence in a real browser."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.conftest import accept_invitation, seed_people, start_app
from tests.test_suggest import CORPUS

pytestmark = pytest.mark.slow


def test_junior_gets_topic_ideas_with_evidence(tmp_path, browser):
    data = tmp_path / "data"
    src = tmp_path / "past.jsonl"
    src.write_text("\n".join(c.model_dump_json() for c in CORPUS) + "\n")
    assert run_cli("ingest", str(src), "--data-dir", str(data), "-q").returncode == 0
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        seed_people(data)
        invite = run_cli("user", "add", "jo@example.org", "--role", "participant", "--data-dir", str(data),
                         "--base-url", url)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        accept_invitation(page, json.loads(invite.stdout)["invitation"])  # a junior, signed in
        assert page.get_by_role("tab", name="Review").count() == 0  # not a facilitator's tabs
        page.get_by_role("tab", name="Topic ideas").click()
        page.get_by_label("The senior: role and context").fill("Head of store operations at a fashion retailer")
        page.get_by_label("The junior: role and strengths").fill("Marketing assistant who runs the brand's TikTok")
        page.get_by_role("button", name="Suggest topics").click()
        cards = page.locator("#topic-cards .topic-card")
        cards.first.wait_for()
        first = cards.first.inner_text()
        assert "TikTok" in first and "Evidence: past debriefs" in first
        assert any(x in first for x in ("tt1", "tt2", "tt3"))
        assert "priv" not in page.locator("#topic-cards").inner_text()  # never from unshared debriefs
    finally:
        proc.terminate()
        proc.wait(30)
