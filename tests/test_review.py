"""Records of live debriefs and the facilitator's review (service level; the browser test drives the UI)."""

from __future__ import annotations

import csv
import json

import pytest

from coach.debriefs import Debriefs
from coach.policy import OPERATOR as OP
from coach.policy import AccessDenied, Actor
from coach.records import INDEXED_KINDS, ReviewError
from coach.review import pair_synthesis
from coach.services import Services
from tests.conftest import answer_all

FRAN = Actor(7, "Fran", "facilitator", "default")


@pytest.fixture
def svc(make_settings):
    s = Services(make_settings())
    yield s
    s.close()


def run(d: Debriefs, did: str, answers: list[str]):
    answer_all(d, OP, did, answers)


def indexed(svc) -> int:
    svc.indexer.drain()
    return svc.index.count()


SENIOR = ["I learned that teenagers search TikTok before Google when they look for a shop.",
          "She showed me how she searches for a café near her flat; every result was a video.",
          "I thought our website was where young customers found us, but it turns out most never visit it.",
          "I'll ask every store manager to post one short video a week, starting in March.",
          "They worked well because she used our own stores as examples."]
JUNIOR = ["I showed him how TikTok search works and that teenagers search TikTok before Google for shops.",
          "I also taught him how our analytics dashboard counts watch time, for example on our last post.",
          "He pushed back on whether video is serious enough for a brand like ours.",
          "I feel much more confident presenting to directors; last week I spoke up in the ops meeting.",
          "That he took notes on paper."]


@pytest.fixture
def pair(svc):
    d = svc.debriefs
    p = d.create_pair(senior="Retail director", junior="Social media associate", topic="TikTok discovery")
    return d, p


def test_finishing_an_interview_extracts_pending_records(svc, pair):
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    recs = svc.records.for_debrief(did)
    # and how the sessions went, for the facilitator (never evidence for topic ideas)
    assert {r["kind"] for r in recs} == {"learned", "broken_assumption", "action", "session_feedback"}
    assert all(r["status"] == "pending" and r["extractor"] == "offline" for r in recs)
    assert d.view(OP, did).records  # the participant's summary shows them


def test_queue_holds_only_confirmed_shared_debriefs(svc, pair):
    d, p = pair
    s_id, j_id = d.open(p.id, "senior"), d.open(p.id, "junior")
    run(d, s_id, SENIOR)
    run(d, j_id, JUNIOR)
    assert svc.review.queue(OP) == []  # finished but not confirmed
    d.confirm(OP, j_id, share=False)
    d.confirm(OP, s_id, share=True)
    assert [q["id"] for q in svc.review.queue(FRAN)] == [s_id]
    assert svc.review.queue(Actor(8, "Olga", "facilitator", "Other programme")) == []
    with pytest.raises(ReviewError, match="not been shared"):
        svc.review.open(FRAN, j_id)
    with pytest.raises(AccessDenied, match="not in your programme"):
        svc.review.open(Actor(8, "Olga", "facilitator", "Other programme"), s_id)


def test_review_records_who_and_when_and_feeds_the_index(svc, pair, tmp_path):
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    r = svc.records
    recs = {x["kind"]: x for x in r.for_debrief(did)}
    with pytest.raises(ReviewError, match="not been shared"):
        r.review(FRAN, recs["learned"]["id"], "approve")
    d.confirm(OP, did, share=True)
    with pytest.raises(AccessDenied, match="not in your programme"):
        r.review(Actor(8, "Olga", "facilitator", "Other programme"), recs["learned"]["id"], "approve")
    with pytest.raises(AccessDenied):
        r.review(Actor(9, "root", "admin"), recs["learned"]["id"], "approve")  # admins read no debriefs
    a = r.review(FRAN, recs["learned"]["id"], "approve")
    e = r.review(FRAN, recs["broken_assumption"]["id"], "edit", before="The website is how they find us")
    x = r.review(Actor(10, "Sam", "facilitator", "default"), recs["action"]["id"], "reject")
    assert (a["status"], a["reviewed_by"]) == ("approved", "Fran") and a["reviewed_at"]
    assert (e["status"], e["before"]) == ("approved", "The website is how they find us")
    assert e["text"] == f"The website is how they find us → {e['after']}"  # re-derived from the edit
    assert x["status"] == "rejected"
    assert indexed(svc) == 2  # approved and shared: indexed; rejected: not
    rows = list(csv.DictReader(open(svc.review.export(FRAN, tmp_path, "csv"), encoding="utf-8")))
    assert sorted(row["kind"] for row in rows) == ["broken_assumption", "learned"]
    [ba] = [row for row in rows if row["kind"] == "broken_assumption"]
    assert ba["text"] == f"The website is how they find us → {ba['after']}"  # an edited one reads on its own too
    data = json.loads(svc.review.export(FRAN, tmp_path, "json").read_text())
    assert {row["reviewed_by"] for row in data} == {"Fran"}
    dash = svc.review.dashboard(FRAN)
    assert sum(x["items"] for x in dash["theme_depth"]) == 2
    assert dash["assumptions"] == [{"belief before (most typical wording)": "The website is how they find us",
                                    "debriefs": 1}]
    counts = {row["what"]: row["count"] for row in dash["progress"]}  # each count says what it counts
    assert counts == {"pairs": 1, "sessions planned": 0, "debriefs expected (2 a pair)": 2, "debriefs finished": 1,
                      "debriefs shared": 1, "pairs ok": 1, "pairs at risk": 0}
    from coach.debrief_file import read_debriefs
    from coach.ingest import ingest
    from tests.conftest import DATA

    ingest(svc.db, read_debriefs(DATA / "two_debriefs.jsonl"))  # past debriefs: not planned in this programme
    assert svc.review.dashboard(FRAN)["progress"] == dash["progress"]
    # re-extraction keeps reviewed items, replaces pending ones, and duplicates nothing
    before = r.for_debrief(did)
    pending = sum(x["status"] == "pending" for x in before)
    assert d.reextract(FRAN) == pending
    after = r.for_debrief(did)
    assert len(after) == len(before)
    assert [x for x in after if x["status"] != "pending"] == [x for x in before if x["status"] != "pending"]


def test_a_decision_can_be_undone_and_an_edit_keeps_the_participants_words(svc, pair):
    """Reject with a reason; undo; an edit marks the record edited, keeps its original, and takes
    the facilitator's theme; undoing the edit restores the participant's words."""
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    d.confirm(OP, did, share=True)
    rec = next(r for r in svc.records.for_debrief(did) if r["kind"] == "learned")
    out = svc.review.decide(FRAN, did, rec["id"], "reject", reason="Not what the sessions were about")
    assert (out["status"], out["reject_reason"]) == ("rejected", "Not what the sessions were about")
    out = svc.review.decide(FRAN, did, rec["id"], "undo")
    assert (out["status"], out["reject_reason"], out["reviewed_by"]) == ("pending", None, None)
    out = svc.review.decide(FRAN, did, rec["id"], "edit", text="Teenagers use TikTok as a search engine for shops",
                            theme="customers and markets")
    assert (out["provenance"], out["theme"]) == ("edited", "customers and markets")
    assert out["original"]["text"] == rec["text"] and out["text"].startswith("Teenagers use TikTok")
    out = svc.review.decide(FRAN, did, rec["id"], "undo")
    assert (out["status"], out["text"], out["provenance"], out["original"]) == ("pending", rec["text"],
                                                                                rec["provenance"], None)
    with pytest.raises(ReviewError, match="no decision to undo"):
        svc.review.decide(FRAN, did, rec["id"], "undo")
    waiting = len([r for r in svc.records.for_debrief(did) if r["status"] == "pending"])
    assert waiting > 1 and svc.review.decide_all(FRAN, did) == waiting  # after reading it: all at once
    assert {r["status"] for r in svc.records.for_debrief(did) if r["status"] != "withdrawn"} == {"approved"}


def test_pair_synthesis_shows_overlap_and_gaps(svc, pair):
    d, p = pair
    s_id, j_id = d.open(p.id, "senior"), d.open(p.id, "junior")
    run(d, s_id, SENIOR)
    run(d, j_id, JUNIOR)
    with pytest.raises(ReviewError, match="Both sides"):
        pair_synthesis(svc.db, p.id)
    d.confirm(OP, s_id, share=True)
    d.confirm(OP, j_id, share=True)
    syn = pair_synthesis(svc.db, p.id)
    assert any("TikTok before Google" in o["taught"] and "TikTok before Google" in o["learned"] for o in syn["overlap"])
    assert any("watch time" in t for t in syn["taught_not_learned"])


def test_pair_synthesis_takes_a_corrected_taught_answer(svc, pair):
    d, p = pair
    s_id, j_id = d.open(p.id, "senior"), d.open(p.id, "junior")
    run(d, s_id, SENIOR)
    run(d, j_id, JUNIOR[:1] + ["Nothing much, really, we chatted."] + JUNIOR[2:])
    for _ in d.correct(OP, j_id, "taught", "I showed him how teenagers search TikTok before Google for shops."):
        pass
    d.confirm(OP, s_id, share=True)
    d.confirm(OP, j_id, share=True)
    syn = pair_synthesis(svc.db, p.id)
    taught = [o["taught"] for o in syn["overlap"]] + syn["taught_not_learned"]
    assert "I showed him how teenagers search TikTok before Google for shops." in taught  # the correction counts
    assert not any("I showed him how TikTok search works" in t for t in taught)  # the answer it replaced does not


def test_a_refused_review_changes_nothing_and_queues_nothing(svc, pair):
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    d.confirm(OP, did, share=True)
    svc.indexer.drain()
    with pytest.raises(ReviewError, match="No such record"):
        svc.records.review(FRAN, 99999, "approve")
    assert svc.indexer.pending() == 0


def test_items_the_participant_unticks_are_withdrawn_never_reviewed_or_indexed(svc, pair):
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    recs = svc.records.for_debrief(did)
    keep = [r["id"] for r in recs if r["kind"] != "action"]
    withdrawn = [r["id"] for r in recs if r["kind"] == "action"]
    d.confirm(OP, did, share=True, keep=keep)
    status = {r["id"]: r["status"] for r in svc.records.for_debrief(did)}
    assert {status[i] for i in withdrawn} == {"withdrawn"} and {status[i] for i in keep} == {"pending"}
    with pytest.raises(ReviewError, match="removed this item"):
        svc.records.review(FRAN, withdrawn[0], "approve")
    for i in keep:
        svc.records.review(FRAN, i, "approve")
    assert indexed(svc) == len([r for r in recs if r["id"] in keep and r["kind"] in INDEXED_KINDS])
    assert all(r["kind"] != "action" for r in svc.records.approved())


def test_sharing_can_be_taken_back_and_given_again_after_a_review(svc, pair):
    """Consent changes after approval: the approved items leave the index, and come back."""
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    d.confirm(OP, did, share=True)
    for r in svc.records.for_debrief(did):
        svc.records.review(FRAN, r["id"], "approve")
    approved = len([r for r in svc.records.for_debrief(did) if r["kind"] in INDEXED_KINDS])
    assert indexed(svc) == approved > 0
    d.confirm(OP, did, share=False, keep=[])  # the UI sends the tick boxes again: they count no more
    assert {r["status"] for r in svc.records.for_debrief(did)} == {"approved"}
    assert indexed(svc) == 0 and not svc.review.queue(OP)
    assert svc.records.approved() == []  # exports draw on shared debriefs only
    d.confirm(OP, did, share=True)
    assert indexed(svc) == approved and len(svc.records.approved()) == approved


def test_a_correction_replaces_the_earlier_answer_or_adds_to_it(svc, pair):
    """The helper's case: junk answered to "what will you do differently", then corrected. A
    replacing correction leaves the junk in the transcript but out of the records and the
    summary; an adding one keeps both. A correction counts for the question it corrects, not
    for the one asked just before it."""
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR[:3] + ["I'll rewrite the whole intranet in Klingon by Friday."])
    for _ in d.correct(OP, did, "action", "I'll ask every store manager to post one short video a week."):
        pass
    run(d, did, [SENIOR[4]])
    texts = [r["text"] for r in svc.records.for_debrief(did) if r["kind"] == "action"]
    assert texts == ["I'll ask every store manager to post one short video a week."]
    v = d.view(OP, did)
    assert dict(v.summary)["What you'll do differently"] == ["I'll ask every store manager to post one short video a week."]
    assert "Klingon" in " ".join(t for _, t in v.turns)  # never lost: still in the transcript

    did2 = d.open(d.create_pair(senior="CFO", junior="Analyst", topic="Dashboards").id, "senior")
    run(d, did2, SENIOR[:3] + ["I'll ask every store manager to post one short video a week."])
    for _ in d.correct(OP, did2, "action", "I'll also book a monthly session with her on analytics.", replace=False):
        pass
    run(d, did2, [SENIOR[4]])
    actions = {r["text"] for r in svc.records.for_debrief(did2) if r["kind"] == "action"}
    assert actions == {"I'll ask every store manager to post one short video a week.",
                       "I'll also book a monthly session with her on analytics."}
