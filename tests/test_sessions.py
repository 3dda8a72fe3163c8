"""A pair's sessions, the check-ins after them, when the debrief becomes due, and pairs at risk
(domain level, real SQLite and PostgreSQL; the browser tests drive the pages)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from coach.policy import AccessDenied, Actor
from coach.risk import AT_RISK, OK, PairFacts, Side, Thresholds, reasons
from coach.services import Services
from coach.sessions import PRIVATE_NOTE, SessionError
from coach.store.models import AccessLog, CheckIn, Pair, utcnow
from tests.conftest import answer_all

PROGRAMME = "Retail pilot"
TODAY = utcnow().date()


@pytest.fixture
def svc(make_settings, either_database):
    s = Services(make_settings(database_url=either_database))
    yield s
    s.close()


def person(svc, name: str, role: str = "participant", programme: str | None = None) -> Actor:
    u = svc.accounts.create_user(name, role, password="correct horse 42", programme=programme)
    return Actor.of(u)


def make_pair(svc, senior: Actor, junior: Actor, topic: str = "TikTok search", sessions: int | None = 2,
              programme: str = PROGRAMME) -> str:
    d = svc.debriefs
    p = d.create_pair(senior="Retail director", junior="Social media associate", topic=topic, sessions=sessions,
                      programme=programme)
    d.open(p.id, "senior", participant_id=senior.id)
    d.open(p.id, "junior", participant_id=junior.id)
    return p.id


@pytest.fixture
def people(svc):
    return {"ann": person(svc, "ann@example.org"), "jo": person(svc, "jo@example.org"),
            "fran": person(svc, "fran@example.org", "facilitator", PROGRAMME),
            "olga": person(svc, "olga@example.org", "facilitator", "Other programme"),
            "max": person(svc, "max@example.org")}


@pytest.fixture
def pair(svc, people):
    return make_pair(svc, people["ann"], people["jo"])


def answer(svc, actor, usefulness=4, role_answer="yes", fit="good", comment=None):
    [ci] = svc.sessions.pending(actor)
    svc.sessions.answer(actor, ci["id"], usefulness, role_answer, fit if ci["asks_fit"] else None, comment)
    return ci


def test_a_participant_logs_a_session_and_each_side_gets_a_check_in(svc, people, pair):
    ses = svc.sessions
    ses.log(people["jo"], pair, TODAY - timedelta(days=3), 45, "  How TikTok\nsearch works ")
    [row] = ses.sessions(people["ann"], pair)  # both participants see the pair's sessions
    assert (row["held_on"], row["minutes"], row["covered"], row["logged_as"]) == (
        TODAY - timedelta(days=3), 45, "How TikTok search works", "junior")
    ann, jo = ses.pending(people["ann"]), ses.pending(people["jo"])
    assert [c["role"] for c in ann] == ["senior"] and [c["role"] for c in jo] == ["junior"]
    # after the first session: the pairing-fit question for both, and each role's own question
    assert ann[0]["asks_fit"] and jo[0]["asks_fit"] and ann[0]["number"] == 1
    assert ann[0]["role_question"] == "Is this a topic where your junior knows more than you?"
    assert jo[0]["role_question"] == "Is your senior showing up as a learner?"
    assert "facilitator" in PRIVATE_NOTE and "never" in PRIVATE_NOTE


def test_the_fit_question_comes_back_only_while_a_side_is_still_deciding(svc, people, pair):
    ses = svc.sessions
    ses.log(people["ann"], pair, TODAY - timedelta(days=10), 30)
    answer(svc, people["ann"], fit="deciding")
    answer(svc, people["jo"], fit="good")
    ses.log(people["ann"], pair, TODAY - timedelta(days=3), 30)
    assert ses.pending(people["ann"])[0]["asks_fit"] and ses.pending(people["ann"])[0]["number"] == 2
    assert not ses.pending(people["jo"])[0]["asks_fit"]
    answer(svc, people["jo"], role_answer="partly")  # no fit asked: none needed


def test_a_refused_check_in_loses_nothing_and_is_answered_once(svc, people, pair):
    ses = svc.sessions
    ses.log(people["ann"], pair, TODAY, 30)
    [ci] = ses.pending(people["jo"])
    with pytest.raises(SessionError, match="Is your senior showing up as a learner") as e:
        ses.answer(people["jo"], ci["id"], 3, None, "good", "He listened.")
    assert "How is the pairing" not in str(e.value)  # only what is missing is named
    with pytest.raises(SessionError, match="How is the pairing working"):
        ses.answer(people["jo"], ci["id"], 3, "yes", None)
    with pytest.raises(SessionError, match="cannot be stored"):
        ses.answer(people["jo"], ci["id"], 3, "yes", "good", "broken \ud83d emoji")
    assert [c["id"] for c in ses.pending(people["jo"])] == [ci["id"]]  # still waiting
    ses.answer(people["jo"], ci["id"], 3, "yes", "good", "He listened <b>well</b>.")
    assert ses.pending(people["jo"]) == []
    with pytest.raises(SessionError, match="already answered"):
        ses.answer(people["jo"], ci["id"], 1, "no", "not")
    [row] = ses.check_ins(people["fran"], pair)
    assert (row["usefulness"], row["fit"], row["role_answer"], row["comment"]) == (3, "good", "yes",
                                                                                    "He listened <b>well</b>.")


def test_bad_sessions_are_refused_clearly(svc, people, pair):
    ses, jo = svc.sessions, people["jo"]
    for day, minutes, covered, problem in [
        (TODAY + timedelta(days=5), 30, None, "in the future"),
        ("31/03/2026", 30, None, "not a date"),
        ("", 30, None, "give the session's date"),
        (TODAY, 0, None, "between 5 and 480"),
        (TODAY, "an hour", None, "length in minutes"),
        (TODAY, 30, "x" * 301, "keep it under 300"),
        (TODAY, 30, "bad \udc00 text", "cannot be stored"),
    ]:
        with pytest.raises(SessionError, match=problem):
            ses.log(jo, pair, day, minutes, covered)
    assert ses.sessions(jo, pair) == [] and ses.pending(jo) == []
    ses.log(jo, pair, TODAY, "45", None)
    with pytest.raises(SessionError, match="already logged"):
        ses.log(people["ann"], pair, TODAY.isoformat(), 30)
    svc.debriefs.close_pair(people["fran"], pair)
    with pytest.raises(SessionError, match="closed"):
        ses.log(jo, pair, TODAY - timedelta(days=1), 30)


def test_role_boundaries_hold_for_sessions_and_check_ins(svc, people, pair):
    ses = svc.sessions
    other = make_pair(svc, people["max"], person(svc, "kim@example.org"), topic="Notebooks",
                      programme="Other programme")
    with pytest.raises(AccessDenied):
        ses.log(people["max"], pair, TODAY, 30)  # a participant of another pair
    with pytest.raises(AccessDenied):
        ses.log(people["olga"], pair, TODAY, 30)  # a facilitator of another programme
    with pytest.raises(AccessDenied):
        ses.sessions(people["max"], pair)
    ses.log(people["fran"], pair, TODAY, 60)  # the programme's facilitator may
    ses.log(people["max"], other, TODAY, 30)
    [jo_ci] = ses.pending(people["jo"])
    for intruder in (people["ann"], people["max"]):  # not even the other side of the pair
        with pytest.raises(AccessDenied):
            ses.answer(intruder, jo_ci["id"], 4, "yes", "good")
    answer(svc, people["jo"], role_answer="no", comment="He checks his phone.")
    assert all(c["role"] == "senior" for c in ses.pending(people["ann"]))  # never the junior's
    for p in (people["ann"], people["jo"]):  # check-ins are the facilitator's to read, not a participant's
        with pytest.raises(AccessDenied):
            ses.check_ins(p, pair)
    with pytest.raises(AccessDenied):
        ses.check_ins(people["olga"], pair)
    with pytest.raises(AccessDenied):
        ses.check_ins(Actor(99, "root", "admin"), pair)
    with pytest.raises(AccessDenied):
        svc.risk.overview(people["ann"])
    assert ses.check_ins(people["fran"], pair)[0]["comment"] == "He checks his phone."
    with svc.db.session() as s:
        log = [(a.username, a.action, a.target) for a in s.scalars(select(AccessLog))]
    assert ("fran@example.org", "checkins.read", f"pair:{pair}") in log
    assert [r["pair"] for r in svc.risk.overview(people["fran"])] == [pair]  # only their programme
    assert [r["pair"] for r in svc.risk.overview(people["olga"])] == [other]
    with svc.db.session() as s:
        assert s.scalar(select(AccessLog).where(AccessLog.action == "pairs.read",
                                                AccessLog.username == "fran@example.org")) is not None


def test_the_debrief_becomes_due_after_the_planned_sessions_or_when_opened_early(svc, people, pair):
    ses = svc.sessions
    assert not ses.status(people["ann"], pair).due
    ses.log(people["ann"], pair, TODAY - timedelta(days=8), 30)
    st = ses.status(people["jo"], pair)
    assert (st.held, st.planned, st.due) == (1, 2, False)
    ses.log(people["jo"], pair, TODAY - timedelta(days=1), 30)
    st = ses.status(people["jo"], pair)
    assert st.due and st.due_since == TODAY - timedelta(days=1)
    [mine] = ses.my_pairs(people["ann"])
    assert mine["status"].due and mine["role"] == "senior"

    early = make_pair(svc, people["max"], person(svc, "kim@example.org"), topic="Notebooks", sessions=6)
    with pytest.raises(AccessDenied):
        ses.open_debrief(people["max"], early)  # a participant cannot make it due
    with pytest.raises(AccessDenied):
        ses.open_debrief(people["olga"], early)
    ses.open_debrief(people["fran"], early)
    st = ses.status(people["max"], early)
    assert st.due and st.opened_early and st.held == 0


def test_a_participant_turns_reminders_off_and_on(svc, people):
    assert svc.sessions.reminders(people["ann"])
    svc.sessions.set_reminders(people["ann"], False)
    assert not svc.sessions.reminders(people["ann"])
    with pytest.raises(AccessDenied):
        svc.sessions.set_reminders(people["fran"], False)
    svc.sessions.set_reminders(people["ann"], True)
    assert svc.sessions.reminders(people["ann"])


# -- pairs at risk ---------------------------------------------------------------------------

def facts(created_days_ago=0, held=0, planned=4, fits=None, learner=None, due_days_ago=None, done=(),
          taught=None, starts_in=None) -> PairFacts:
    p = Pair(id="p-1", programme="P", senior="S", junior="J", topic="T", sessions=planned, extra={})
    p.created_at = utcnow() - timedelta(days=created_days_ago)
    p.start_date = TODAY + timedelta(days=starts_in) if starts_in is not None else None
    due = TODAY - timedelta(days=due_days_ago) if due_days_ago is not None else None
    from coach.sessions import PairStatus

    st = PairStatus("p-1", "T", planned, held, None, due is not None, due, False)
    sides = {r: Side(r, f"d-{r}", "done" if r in done else "open", fits=list((fits or {}).get(r, [])))
             for r in ("senior", "junior")}
    sides["junior"].role_answers = list(learner or [])
    return PairFacts(p, st, sides, None, taught)


T = Thresholds(first_session_days=14, overdue_days=14)


@pytest.mark.parametrize("f, expected", [
    (facts(created_days_ago=13), []),
    (facts(created_days_ago=20), ["no session logged in the 20 days since pairing"]),
    (facts(created_days_ago=20, held=1), []),
    (facts(fits={"senior": ["not"]}), ["the senior says the pairing is not a good fit"]),
    (facts(fits={"junior": ["deciding"]}), []),
    (facts(fits={"junior": ["deciding", "deciding"]}), ["the junior is still deciding about the pairing (2 times)"]),
    (facts(learner=["no", "yes"]), []),
    (facts(learner=["yes", "no"]), ["the junior says the senior is not showing up as a learner"]),
    (facts(due_days_ago=10), []),
    (facts(due_days_ago=20, done=("junior",)), ["senior debrief overdue (20 days since due)"]),
    (facts(due_days_ago=20, done=("junior", "senior")), []),
    (facts(taught=(2, 3)), ["the debriefs disagree: 2 of 3 points the junior says they taught have nothing near "
                            "them in the senior's records"]),
    (facts(taught=(1, 4)), []),
    # a pair planned to start a month after pairing is not late before its first planned session
    (facts(created_days_ago=30, starts_in=-5), []),
    (facts(created_days_ago=40, starts_in=-20), [
        f"no session logged in the 20 days since the planned first session ({TODAY - timedelta(days=20):%d %b})"]),
    (facts(created_days_ago=20, starts_in=-30), ["no session logged in the 20 days since pairing"]),
])
def test_each_at_risk_rule(f, expected):
    assert reasons(f, TODAY, T) == expected


def test_the_disagreement_threshold_is_a_setting(make_settings, monkeypatch):
    from coach.config import ConfigError, load_settings

    monkeypatch.setenv("COACH_DISAGREE_SHARE", "0.25")
    t = Thresholds.of(load_settings(data_dir=make_settings().data_dir))
    assert t.disagree_share == 0.25
    assert reasons(facts(taught=(1, 4)), TODAY, t) == [
        "the debriefs disagree: 1 of 4 points the junior says they taught have nothing near them in the senior's "
        "records"]
    assert reasons(facts(taught=(1, 4)), TODAY, Thresholds()) == []  # the default, 0.5
    monkeypatch.setenv("COACH_DISAGREE_SHARE", "1.5")
    with pytest.raises(ConfigError, match="COACH_DISAGREE_SHARE"):
        load_settings()


# -- planned sessions ------------------------------------------------------------------------

def test_a_pair_plans_its_sessions_from_a_first_date_and_a_rhythm(svc, people):
    from coach.sessions import planned_dates

    d, ses, fran = svc.debriefs, svc.sessions, people["fran"]
    start = TODAY - timedelta(days=20)
    p = d.create_pair(senior="Retail director", junior="Social media associate", topic="TikTok search",
                      sessions=3, programme=PROGRAMME, start_date=start, every_days=14)
    d.open(p.id, "senior", participant_id=people["ann"].id)
    d.open(p.id, "junior", participant_id=people["jo"].id)
    assert planned_dates(p) == (start, start + timedelta(days=14), start + timedelta(days=28))
    st = ses.status(fran, p.id)
    assert st.next_planned == start and st.missed(TODAY) and st.plan_end == start + timedelta(days=28)
    ses.log(people["jo"], p.id, start + timedelta(days=2), 30)  # held two days late: counts as the first
    st = ses.status(fran, p.id)
    assert st.next_planned == start + timedelta(days=14) and st.missed(TODAY)
    [row] = svc.risk.overview(fran)
    assert (row["next_planned"], row["missed"]) == (start + timedelta(days=14), True)
    ses.log(people["jo"], p.id, TODAY, 30)
    st = ses.status(fran, p.id)
    assert st.next_planned == start + timedelta(days=28) and not st.missed(TODAY)  # 8 days ahead
    # the facilitator moves the plan: a later first date, every week
    d.update_pair(fran, p.id, "TikTok search", 3, (TODAY + timedelta(days=1), 7))
    assert ses.status(fran, p.id).plan == tuple(TODAY + timedelta(days=1 + 7 * k) for k in range(3))
    d.update_pair(fran, p.id, "TikTok search", 3, (TODAY, None))  # no rhythm: the first date alone
    st = ses.status(fran, p.id)
    assert st.plan == (TODAY,) and st.next_planned is None and st.plan_end is None  # 2 held, 1 date planned
    ses.log(people["ann"], p.id, TODAY - timedelta(days=1), 30)
    assert ses.status(fran, p.id).next_planned is None  # due: nothing more to plan
    with pytest.raises(AccessDenied):  # another programme's facilitator cannot replan it
        d.update_pair(people["olga"], p.id, "TikTok search", 3, (TODAY, 7))


def test_a_bad_plan_is_refused_clearly_and_nothing_changes(svc, people, pair):
    from coach.debriefs import DebriefError

    d = svc.debriefs
    for every, problem in ((120, "every 90 days"), (-7, "every 90 days"), ("often", "not a number of days")):
        with pytest.raises(DebriefError, match=problem):
            d.create_pair(senior="S", junior="J", topic="T", sessions=2, programme=PROGRAMME,
                          start_date=TODAY, every_days=every)
        with pytest.raises(DebriefError, match=problem):
            d.update_pair(people["fran"], pair, "New topic", 2, (TODAY, every))
    assert [p.id for p in d.pairs()] == [pair]
    [p] = d.pairs()
    assert (p.topic, p.start_date, p.session_every_days) == ("TikTok search", None, None)


def test_a_participants_future_is_their_own_today(svc, people, pair):
    ses, jo = svc.sessions, people["jo"]
    with pytest.raises(SessionError, match="in the future"):  # told their today, no slack
        ses.log(jo, pair, TODAY + timedelta(days=1), 30, today=TODAY)
    ses.log(jo, pair, TODAY + timedelta(days=1), 30, today=TODAY + timedelta(days=1))  # a zone ahead of UTC
    assert [r["held_on"] for r in ses.sessions(jo, pair)] == [TODAY + timedelta(days=1)]


def backdate(svc, pair_id: str, days: int) -> None:
    with svc.db.session() as s:
        s.execute(update(Pair).where(Pair.id == pair_id).values(created_at=utcnow() - timedelta(days=days)))


def test_the_programme_overview_lists_every_pair_worst_first(svc, people, pair):
    ses, fran = svc.sessions, people["fran"]
    quiet = make_pair(svc, person(svc, "al@example.org"), person(svc, "bo@example.org"), topic="Quiet pair")
    backdate(svc, quiet, 30)  # no first session within 14 days
    ses.log(people["jo"], pair, TODAY - timedelta(days=2), 30)
    answer(svc, people["ann"], fit="not")
    answer(svc, people["jo"], fit="deciding", role_answer="no")
    fine = make_pair(svc, person(svc, "cy@example.org"), person(svc, "di@example.org"), topic="Fine pair")
    rows = svc.risk.overview(fran)
    assert [r["topic"] for r in rows] == ["TikTok search", "Quiet pair", "Fine pair"]
    worst = rows[0]
    assert worst["status"] == AT_RISK and worst["held"] == 1 and worst["planned"] == 2
    assert worst["reasons"] == ["the senior says the pairing is not a good fit",
                                "the junior says the senior is not showing up as a learner"]
    assert worst["fit"] == {"senior": ["not a good fit"], "junior": ["still deciding"]}
    assert worst["debriefs"] == {"senior": "not due", "junior": "not due"} and worst["last_activity"]
    assert rows[1]["reasons"] == ["no session logged in the 30 days since pairing"]
    assert rows[2]["status"] == OK and rows[2]["reasons"] == []
    assert svc.risk.counts(rows) == {AT_RISK: 2, OK: 1, "closed": 0}
    assert [r["topic"] for r in svc.risk.overview(fran, at_risk_only=True)] == ["TikTok search", "Quiet pair"]
    svc.debriefs.close_pair(fran, quiet)
    assert [r["status"] for r in svc.risk.overview(fran)][-1] == "closed"
    assert fine


def test_an_overdue_debrief_puts_the_pair_at_risk(svc, people, pair):
    ses = svc.sessions
    ses.log(people["ann"], pair, TODAY - timedelta(days=40), 30)
    ses.log(people["ann"], pair, TODAY - timedelta(days=20), 30)
    [row] = svc.risk.overview(people["fran"])
    assert row["reasons"] == ["senior and junior debrief overdue (20 days since due)"]
    assert row["debriefs"] == {"senior": "due, not started", "junior": "due, not started"}


SENIOR = ["I learned that teenagers search TikTok before Google when they look for a shop.",
          "She showed me how she searches for a café near her flat; every result was a video.",
          "I thought our website was where young customers found us, but it turns out most never visit it.",
          "I'll ask every store manager to post one short video a week, starting in March.",
          "They worked well because she used our own stores as examples."]
JUNIOR_AGREES = ["I showed him that teenagers search TikTok before Google when they look for a shop.",
                 "I showed him a café search near my flat where every result was a video.",
                 "He pushed back on whether video is serious enough for a brand like ours.",
                 "I feel more confident presenting to directors.", "That he took notes."]
JUNIOR_DISAGREES = ["I taught him how to build pivot tables in Excel with our payroll export.",
                    "I also showed him keyboard shortcuts for formulas and how to use VLOOKUP on the supplier list.",
                    "He pushed back on whether spreadsheets matter for a director.",
                    "I feel more confident presenting to directors.", "That he took notes."]


def both_shared(svc, people, pair, junior) -> tuple[str, str]:
    d = svc.debriefs
    s_id, j_id = (d.open(pair, r) for r in ("senior", "junior"))
    for actor, did, answers in ((people["ann"], s_id, SENIOR), (people["jo"], j_id, junior)):
        answer_all(d, actor, did, answers)
        if not d.view(actor, did).done:  # follow-ups left: end it there, as a participant may
            list(d.end(actor, did))
    d.confirm(people["ann"], s_id, share=True)
    d.confirm(people["jo"], j_id, share=True)
    return s_id, j_id


@pytest.mark.parametrize("junior, disagree", [(JUNIOR_AGREES, False), (JUNIOR_DISAGREES, True)])
def test_two_debriefs_that_disagree_put_the_pair_at_risk(svc, people, pair, junior, disagree):
    both_shared(svc, people, pair, junior)
    svc.sessions.log(people["ann"], pair, TODAY, 30)
    [row] = svc.risk.overview(people["fran"])
    assert row["debriefs"] == {"senior": "shared", "junior": "shared"}
    assert any("debriefs disagree" in r for r in row["reasons"]) == disagree, row["reasons"]


def test_the_pair_synthesis_runs_again_only_when_the_debriefs_changed(svc, people, pair):
    from coach.store.models import PairAssessment

    def assessed():
        with svc.db.session() as s:
            a = s.get(PairAssessment, pair)
            return (a.assessed_at, a.fingerprint, a.unmatched, a.taught) if a else None

    fran = people["fran"]
    s_id, _ = both_shared(svc, people, pair, JUNIOR_AGREES)
    [row] = svc.risk.overview(fran)
    first = assessed()
    assert first is not None and first[3] and not any("disagree" in r for r in row["reasons"])
    svc.sessions.log(people["ann"], pair, TODAY, 30)  # a session, check-ins: not what the synthesis reads
    [again] = svc.risk.overview(fran)
    assert assessed() == first and again["reasons"] == row["reasons"]  # kept, not assessed again
    # the facilitator rejects every senior record the taught points matched: the debriefs now disagree
    for r in svc.review.items(fran, s_id):
        if r["kind"] in ("learned", "broken_assumption"):
            svc.review.decide(fran, s_id, r["id"], "reject", reason="not what was said")
    [changed] = svc.risk.overview(fran)
    now = assessed()
    assert now[0] > first[0] and now[1] != first[1]  # assessed again
    assert any("debriefs disagree" in r for r in changed["reasons"]), changed["reasons"]
    svc.risk.overview(fran)
    assert assessed() == now


def test_check_ins_are_removed_with_their_pair(svc, people, pair):
    svc.sessions.log(people["ann"], pair, TODAY, 30)
    svc.debriefs.remove_pair(people["fran"], pair)
    with svc.db.session() as s:
        assert s.scalars(select(CheckIn)).all() == []


def test_upgrade_to_sessions_keeps_accounts_and_pairs_and_goes_back(tmp_path):
    from sqlalchemy import create_engine, text

    from coach.store.db import Database, head_revision, migrate, schema_version
    from coach.store.models import User

    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = create_engine(url)
    migrate(eng, "0008")
    with eng.begin() as c:
        c.execute(text("INSERT INTO users (username, role, active, review_pending, created_at) "
                       "VALUES ('ann@example.org', 'participant', 1, 0, CURRENT_TIMESTAMP)"))
        c.execute(text("INSERT INTO pairs (id, programme, senior, junior, topic, extra, created_at) "
                       "VALUES ('p1', 'default', 'CFO', 'Analyst', 'AI tools', '{}', CURRENT_TIMESTAMP)"))
    eng.dispose()
    db = Database(url)
    assert schema_version(db.engine) == head_revision()  # 0009 and any later migration
    with db.session() as s:
        assert s.scalar(select(User.reminders).where(User.username == "ann@example.org")) is True
        assert s.get(Pair, "p1").topic == "AI tools"
    from alembic import command

    from coach.store.db import _alembic_config

    with db.engine.begin() as conn:  # and back down, for an operator who has to
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
    assert schema_version(db.engine) == "0008"
    db.dispose()
    Database(url).dispose()  # and up again


def test_upgrade_to_planned_sessions_keeps_pairs_and_goes_back(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, text

    from coach.store.db import Database, _alembic_config, head_revision, migrate, schema_version
    from coach.store.models import PairAssessment

    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = create_engine(url)
    migrate(eng, "0009")
    with eng.begin() as c:
        c.execute(text("INSERT INTO pairs (id, programme, senior, junior, topic, sessions, start_date, extra, "
                       "created_at) VALUES ('p1', 'default', 'CFO', 'Analyst', 'AI tools', 4, '2026-03-02', '{}', "
                       "CURRENT_TIMESTAMP)"))
    eng.dispose()
    db = Database(url)  # migrates to head: through 0010
    assert schema_version(db.engine) == head_revision()
    with db.session() as s:
        p = s.get(Pair, "p1")
        assert (p.topic, p.sessions, p.session_every_days) == ("AI tools", 4, None)  # no rhythm: as before
        s.add(PairAssessment(pair_id="p1", fingerprint="x", unmatched=1, taught=2))
    with db.engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    assert schema_version(db.engine) == "0009"
    db.dispose()
    Database(url).dispose()  # and up again


def test_a_participant_downloads_their_check_ins_and_deleting_the_account_removes_their_words(svc, people, pair):
    ses = svc.sessions
    ses.log(people["jo"], pair, TODAY - timedelta(days=1), 30, "Jo's line on TikTok search")
    answer(svc, people["jo"], comment="Jo's private comment")
    answer(svc, people["ann"], comment="Ann's private comment")
    mine = ses.export(people["jo"])
    assert [c["comment"] for c in mine["check_ins"]] == ["Jo's private comment"]  # never the other side's
    assert mine["sessions"][pair][0]["covered"] == "Jo's line on TikTok search" and mine["reminders"] is True
    svc.accounts.delete_user(people["jo"].id)
    [row] = ses.check_ins(people["fran"], pair)
    assert row["comment"] == "Ann's private comment"
    assert ses.sessions(people["ann"], pair)[0]["covered"] is None  # the session stays, Jo's words go


def test_times_are_shown_in_the_viewers_time_zone():
    from datetime import UTC, datetime

    from coach.ui.common import local_time

    t = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert local_time(t, "Pacific/Auckland") == "2026-12-07 12:30 NZDT"
    assert local_time(t.replace(tzinfo=None), "Europe/Berlin") == "2026-12-07 00:30 CET"  # SQLite's naive UTC
    assert local_time(t, "Not/AZone") == local_time(t, None) == "2026-12-06 23:30 UTC"


def test_the_pairs_list_shows_the_next_planned_session_and_flags_a_missed_one(svc, people):
    from coach.ui.facilitator import PAIR_COLUMNS, counts_md, risk_row

    d, fran = svc.debriefs, people["fran"]
    for topic, start in (("Missed", TODAY - timedelta(days=2)), ("Ahead", TODAY + timedelta(days=5)),
                         ("Unplanned", None)):
        p = d.create_pair(senior="S", junior="J", topic=topic, sessions=2, programme=PROGRAMME, start_date=start,
                          every_days=14)
        d.open(p.id, "senior", participant_id=person(svc, f"s-{topic}@example.org").id)
        d.open(p.id, "junior", participant_id=person(svc, f"j-{topic}@example.org").id)
    listed = {p["id"]: p for p in d.pair_list(fran)}
    rows = svc.risk.overview(fran)
    cells = {r["topic"]: dict(zip(PAIR_COLUMNS, risk_row(r, listed[r["pair"]]), strict=True)) for r in rows}
    assert cells["Missed"]["next planned session"] == f"⚠ {TODAY - timedelta(days=2):%a %d %b}: missed (not logged)"
    assert cells["Ahead"]["next planned session"] == f"{TODAY + timedelta(days=5):%a %d %b}"
    assert cells["Unplanned"]["next planned session"] == "none planned"
    assert all(c["status"] == "ok" for c in cells.values())  # a missed date is a flag, not a risk by itself
    md = counts_md(svc.risk.counts(rows), rows)
    assert f"* **Missed**: the session planned for {TODAY - timedelta(days=2):%a %d %b} is not logged" in md
    assert "Ahead" not in md and "⚠" not in md
