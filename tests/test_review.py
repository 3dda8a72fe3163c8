"""Records of live debriefs and the facilitator's review (service level; the browser test drives the UI)."""

from __future__ import annotations

import csv
import json

import pytest

from coach.debriefs import Debriefs
from coach.review import Records, ReviewError, pair_synthesis
from coach.services import Services


@pytest.fixture
def svc(make_settings):
    s = Services(make_settings())
    yield s
    s.close()


def run(d: Debriefs, did: str, answers: list[str]):
    for a in answers:
        for _ in d.say(did, a):
            pass


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
    d = Debriefs(svc)
    p = d.create_pair(senior="Retail director", junior="Social media associate", topic="TikTok discovery")
    return d, p


def test_finishing_an_interview_extracts_pending_records(svc, pair):
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    recs = Records(svc).for_debrief(did)
    assert {r["kind"] for r in recs} == {"learned", "broken_assumption", "action"}
    assert all(r["status"] == "pending" and r["extractor"] == "offline" for r in recs)
    assert d.view(did).records  # the participant's summary shows them


def test_queue_holds_only_confirmed_shared_debriefs(svc, pair):
    d, p = pair
    s_id, j_id = d.open(p.id, "senior"), d.open(p.id, "junior")
    run(d, s_id, SENIOR)
    run(d, j_id, JUNIOR)
    r = Records(svc)
    assert r.queue() == []  # finished but not confirmed
    d.confirm(j_id, share=False)
    d.confirm(s_id, share=True)
    assert [q["id"] for q in r.queue()] == [s_id]
    with pytest.raises(ReviewError, match="not been shared"):
        r.transcript(j_id)


def test_review_records_who_and_when_and_feeds_the_index(svc, pair, tmp_path):
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    r = Records(svc)
    recs = {x["kind"]: x for x in r.for_debrief(did)}
    with pytest.raises(ReviewError, match="not been shared"):
        r.review(recs["learned"]["id"], "approve", "Fran")
    d.confirm(did, share=True)
    with pytest.raises(ReviewError, match="your name"):
        r.review(recs["learned"]["id"], "approve", " ")
    a = r.review(recs["learned"]["id"], "approve", "Fran")
    e = r.review(recs["broken_assumption"]["id"], "edit", "Fran", before="The website is how they find us")
    x = r.review(recs["action"]["id"], "reject", "Sam")
    assert (a["status"], a["reviewed_by"]) == ("approved", "Fran") and a["reviewed_at"]
    assert (e["status"], e["before"]) == ("approved", "The website is how they find us")
    assert x["status"] == "rejected"
    assert svc.index.count() == 2  # approved and shared: indexed; rejected: not
    rows = list(csv.DictReader(open(r.export(tmp_path, "csv"), encoding="utf-8")))
    assert sorted(row["kind"] for row in rows) == ["broken_assumption", "learned"]
    [ba] = [row for row in rows if row["kind"] == "broken_assumption"]
    assert ba["text"] == f"The website is how they find us -> {ba['after']}"  # an edited one reads on its own too
    data = json.loads(r.export(tmp_path, "json").read_text())
    assert {row["reviewed_by"] for row in data} == {"Fran"}
    dash = r.dashboard()
    assert sum(x["items"] for x in dash["theme_depth"]) == 2
    assert dash["assumptions"] == [{"belief before": "The website is how they find us", "debriefs": 1}]
    assert dash["progress"] == [{"debriefs": "planned", "count": 2}, {"debriefs": "done", "count": 1}]
    from coach.debrief_file import read_debriefs
    from coach.ingest import ingest
    from tests.conftest import DATA

    ingest(svc.db, read_debriefs(DATA / "two_debriefs.jsonl"))  # past debriefs: not planned in this programme
    assert r.dashboard()["progress"] == dash["progress"]
    # re-extraction keeps reviewed items, replaces pending ones, and duplicates nothing
    before = r.for_debrief(did)
    pending = sum(x["status"] == "pending" for x in before)
    assert r.reextract(None) == pending
    after = r.for_debrief(did)
    assert len(after) == len(before)
    assert [x for x in after if x["status"] != "pending"] == [x for x in before if x["status"] != "pending"]


def test_pair_synthesis_shows_overlap_and_gaps(svc, pair):
    d, p = pair
    s_id, j_id = d.open(p.id, "senior"), d.open(p.id, "junior")
    run(d, s_id, SENIOR)
    run(d, j_id, JUNIOR)
    with pytest.raises(ReviewError, match="Both sides"):
        pair_synthesis(svc, p.id)
    d.confirm(s_id, share=True)
    d.confirm(j_id, share=True)
    syn = pair_synthesis(svc, p.id)
    assert any("TikTok before Google" in o["taught"] and "TikTok before Google" in o["learned"] for o in syn["overlap"])
    assert any("watch time" in t for t in syn["taught_not_learned"])


def test_pair_synthesis_takes_a_corrected_taught_answer(svc, pair):
    d, p = pair
    s_id, j_id = d.open(p.id, "senior"), d.open(p.id, "junior")
    run(d, s_id, SENIOR)
    run(d, j_id, JUNIOR[:1] + ["Nothing much, really, we chatted."] + JUNIOR[2:])
    for _ in d.correct(j_id, "taught", "I showed him how teenagers search TikTok before Google for shops."):
        pass
    d.confirm(s_id, share=True)
    d.confirm(j_id, share=True)
    syn = pair_synthesis(svc, p.id)
    taught = [o["taught"] for o in syn["overlap"]] + syn["taught_not_learned"]
    assert "I showed him how teenagers search TikTok before Google for shops." in taught  # the correction counts
    assert not any("I showed him how TikTok search works" in t for t in taught)  # the answer it replaced does not


def test_a_refused_review_changes_nothing_and_marks_nothing(svc, pair):
    from coach import index_lock

    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    d.confirm(did, share=True)
    svc.index.count()
    with pytest.raises(ReviewError, match="No such record"):
        Records(svc).review(99999, "approve", "Fran")
    assert not index_lock.is_behind(svc.settings.index_dir) and not svc.index.catching_up()


def test_items_the_participant_unticks_are_withdrawn_never_reviewed_or_indexed(svc, pair):
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    recs = Records(svc).for_debrief(did)
    keep = [r["id"] for r in recs if r["kind"] != "action"]
    withdrawn = [r["id"] for r in recs if r["kind"] == "action"]
    d.confirm(did, share=True, keep=keep)
    status = {r["id"]: r["status"] for r in Records(svc).for_debrief(did)}
    assert {status[i] for i in withdrawn} == {"withdrawn"} and {status[i] for i in keep} == {"pending"}
    with pytest.raises(ReviewError, match="removed this item"):
        Records(svc).review(withdrawn[0], "approve", "Fran")
    for i in keep:
        Records(svc).review(i, "approve", "Fran")
    assert svc.index.count() == len(keep)
    assert all(r["kind"] != "action" for r in Records(svc).approved())


def test_sharing_can_be_taken_back_and_given_again_after_a_review(svc, pair):
    """Consent changes after approval: the approved items leave the index, and come back."""
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR)
    d.confirm(did, share=True)
    for r in Records(svc).for_debrief(did):
        Records(svc).review(r["id"], "approve", "Fran")
    approved = len(Records(svc).for_debrief(did))
    assert svc.index.count() == approved > 0
    d.confirm(did, share=False, keep=[])  # the UI sends the tick boxes again: they count no more
    assert {r["status"] for r in Records(svc).for_debrief(did)} == {"approved"}
    assert svc.index.count() == 0 and not Records(svc).queue()
    assert Records(svc).approved() == []  # exports draw on shared debriefs only
    d.confirm(did, share=True)
    assert svc.index.count() == approved and len(Records(svc).approved()) == approved


def test_a_correction_replaces_the_earlier_answer_or_adds_to_it(svc, pair):
    """The helper's case: junk answered to "what will you do differently", then corrected. A
    replacing correction leaves the junk in the transcript but out of the records and the
    summary; an adding one keeps both. A correction counts for the question it corrects, not
    for the one asked just before it."""
    d, p = pair
    did = d.open(p.id, "senior")
    run(d, did, SENIOR[:3] + ["I'll rewrite the whole intranet in Klingon by Friday."])
    for _ in d.correct(did, "action", "I'll ask every store manager to post one short video a week."):
        pass
    run(d, did, [SENIOR[4]])
    texts = [r["text"] for r in Records(svc).for_debrief(did) if r["kind"] == "action"]
    assert texts == ["I'll ask every store manager to post one short video a week."]
    v = d.view(did)
    assert dict(v.summary)["What you'll do differently"] == ["I'll ask every store manager to post one short video a week."]
    assert "Klingon" in " ".join(t for _, t in v.turns)  # never lost: still in the transcript

    did2 = d.open(d.create_pair(senior="CFO", junior="Analyst", topic="Dashboards").id, "senior")
    run(d, did2, SENIOR[:3] + ["I'll ask every store manager to post one short video a week."])
    for _ in d.correct(did2, "action", "I'll also book a monthly session with her on analytics.", replace=False):
        pass
    run(d, did2, [SENIOR[4]])
    actions = {r["text"] for r in Records(svc).for_debrief(did2) if r["kind"] == "action"}
    assert actions == {"I'll ask every store manager to post one short video a week.",
                       "I'll also book a monthly session with her on analytics."}
