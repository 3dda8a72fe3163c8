"""A junior gets topic ideas with evidence in a real browser."""

from __future__ import annotations

import json

import pytest

from tests.conftest import accept_invitation, run_cli, seed_people, start_app
from tests.test_suggest import BANK, CORPUS

pytestmark = pytest.mark.slow


def test_junior_gets_topic_ideas_with_evidence(tmp_path, browser):
    data = tmp_path / "data"
    src = tmp_path / "past.jsonl"
    src.write_text("\n".join(c.model_dump_json() for c in CORPUS) + "\n")
    assert run_cli("ingest", str(src), "--data-dir", str(data), "-q").returncode == 0
    other = tmp_path / "bank.jsonl"  # another programme's debriefs, closer to the query: never shown here
    other.write_text("\n".join(c.model_dump_json() for c in BANK) + "\n")
    assert run_cli("ingest", str(other), "--programme", "bank", "--data-dir", str(data), "-q").returncode == 0
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        seed_people(data)
        pair = run_cli("pair", "create", "--senior", "Head of store operations", "--junior", "Marketing assistant",
                       "--topic", "TikTok", "--senior-user", "sam@example.org", "--junior-user", "jo@example.org",
                       "--data-dir", str(data), "--base-url", url)  # in the default programme, like CORPUS
        assert pair.returncode == 0, pair.stderr
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        accept_invitation(page, json.loads(pair.stdout)["invitations"]["junior"])  # a junior, signed in
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
        shown = page.locator("#topic-cards").inner_text()
        assert "priv" not in shown  # never from unshared debriefs
        assert "bk1" not in shown and "bk2" not in shown  # nor from another programme
    finally:
        proc.terminate()
        proc.wait(30)
