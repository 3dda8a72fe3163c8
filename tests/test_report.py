"""The impact report: aggregates per programme and per installation, small-group suppression
(a programme of 4 participants), quotes only approved, shared and chosen, and a PDF read back."""

from __future__ import annotations

import io
from itertools import count

import pytest
from pydantic import ValidationError

from coach.config import Settings
from coach.policy import AccessDenied, Actor
from coach.report import report_html, report_pdf, suppress
from coach.services import Services
from coach.store.models import Debrief, PairSession, Record, utcnow

_ids = count(1)


@pytest.fixture
def svc(make_settings, either_database):
    s = Services(make_settings(database_url=either_database))
    yield s
    s.close()


def person(svc, name, role="participant", programme=None) -> Actor:
    return Actor.of(svc.accounts.create_user(name, role, password="correct horse 42", programme=programme))


def pair_with_records(svc, programme: str, senior: list[dict], junior: list[dict], shared: bool = True) -> dict:
    """A pair of two new participants whose confirmed debriefs (and the senior's follow-up) hold
    these records, approved (``status`` in an item overrides)."""
    n = next(_ids)
    s_user, j_user = person(svc, f"s{n}@example.org"), person(svc, f"j{n}@example.org")
    p = svc.debriefs.create_pair(senior="Director", junior="Associate", topic=f"Topic {n}", programme=programme)
    out = {}
    with svc.db.session() as s:
        s.add(PairSession(pair_id=p.id, held_on=utcnow().date(), minutes=45, logged_as="senior"))
        for role, user, items in (("senior", s_user, senior), ("junior", j_user, junior)):
            d = Debrief(id=f"d-{n}-{role}", pair_id=p.id, role=role, status="done", shared=shared,
                        confirmed_at=utcnow(), participant_id=user.id)
            s.add(d)
            out[role] = d.id
            followups = [i for i in items if i["kind"] == "outcome"]
            f = None
            if followups:
                f = Debrief(id=f"f-{n}-{role}", pair_id=p.id, role=role, status="done", shared=shared,
                            source="followup", follows_id=d.id, round=1, confirmed_at=utcnow(), participant_id=user.id,
                            plan={"actions": []})
                s.add(f)
            s.flush()
            for it in items:
                s.add(Record(debrief_id=(f.id if it["kind"] == "outcome" and f else d.id), kind=it["kind"],
                             text=it.get("text", it["quote"]), quote=it["quote"], theme=it.get("theme", "customers and markets"),
                             depth=it.get("depth", "awareness"), status=it.get("status", "approved"),
                             detail=it.get("detail")))
    return out


def belief(theme="customers and markets", quote="I thought nobody used TikTok to find shops."):
    return {"kind": "broken_assumption", "quote": quote, "theme": theme}


def outcome(status, decision=None, quote="We moved the billboard money to creators."):
    return {"kind": "outcome", "quote": quote, "detail": {"action": "Move the money", "status": status,
                                                          "decision_changed": decision}}


def rows(report, title):
    return dict(next(b for b in report.breakdowns if b.title == title).rows)


def test_a_programme_of_four_participants_shows_no_breakdown(svc):
    fran = person(svc, "fran@example.org", "facilitator", "Small")
    for _ in range(2):  # 2 pairs: 4 participants
        pair_with_records(svc, "Small", [belief(), outcome("done", "Did not renew the billboard contract.")],
                          [{"kind": "learned", "quote": "I can lead a room of directors.", "theme": "people and leadership"}])
    r = svc.report.build(fran)
    assert dict(r.activity) == {"pairs": 2, "sessions held": 2, "debriefs completed": 4, "follow-ups completed": 2}
    for b in r.breakdowns:
        assert b.rows == [] and (b.note == "" or "fewer than 5 participants" in b.note), b
    assert r.decisions.rows == [] and "fewer than 5" in r.decisions.note
    page = report_html(r)
    assert "customers and markets" not in page and "people and leadership" not in page and "Did not renew" not in page
    text = pdf_text(report_pdf(r))
    assert "Impact report: Small" in text and "How this report was made" in text
    assert "fewer than 5 participants" in text and "customers and markets" not in text


def test_groups_of_five_are_shown_and_smaller_ones_merge_into_other(svc):
    fran = person(svc, "fran@example.org", "facilitator", "Big")
    for k in range(5):  # 5 pairs: 10 participants; seniors' beliefs: 4 on platforms, 1 on data
        pair_with_records(svc, "Big", [belief("customers and markets" if k < 4 else "technology and digital tools"),
                                       outcome("done" if k < 3 else "dropped", "Cut the print run." if k < 3 else None)],
                          [{"kind": "learned", "quote": "I can present to the board.", "theme": "people and leadership"}])
    r = svc.report.build(fran)
    # 4 and 1 seniors: neither reaches 5; together they do ("other")
    assert rows(r, "Broken assumptions by theme") == {"other": 5}
    assert "merged into “other”" in next(b.note for b in r.breakdowns if b.title == "Broken assumptions by theme")
    assert rows(r, "Actions by outcome") == {"other": 5}
    assert rows(r, "What juniors gained, by theme") == {"people and leadership": 5}
    assert r.decisions.rows == []  # 3 seniors named a decision: fewer than 5
    assert rows(r, "Pair health") == {"at risk": 5} or rows(r, "Pair health") == {"ok": 5}


def test_content_only_from_approved_shared_records_and_quotes_only_when_chosen(svc):
    fran = person(svc, "fran@example.org", "facilitator", "Big")
    ids = [pair_with_records(svc, "Big", [belief(quote=f"I thought print was enough, case {k}.")],
                             [{"kind": "learned", "quote": "Not approved yet.", "status": "pending"}])
           for k in range(5)]
    pair_with_records(svc, "Big", [belief(quote="Private belief.")], [], shared=False)
    r = svc.report.build(fran)
    assert rows(r, "Broken assumptions by theme") == {"customers and markets": 5}  # the private one is not counted
    assert rows(r, "What juniors gained, by theme") == {}
    assert r.highlights == []  # none chosen
    quotable = svc.report.quotable(fran)
    assert {q["quote"] for q in quotable} == {f"I thought print was enough, case {k}." for k in range(5)}
    svc.report.choose_highlights(fran, [q["id"] for q in quotable][:2] + [999999])
    r = svc.report.build(fran)
    assert len(r.highlights) == 2 and all(h["role"] == "senior" for h in r.highlights)
    assert "s1@example.org" not in report_html(r)
    with svc.db.session() as s:  # consent taken back: the quote leaves the report
        s.get(Debrief, ids[0]["senior"]).shared = False
    quoted = {h["quote"] for h in svc.report.build(fran).highlights}
    assert "I thought print was enough, case 0." not in quoted


def test_highlighted_quotes_name_no_one(svc):
    fran = person(svc, "fran@example.org", "facilitator", "Big")
    ids = pair_with_records(svc, "Big", [belief(quote="Dev showed me a 40-second clip, and Raj left the company.")], [])
    with svc.db.session() as s:  # the pair's junior is called Dev
        s.get(Debrief, ids["senior"]).pair.junior_name = "Dev"
    svc.report.choose_highlights(fran, [q["id"] for q in svc.report.quotable(fran)])
    r = svc.report.build(fran)
    assert [h["quote"] for h in r.highlights] == ["[the junior] showed me a 40-second clip, and [a colleague] left the company."]
    page, text = report_html(r), pdf_text(report_pdf(r))
    assert "Dev" not in page and "Raj" not in page and "Dev" not in text and "[the junior] showed me" in text


def test_each_reader_sees_their_scope_and_the_admin_aggregates_only(svc):
    fran = person(svc, "fran@example.org", "facilitator", "Big")
    olga = person(svc, "olga@example.org", "facilitator", "Other")
    admin = person(svc, "root@example.org", "admin")
    for _ in range(3):
        pair_with_records(svc, "Big", [belief()], [])
        pair_with_records(svc, "Other", [belief()], [])
    assert dict(svc.report.build(fran).activity)["pairs"] == 3
    assert rows(svc.report.build(olga), "Broken assumptions by theme") == {}  # 3 seniors
    installation = svc.report.build(admin)
    assert dict(installation.activity)["pairs"] == 6
    assert rows(installation, "Broken assumptions by theme") == {"customers and markets": 6}
    svc.report.choose_highlights(fran, [q["id"] for q in svc.report.quotable(fran)])
    assert installation.highlights == [] and svc.report.build(admin).highlights == []
    with pytest.raises(AccessDenied):
        svc.report.build(person(svc, "ann@example.org"))


def test_the_smallest_group_is_never_below_three():
    with pytest.raises(ValidationError):
        Settings(report_min_group=2)
    b = suppress("x", {"a": (9, {1, 2, 3}), "b": (1, {4})}, 3)
    assert b.rows == [("a", 9)] and "fewer than 3" in b.note and "1" not in b.note


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
