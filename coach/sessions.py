"""A pair's mentoring sessions and the participants' check-ins after each.

Either participant logs a session from their own page (or the facilitator does); logging one
writes an unanswered check-in for each side. A check-in is private to the programme's
facilitator: its participant answers it and never sees it again, the other participant never
sees it at all, and a facilitator reading check-ins is written to the access log. The debrief
becomes due when the planned sessions are logged, or when the facilitator opens it early.
Every action checks, here, that the actor may take it (coach.policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from coach.accounts import readable
from coach.debriefs import DebriefError
from coach.policy import OPERATOR, AccessDenied, Actor, check_reviewer
from coach.store.db import Database
from coach.store.models import CheckIn, Debrief, Pair, PairSession, User, utcnow

Audit = Callable[[Actor, str, str, str | None], None]  # (actor, action, target, detail)

MAX_COVERED_CHARS = 300
MAX_COMMENT_CHARS = 1000
MINUTES = (5, 480)
FITS = {"good": "good fit", "deciding": "still deciding", "not": "not a good fit"}
ROLE_ANSWERS = {"yes": "yes", "partly": "partly", "no": "no"}
USEFULNESS = {1: "not useful", 2: "a little useful", 3: "useful", 4: "very useful"}
# the role-specific question of each side's check-in
ROLE_QUESTION = {"junior": "Is your senior showing up as a learner?",
                 "senior": "Is this a topic where your junior knows more than you?"}
FIT_QUESTION = "How is the pairing working for you?"
USEFULNESS_QUESTION = "How useful was this session?"
PRIVATE_NOTE = ("Only your programme's facilitator sees your check-in answers; your "
                "{other} never does.")


class SessionError(DebriefError):
    """A request about sessions that cannot be done as asked; the message is safe to show."""


# How often a pair plans to meet, as the facilitator chooses it (days between sessions; 0: only
# the first session's date is planned). A rhythm rather than a list of dates: programmes agree one
# at kick-off ("every two weeks"), it is one choice instead of typing four to six dates, and it
# keeps the weekday; a session held on another day is logged on the day it was held.
RHYTHMS = {7: "every week", 14: "every 2 weeks", 21: "every 3 weeks", 28: "every 4 weeks",
           0: "first session only (no fixed rhythm)"}


@dataclass
class PairStatus:
    """Where a pair's sessions stand, as both participants and the facilitator see it."""

    pair_id: str
    topic: str
    planned: int | None
    held: int
    last_session: date | None
    due: bool
    due_since: date | None  # the day the debrief became due (None: not due)
    opened_early: bool
    plan: tuple[date, ...] = ()  # the planned sessions' dates (planned_dates)
    plan_end: date | None = None  # the round's last session: the pair's end date, else its plan's last

    @property
    def next_planned(self) -> date | None:
        """The date of the next planned session not logged yet: the n-th planned date counts as
        held once n sessions are logged, whichever days they were held on."""
        return self.plan[self.held] if not self.due and self.held < len(self.plan) else None

    def missed(self, today: date) -> bool:
        """A planned session's date has passed without a session logged for it."""
        return self.next_planned is not None and self.next_planned < today


def planned_dates(p: Pair) -> tuple[date, ...]:
    return plan_of(p.start_date, p.session_every_days, p.sessions)


def plan_of(start: date | None, every: int | None, sessions: int | None) -> tuple[date, ...]:
    """The planned sessions' dates: from the first session's date, one every ``every`` days for
    the planned number of sessions; the first date alone without a rhythm; none without a date."""
    if start is None:
        return ()
    if not every:
        return (start,)
    return tuple(start + timedelta(days=k * every) for k in range(sessions or 1))


def pair_status(p: Pair, sessions: list[PairSession]) -> PairStatus:
    """Sessions held against planned, and whether (and since when) the debrief is due."""
    dates = sorted(x.held_on for x in sessions)
    opened = (p.extra or {}).get("debrief_opened")
    since: date | None = None
    if p.sessions and len(dates) >= p.sessions:
        since = dates[p.sessions - 1]
    if opened:
        early = date.fromisoformat(opened[:10])
        since = min(since, early) if since else early
    plan = planned_dates(p)
    end = p.end_date or (plan[-1] if p.session_every_days and plan else None)
    return PairStatus(p.id, p.topic, p.sessions, len(dates), dates[-1] if dates else None, since is not None,
                      since, bool(opened), plan, end)


def plan_line(plan: tuple[date, ...], every: int | None, quiet_days: int) -> str:
    """The planned dates in a line a facilitator checks at a glance, and what the reminders do."""
    if not plan:
        return (f"No session dates planned: participants are reminded to log a session after {quiet_days} days "
                "without one.")
    days = ", ".join(f"{d:%a %d %b %Y}" if k in (0, len(plan) - 1) else f"{d:%a %d %b}" for k, d in enumerate(plan))
    after = "" if every else f", then a reminder after {quiet_days} days without a session"
    return f"Planned: {days}. Participants are reminded to log a session the day after a planned date{after}."


def due_line(st: PairStatus, where: str = "") -> str:
    """One line for the participant's page: sessions so far and whether the debrief is due
    (``where``: where the page shows the debrief, if elsewhere)."""
    held = f"{st.held} of {st.planned} planned sessions logged" if st.planned else f"{st.held} sessions logged"
    if st.due:
        return f"{held}. **Your debrief is due**{where}."
    return f"{held}. Your debrief becomes due when the planned sessions are logged (you can start it at any time)."


def clean_line(text: str | None, limit: int, what: str) -> str | None:
    """Optional participant text on one line: None if empty; a clear error if it cannot be kept."""
    text = " ".join((text or "").split())
    if not text:
        return None
    if not readable(text):
        raise SessionError(f"The {what} contains a character that cannot be stored (a broken emoji or symbol, "
                           "perhaps from copying): please type that part again.")
    if len(text) > limit:
        raise SessionError(f"The {what} is {len(text):,} characters; please keep it under {limit:,}.")
    return text


def parse_day(value: date | str | None) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = (value or "").strip()[:10]
    if not text:
        raise SessionError("Please give the session's date.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SessionError(f"“{value}” is not a date like 2026-03-31.") from None


def parse_minutes(value) -> int:
    try:
        minutes = int(float(value))
    except (TypeError, ValueError):
        raise SessionError("Please give the session's length in minutes.") from None
    if not MINUTES[0] <= minutes <= MINUTES[1]:
        raise SessionError(f"A session's length should be between {MINUTES[0]} and {MINUTES[1]} minutes.")
    return minutes


class Sessions:
    def __init__(self, db: Database, audit: Audit, logged: Callable[[], None] = lambda: None):
        """``audit`` writes the access log; ``logged`` is told after a session is logged (the
        mail sender looks for check-ins to send)."""
        self.db, self.audit, self.logged = db, audit, logged

    # -- who belongs to a pair ----------------------------------------------------------------

    @staticmethod
    def _side(s: Session, actor: Actor, pair_id: str) -> str | None:
        """The actor's role in the pair when they are one of its participants, else None."""
        if actor.role != "participant":
            return None
        return s.scalar(select(Debrief.role).where(Debrief.pair_id == pair_id, Debrief.participant_id == actor.id,
                                                   Debrief.source == "interview"))

    def _pair_for(self, s: Session, actor: Actor, pair_id: str) -> tuple[Pair, str]:
        """The pair, if the actor may act on it, and as whom (senior, junior, facilitator, operator).
        A participant of another pair and a facilitator of another programme are told the same."""
        p = s.get(Pair, pair_id) if pair_id else None
        if actor is OPERATOR:
            if p is None:  # the operator at the shell may know every pair: tell them plainly
                raise SessionError(f"There is no pair “{pair_id}” (`python -m coach pair list` lists them).")
            return p, "operator"
        if actor.role == "participant":
            side = self._side(s, actor, pair_id) if p is not None else None
            if side is None:
                raise AccessDenied("This pair is not yours.")
            return p, side  # type: ignore[return-value]
        check_reviewer(actor, p.programme if p is not None else None)
        assert p is not None
        return p, "facilitator"

    @staticmethod
    def _sessions(s: Session, pair_id: str) -> list[PairSession]:
        return list(s.scalars(select(PairSession).where(PairSession.pair_id == pair_id)
                              .order_by(PairSession.held_on, PairSession.id)))

    # -- the participant's page ---------------------------------------------------------------

    def my_pairs(self, actor: Actor) -> list[dict]:
        """The participant's live pairs, newest first: role, status, and the debrief's id."""
        actor.require("participant")
        with self.db.session() as s:
            rows = s.execute(select(Debrief, Pair).join(Pair, Pair.id == Debrief.pair_id)
                             .where(Debrief.participant_id == actor.id, Debrief.source == "interview")
                             .order_by(Pair.created_at.desc())).all()
            return [{"pair": p.id, "topic": p.topic, "role": d.role, "debrief": d.id, "debrief_status": d.status,
                     "status": pair_status(p, self._sessions(s, p.id))} for d, p in rows]

    def status(self, actor: Actor, pair_id: str) -> PairStatus:
        with self.db.session() as s:
            p, _ = self._pair_for(s, actor, pair_id)
            return pair_status(p, self._sessions(s, p.id))

    def log(self, actor: Actor, pair_id: str, held_on: date | str | None, minutes, covered: str | None = None,
            today: date | None = None) -> int:
        """Log a session of the pair (a participant of it, its facilitator, or the operator) and
        write each side an unanswered check-in. Returns the session's id."""
        day, length = parse_day(held_on), parse_minutes(minutes)
        line = clean_line(covered, MAX_COVERED_CHARS, "line on what was covered")
        # ``today``: the viewer's, from their time zone; unknown, a day of slack over UTC's (their
        # time zone may be ahead of it)
        latest = today or utcnow().date() + timedelta(days=1)
        if day > latest:
            raise SessionError(f"{day:%a %d %b %Y} is in the future: log a session once it has taken place.")
        with self.db.session() as s:
            p, who = self._pair_for(s, actor, pair_id)
            if (p.extra or {}).get("closed"):
                raise SessionError("This pair is closed: its facilitator can reopen it.")
            if day < p.created_at.date() - timedelta(days=365):
                raise SessionError("That date is more than a year before the pair was created.")
            earlier = self._sessions(s, p.id)
            if any(x.held_on == day for x in earlier):
                raise SessionError(f"A session on {day:%d %b %Y} is already logged for this pair "
                                   "(perhaps by the other participant or the facilitator).")
            sess = PairSession(pair_id=p.id, held_on=day, minutes=length, covered=line, logged_by=actor.id,
                               logged_as=who)
            s.add(sess)
            s.flush()
            for d in (d for d in p.debriefs if d.source == "interview"):
                s.add(CheckIn(session_id=sess.id, pair_id=p.id, role=d.role, participant_id=d.participant_id,
                              asks_fit=self._asks_fit(s, p.id, d.role, first=not earlier)))
            session_id = sess.id
        self.logged()
        return session_id

    @staticmethod
    def _asks_fit(s: Session, pair_id: str, role: str, first: bool) -> bool:
        """The pairing-fit question comes after the first session, and again for as long as
        this side's latest answer is "still deciding"."""
        if first:
            return True
        latest = s.scalar(select(CheckIn.fit).where(CheckIn.pair_id == pair_id, CheckIn.role == role,
                                                    CheckIn.fit.is_not(None))
                          .order_by(CheckIn.answered_at.desc(), CheckIn.id.desc()).limit(1))
        return latest == "deciding"

    def sessions(self, actor: Actor, pair_id: str) -> list[dict]:
        """The pair's sessions, for its participants and its facilitator."""
        with self.db.session() as s:
            p, _ = self._pair_for(s, actor, pair_id)
            return [{"id": x.id, "held_on": x.held_on, "minutes": x.minutes, "covered": x.covered,
                     "logged_as": x.logged_as} for x in self._sessions(s, p.id)]

    def pending(self, actor: Actor) -> list[dict]:
        """The participant's own unanswered check-ins, oldest first, with what each asks."""
        actor.require("participant")
        with self.db.session() as s:
            rows = s.execute(select(CheckIn, PairSession, Pair).join(PairSession, PairSession.id == CheckIn.session_id)
                             .join(Pair, Pair.id == CheckIn.pair_id)
                             .where(CheckIn.participant_id == actor.id, CheckIn.answered_at.is_(None))
                             .order_by(PairSession.held_on, CheckIn.id)).all()
            out = []
            for ci, sess, p in rows:
                n = 1 + sum(x.held_on < sess.held_on for x in self._sessions(s, p.id))
                out.append({"id": ci.id, "pair": p.id, "topic": p.topic, "role": ci.role, "held_on": sess.held_on,
                            "number": n, "asks_fit": ci.asks_fit, "role_question": ROLE_QUESTION[ci.role]})
            return out

    def answer(self, actor: Actor, check_in_id: int, usefulness, role_answer: str | None, fit: str | None = None,
               comment: str | None = None) -> None:
        """The participant's answers to their own check-in (once; nothing is kept from a refused one)."""
        actor.require("participant")
        note = clean_line(comment, MAX_COMMENT_CHARS, "comment")
        try:
            useful = int(usefulness) if usefulness not in (None, "") else None
        except (TypeError, ValueError):
            useful = None
        with self.db.session() as s:
            ci = s.get(CheckIn, check_in_id)
            if ci is None or ci.participant_id != actor.id:
                raise AccessDenied("This check-in is not yours.")
            if ci.answered_at is not None:
                raise SessionError("You have already answered this check-in. Thank you!")
            missing = [q for q, ok in ((USEFULNESS_QUESTION, useful in USEFULNESS),
                                       (ROLE_QUESTION[ci.role], role_answer in ROLE_ANSWERS),
                                       (FIT_QUESTION, not ci.asks_fit or fit in FITS)) if not ok]
            if missing:
                raise SessionError("Please answer: " + " and ".join(f"“{q}”" for q in missing))
            ci.usefulness, ci.role_answer, ci.comment = useful, role_answer, note
            ci.fit = fit if ci.asks_fit else None
            ci.answered_at = utcnow()

    def export(self, actor: Actor) -> dict:
        """What is stored about the participant here, for their download: their pairs' sessions,
        their own check-in answers (never the other side's), their reminder choice."""
        actor.require("participant")
        with self.db.session() as s:
            own = list(s.scalars(select(CheckIn).where(CheckIn.participant_id == actor.id).order_by(CheckIn.id)))
            held = {x.id: x.held_on for x in s.scalars(select(PairSession).where(
                PairSession.id.in_([c.session_id for c in own])))}
        return {"reminders": self.reminders(actor),
                "sessions": {p["pair"]: [dict(r, held_on=r["held_on"].isoformat()) for r in self.sessions(actor, p["pair"])]
                             for p in self.my_pairs(actor)},
                "check_ins": [{"pair": c.pair_id, "session": held[c.session_id].isoformat(), "usefulness": c.usefulness,
                               "fit": c.fit, "role_answer": c.role_answer, "comment": c.comment,
                               "answered_at": c.answered_at.isoformat() if c.answered_at else None} for c in own]}

    # -- the facilitator's -----------------------------------------------------------------

    def check_ins(self, actor: Actor, pair_id: str) -> list[dict]:
        """Every answered check-in of the pair, for its programme's facilitator only; logged."""
        if actor.role == "participant":
            raise AccessDenied("Check-ins are for your programme's facilitator.")
        with self.db.session() as s:
            p, _ = self._pair_for(s, actor, pair_id)
            rows = s.execute(select(CheckIn, PairSession).join(PairSession, PairSession.id == CheckIn.session_id)
                             .where(CheckIn.pair_id == p.id, CheckIn.answered_at.is_not(None))
                             .order_by(PairSession.held_on, CheckIn.role)).all()
            out = [{"held_on": sess.held_on, "role": ci.role, "usefulness": ci.usefulness, "fit": ci.fit,
                    "role_question": ROLE_QUESTION[ci.role], "role_answer": ci.role_answer, "comment": ci.comment,
                    "answered_at": ci.answered_at} for ci, sess in rows]
        self.audit(actor, "checkins.read", f"pair:{pair_id}", f"{len(out)} check-ins")
        return out

    def open_debrief(self, actor: Actor, pair_id: str) -> None:
        """The facilitator makes the pair's debrief due before the planned sessions are logged."""
        if actor is not OPERATOR:
            actor.require("facilitator")
        with self.db.session() as s:
            p, _ = self._pair_for(s, actor, pair_id)
            if not (p.extra or {}).get("debrief_opened"):
                p.extra = {**(p.extra or {}), "debrief_opened": utcnow().isoformat()}
        self.logged()

    # -- reminders ------------------------------------------------------------------------

    def reminders(self, actor: Actor) -> bool:
        with self.db.session() as s:
            u = s.get(User, actor.id)
            return bool(u and u.reminders)

    def set_reminders(self, actor: Actor, on: bool) -> None:
        """A participant turns reminders by mail off (or on again)."""
        actor.require("participant")
        with self.db.session() as s:
            u = s.get(User, actor.id)
            if u is None:
                raise AccessDenied("Please sign in again.")
            u.reminders = bool(on)
