"""A junior gets topic ideas in a real browser: how many fit well, why each fits this pair,
readable evidence (quotes with the earlier pair's topic and roles, no ids, no names), participant
text shown as typed; and a junior whose programme holds too few other pairs' debriefs sees none."""

from __future__ import annotations

import json

import pytest

from tests.conftest import accept_invitation, open_tab, run_cli, seed_people, start_app
from tests.test_suggest import BANK, CORPUS, debrief

pytestmark = pytest.mark.slow

# an earlier pair whose words name people and carry markup: shown as plain text, names replaced
NAMED = debrief("nm1", "TikTok videos made by store staff", "Head of stores, fashion retail",
                "Store assistant who films the shop's TikToks",
                learned=["Priya showed me that shoppers trust **staff videos** over ads <img src=x onerror=alert(1)>",
                         "Tom Okafor films a store video every week and footfall went up"],
                broken=[("TikTok is for dances", "Young shoppers find our stores on TikTok")])


def test_junior_gets_topic_ideas_with_readable_evidence_and_no_names(tmp_path, browser):
    data = tmp_path / "data"
    src = tmp_path / "past.jsonl"
    src.write_text("\n".join(c.model_dump_json() for c in [*CORPUS, NAMED]) + "\n")
    assert run_cli("ingest", str(src), "--data-dir", str(data), "-q").returncode == 0
    other = tmp_path / "bank.jsonl"  # another programme's debriefs, closer to the query: never shown here
    other.write_text("\n".join(c.model_dump_json() for c in BANK) + "\n")
    assert run_cli("ingest", str(other), "--programme", "bank", "--data-dir", str(data), "-q").returncode == 0
    _name_the_pair(data, "nm1", senior="Sam Carter", junior="Priya Shah",
                   quote="Sam here. Priya Shah showed me her feed [click](http://evil.example)")
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
        open_tab(page, "Topic ideas")
        page.get_by_label("The senior: role and context").fill("Head of store operations at a fashion retailer")
        page.get_by_label("The junior: role and strengths").fill("Marketing assistant who runs the brand's TikTok")
        page.get_by_role("button", name="Suggest topics").click()
        cards = page.locator("#topic-cards .topic-card")
        cards.first.wait_for()
        shown = page.locator("#topic-cards").inner_text()
        assert "fits this pair well" in shown or "fit this pair well" in shown
        first = cards.first.inner_text()
        assert "TikTok" in first and "fits well" in first
        assert "Why for this pair:" in first and "this junior" in first
        assert "What the earlier senior found:" in first and "after the sessions" in first
        # readable evidence, one click away: quotes with the earlier pair's topic and roles
        for summary in page.locator("#topic-cards details summary").all():
            summary.click()
        evidence = page.locator("#topic-cards details").first.inner_text()
        assert "Evidence:" in evidence and "earlier pair: “" in evidence and " with " in evidence
        shown = page.locator("#topic-cards").inner_text()
        assert "shoppers trust **staff videos** over ads <img src=x onerror=alert(1)>" in shown  # as typed
        assert page.locator("#topic-cards img").count() == 0 and page.locator("#topic-cards a").count() == 0
        assert "[the junior] showed me" in shown and "[a colleague] films a store video" in shown
        assert "In their words: “[the senior] here. [the junior] showed me her feed [click](http://evil.example)”" in shown
        for name in ("Priya", "Shah", "Sam ", "Carter", "Tom", "Okafor"):
            assert name not in shown, name
        for debrief_id in ("tt1", "tt2", "tt3", "nm1"):  # ids are for the CLI's JSON and exports
            assert debrief_id not in shown
        assert "priv" not in shown and "Live shopping sells out" not in shown  # never from unshared debriefs
        assert "bk1" not in shown and "Creator store visits" not in shown  # nor from another programme
        page.get_by_role("button", name="What surprised similar seniors?").click()
        page.locator("#topic-cards", has_text="What earlier seniors found surprising").wait_for()
        surprised = page.locator("#topic-cards").inner_text()
        assert "Believed:" in surprised and "Priya" not in surprised and "tt1" not in surprised

        # a junior of the bank programme: two shared debriefs, fewer than the 3 needed from other pairs
        pair = run_cli("pair", "create", "--senior", "Head of stores", "--junior", "Analyst", "--topic", "TikTok",
                       "--programme", "bank", "--senior-user", "sue@example.org", "--junior-user", "ben@example.org",
                       "--data-dir", str(data), "--base-url", url)
        assert pair.returncode == 0, pair.stderr
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        accept_invitation(page, json.loads(pair.stdout)["invitations"]["junior"])
        open_tab(page, "Topic ideas")
        page.get_by_label("The senior: role and context").fill("Head of store operations, fashion")
        page.get_by_label("The junior: role and strengths").fill("Runs the brand's TikTok")
        page.get_by_role("button", name="Suggest topics").click()
        page.locator("#topic-cards", has_text="generic starter topics").wait_for()
        shown = page.locator("#topic-cards").inner_text()
        assert "enough shared debriefs from other pairs" in shown
        assert "Teenagers find fashion stores" not in shown and "bk1" not in shown
        page.get_by_role("button", name="What surprised similar seniors?").click()
        page.locator("#topic-cards", has_text="Not enough yet").wait_for()
        assert "They find them in TikTok videos" not in page.locator("#topic-cards").inner_text()
    finally:
        proc.terminate()
        proc.wait(30)


def _name_the_pair(data, debrief_id: str, senior: str, junior: str, quote: str) -> None:
    """Give an ingested pair its participants' names, and one record the participant's own words
    (as a live debrief has), straight in the store."""
    from sqlalchemy import update

    from coach.config import load_settings
    from coach.services import Services
    from coach.store.models import Debrief, Pair, Record

    svc = Services(load_settings(data_dir=data))
    with svc.db.session() as s:
        pid = s.get(Debrief, debrief_id).pair_id
        s.execute(update(Pair).where(Pair.id == pid).values(senior_name=senior, junior_name=junior))
        s.execute(update(Record).where(Record.debrief_id == debrief_id, Record.kind == "broken_assumption")
                  .values(quote=quote))
    svc.close()
