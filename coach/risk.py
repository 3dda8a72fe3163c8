"""Pairs at risk: every pair of a programme with its sessions, fit answers and debriefs, and a
status (ok / at risk) with the reasons, worst first.

The rules are the failure modes the method names: no first session soon after pairing, a pairing
that does not fit (or stays undecided), a senior who does not show up as a learner, a debrief
left undone long after it became due, and two debriefs that do not tell the same story (the
junior's taught points against the senior's records: coach.review.pair_synthesis). Reading them
reads check-ins (and, for the last, both debriefs): the access log records it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coach.policy import OPERATOR, Actor
from coach.sessions import FITS, Audit, PairStatus, pair_status
from coach.store.db import Database
from coach.store.models import CheckIn, Debrief, Pair, PairAssessment, PairSession, Turn, utcnow

AT_RISK, OK, CLOSED = "at risk", "ok", "closed"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Thresholds:
    """The rules' numbers (coach.config: COACH_FIRST_SESSION_DAYS, COACH_DEBRIEF_OVERDUE_DAYS,
    COACH_DISAGREE_SHARE); these defaults are the settings' own."""

    first_session_days: int = 14
    overdue_days: int = 14
    disagree_share: float = 0.5

    @classmethod
    def of(cls, settings) -> Thresholds:
        return cls(settings.first_session_days, settings.debrief_overdue_days, settings.disagree_share)


@dataclass
class Side:
    """One participant's side of a pair, as the rules need it."""

    role: str
    debrief: str | None = None
    status: str = "open"  # the debrief's: open | done
    started: bool = False
    confirmed: bool = False
    shared: bool = False
    last_turn: datetime | None = None
    fits: list[str] = field(default_factory=list)  # answers in order
    role_answers: list[str] = field(default_factory=list)


@dataclass
class PairFacts:
    pair: Pair
    status: PairStatus
    sides: dict[str, Side]
    last_activity: datetime | None
    taught_unmatched: tuple[int, int] | None = None  # (unmatched, taught) when both debriefs are shared


def reasons(f: PairFacts, today: date, t: Thresholds) -> list[str]:
    """Why the pair is at risk ([] when it is not); pure, so each rule is tested on its own."""
    out: list[str] = []
    since, what = f.pair.created_at.date(), "pairing"
    start = f.pair.start_date
    if start and start > since:  # a pair planned to start later is not late before it starts
        since, what = start, f"the planned first session ({start:%d %b})"
    if f.status.held == 0 and (today - since).days > t.first_session_days:
        out.append(f"no session logged in the {(today - since).days} days since {what}")
    for role, side in f.sides.items():
        if "not" in side.fits:
            out.append(f"the {role} says the pairing is not a good fit")
        elif side.fits.count("deciding") >= 2:
            out.append(f"the {role} is still deciding about the pairing ({side.fits.count('deciding')} times)")
    learner = f.sides.get("junior")
    if learner and learner.role_answers and learner.role_answers[-1] == "no":
        out.append("the junior says the senior is not showing up as a learner")
    end = f.status.plan_end
    due = f.status.due_since or (end if end and end < today else None)
    if due and (today - due).days > t.overdue_days:
        late = [r for r, s in f.sides.items() if s.status != "done"]
        if late:
            out.append(f"{' and '.join(late)} debrief overdue ({(today - due).days} days since due)")
    if f.taught_unmatched and f.taught_unmatched[0] >= t.disagree_share * f.taught_unmatched[1]:
        n, total = f.taught_unmatched
        out.append(f"the debriefs disagree: {n} of {total} points the junior says they taught have nothing near "
                   "them in the senior's records")
    return out


def side_word(side: Side | None, due: bool) -> str:
    """A side's debrief in one or two words, for the list."""
    if side is None or side.debrief is None:
        return "no debrief"
    if side.confirmed:
        return "shared" if side.shared else "confirmed, private"
    if side.status == "done":
        return "finished"
    if side.started:
        return "in progress"
    return "due, not started" if due else "not due"


class PairsAtRisk:
    def __init__(self, db: Database, audit: Audit, thresholds: Thresholds):
        self.db, self.audit, self.t = db, audit, thresholds

    def overview(self, actor: Actor, today: date | None = None, at_risk_only: bool = False,
                 logged: bool = True) -> list[dict]:
        """Every pair the actor looks after (a facilitator: their programme; the operator: all),
        worst first; logged, as it reads check-ins (``logged=False`` only for the digest, which
        tells a facilitator counts and kinds of reasons, nothing a check-in says)."""
        programme = None if actor is OPERATOR else actor.require("facilitator").programme or ""
        today = today or date.today()
        facts = self._facts(programme)
        rows = [self._row(f, today) for f in facts]
        rows.sort(key=lambda r: (r["status"] == CLOSED, -len(r["reasons"]), r["last_activity"] or EPOCH))
        synth = sum(f.taught_unmatched is not None for f in facts)
        if logged:
            self.audit(actor, "pairs.read", f"programme:{programme if programme is not None else '*'}",
                       f"check-ins of {len(facts)} pairs; pair synthesis of {synth}")
        return [r for r in rows if r["status"] == AT_RISK] if at_risk_only else rows

    def counts(self, rows: list[dict]) -> dict[str, int]:
        """Pairs by status, for the dashboard line above the list."""
        c = Counter(r["status"] for r in rows)
        return {s: c[s] for s in (AT_RISK, OK, CLOSED)}

    def _row(self, f: PairFacts, today: date) -> dict:
        p, st = f.pair, f.status
        closed = (p.extra or {}).get("closed")
        why = [] if closed else reasons(f, today, self.t)
        return {"pair": p.id, "programme": p.programme, "topic": p.topic,
                "senior": p.senior_name or p.senior, "junior": p.junior_name or p.junior,
                "held": st.held, "planned": st.planned, "due": st.due,
                "next_planned": None if closed else st.next_planned, "missed": not closed and st.missed(today),
                "last_activity": f.last_activity,
                "fit": {r: [FITS[x] for x in s.fits] for r, s in f.sides.items()},
                "debriefs": {r: side_word(f.sides.get(r), st.due) for r in ("senior", "junior")},
                "status": CLOSED if closed else AT_RISK if why else OK, "reasons": why}

    def _facts(self, programme: str | None) -> list[PairFacts]:
        from coach.records import ReviewError
        from coach.review import pair_synthesis

        with self.db.session() as s:
            ingested = select(Debrief.id).where(Debrief.pair_id == Pair.id, Debrief.source == "ingest").exists()
            q = select(Pair).where(~ingested).order_by(Pair.created_at)
            if programme is not None:
                q = q.where(Pair.programme == programme)
            out = []
            for p in s.scalars(q):
                sessions = list(s.scalars(select(PairSession).where(PairSession.pair_id == p.id)))
                sides = {d.role: self._side(s, d) for d in p.debriefs if d.source == "interview"}
                for ci in s.scalars(select(CheckIn).where(CheckIn.pair_id == p.id, CheckIn.answered_at.is_not(None))
                                    .order_by(CheckIn.answered_at, CheckIn.id)):
                    side = sides.setdefault(ci.role, Side(ci.role))
                    if ci.fit:
                        side.fits.append(ci.fit)
                    if ci.role_answer:
                        side.role_answers.append(ci.role_answer)
                moments = [x.created_at for x in sessions] + [x.last_turn for x in sides.values() if x.last_turn]
                moments += list(s.scalars(select(CheckIn.answered_at).where(CheckIn.pair_id == p.id,
                                                                            CheckIn.answered_at.is_not(None))))
                last = max((_aware(m) for m in moments), default=None)
                out.append(PairFacts(p, pair_status(p, sessions), sides, last))
            kept, stale = self._kept(s, out)
        for f in out:
            if f.pair.id in kept:
                f.taught_unmatched = kept[f.pair.id]
                continue
            if f.pair.id not in stale:
                continue
            try:
                syn = pair_synthesis(self.db, f.pair.id)
            except ReviewError:
                continue
            taught = len(syn["overlap"]) + len(syn["taught_not_learned"])
            f.taught_unmatched = (len(syn["taught_not_learned"]), taught) if taught else None
            self._keep(f.pair.id, stale[f.pair.id], f.taught_unmatched)
        return out

    @staticmethod
    def _kept(s, facts: list[PairFacts]) -> tuple[dict[str, tuple[int, int] | None], dict[str, str]]:
        """The kept syntheses still true to their debriefs, and the fingerprints of the pairs to
        assess again (MiniLM: the slow part of the list)."""
        from coach.review import synthesis_fingerprint

        stale: dict[str, str] = {}
        kept: dict[str, tuple[int, int] | None] = {}
        for f in facts:
            if not all(f.sides.get(r) and f.sides[r].shared and f.sides[r].confirmed for r in ("senior", "junior")):
                continue
            mark = synthesis_fingerprint(f.pair)
            if mark is None:
                continue
            a = s.get(PairAssessment, f.pair.id)
            if a is not None and a.fingerprint == mark:
                kept[f.pair.id] = (a.unmatched, a.taught) if a.taught else None
            else:
                stale[f.pair.id] = mark
        return kept, stale

    def _keep(self, pair_id: str, mark: str, result: tuple[int, int] | None) -> None:
        """Keep a synthesis's result; another instance keeping the same pair's at once is fine."""
        try:
            with self.db.session() as s:
                a = s.get(PairAssessment, pair_id) or PairAssessment(pair_id=pair_id)
                a.fingerprint, a.assessed_at = mark, utcnow()
                a.unmatched, a.taught = result if result else (None, None)
                s.add(a)
        except IntegrityError:
            pass

    @staticmethod
    def _side(s, d: Debrief) -> Side:
        last = s.scalar(select(func.max(Turn.created_at)).where(Turn.debrief_id == d.id, Turn.speaker == "participant"))
        return Side(d.role, d.id, d.status, last is not None, d.confirmed_at is not None, d.shared, last)


def _aware(t: datetime) -> datetime:
    """SQLite gives back UTC times without their zone; PostgreSQL with it."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)
