"""When follow-ups open: ``followup_days`` after a participant confirmed a debrief that recorded
actions, a follow-up conversation on them opens in their chat (coach.followup runs it); with the
programme's second follow-up turned on, ``followup_second_days`` after the debrief, another for
the actions the first found not yet started. Also the programme's own options (the second
follow-up, the impact report's highlighted quotes), which only its facilitator sets.

Opening is idempotent across app instances (one advisory lock per debrief) and takes the time
as an argument, so tests move a clock rather than wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import aliased

from coach.policy import OPERATOR, Actor
from coach.store.db import Database
from coach.store.models import Debrief, Pair, ProgrammeOption, Record, utcnow

LIVE_RECORD = ("pending", "approved")  # an action withdrawn by the participant or rejected is not asked about


def aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Followups:
    def __init__(self, db: Database, settings, debriefs):
        self.db, self.settings, self.debriefs = db, settings, debriefs
        self._guard = threading.Lock()

    # -- options ---------------------------------------------------------------------------

    def options(self, programme: str) -> dict:
        with self.db.session() as s:
            row = s.get(ProgrammeOption, programme)
            return dict(row.options) if row else {}

    def set_option(self, actor: Actor, key: str, value) -> dict:
        """A programme option, set by the programme's facilitator (the operator: any programme's)."""
        if key not in ("second_followup", "highlights"):
            raise ValueError(f"unknown programme option {key!r}")
        if actor is not OPERATOR:
            actor.require("facilitator")
        programme = actor.programme or ""
        return self._set(programme, key, value)

    def _set(self, programme: str, key: str, value) -> dict:
        with self.db.session() as s:
            row = s.get(ProgrammeOption, programme)
            if row is None:
                row = ProgrammeOption(programme=programme, options={})
                s.add(row)
            row.options = {**(row.options or {}), key: value}
            return dict(row.options)

    # -- opening what is due ---------------------------------------------------------------

    def open_due(self, now: datetime | None = None, participant_id: int | None = None) -> list[str]:
        """Open every follow-up that is due by ``now`` (of one participant's debriefs when given);
        returns the ids of those opened."""
        now = aware(now or utcnow())
        opened = [self._first(did, now) for did in self._due(now - timedelta(days=self.settings.followup_days),
                                                              participant_id, 1)]
        opened += [self._second(did, now) for did in self._due(now - timedelta(days=self.settings.followup_second_days),
                                                               participant_id, 2)]
        return [d for d in opened if d]

    def _due(self, confirmed_before: datetime, participant_id: int | None, round_: int) -> list[str]:
        """Confirmed debriefs old enough, without this round yet (and, for the first, with an
        action to ask about; for the second, with the first confirmed): one query, so a scan of a
        large installation reads only what may open now."""
        fu = aliased(Debrief)
        q = select(Debrief.id).where(
            Debrief.source == "interview", Debrief.confirmed_at.is_not(None),
            Debrief.confirmed_at <= confirmed_before, Debrief.participant_id.is_not(None),
            ~select(fu.id).where(fu.follows_id == Debrief.id, fu.round == round_).exists())
        if round_ == 1:
            q = q.where(select(Record.id).where(Record.debrief_id == Debrief.id, Record.kind == "action",
                                                Record.status.in_(LIVE_RECORD)).exists())
        else:
            q = q.where(select(fu.id).where(fu.follows_id == Debrief.id, fu.round == 1,
                                            fu.confirmed_at.is_not(None)).exists())
        if participant_id is not None:
            q = q.where(Debrief.participant_id == participant_id)
        with self.db.session() as s:
            return list(s.scalars(q))

    @contextmanager
    def _once(self, debrief_id: str) -> Iterator[None]:
        """One opening per debrief at a time: this process's threads, and other instances (on PostgreSQL)."""
        with self._guard, self.db.lock(f"followup:{debrief_id}"):
            yield

    def _first(self, debrief_id: str, now: datetime) -> str | None:
        with self._once(debrief_id):
            with self.db.session() as s:
                if self._round(s, debrief_id, 1) is not None:
                    return None
                parent = s.get(Debrief, debrief_id)
                said = {t.idx: t.text for t in parent.turns} if parent else {}
                rows = s.scalars(select(Record).where(Record.debrief_id == debrief_id, Record.kind == "action",
                                                      Record.status.in_(LIVE_RECORD)))
                # in the order they were said
                ordered = sorted(rows, key=lambda r: (r.turn_index or 0, said.get(r.turn_index or -1, "").find(r.quote)))
                actions = [{"record": r.id, "text": r.text} for r in ordered]
            return self.debriefs.open_followup(debrief_id, 1, actions) if actions else None

    def _second(self, debrief_id: str, now: datetime) -> str | None:
        with self._once(debrief_id):
            with self.db.session() as s:
                parent = s.get(Debrief, debrief_id)
                if parent is None or not self.options(parent.pair.programme).get("second_followup"):
                    return None
                first = self._round(s, debrief_id, 1)
                if first is None or first.confirmed_at is None or self._round(s, debrief_id, 2) is not None:
                    return None
                # the actions the first follow-up found not yet started, in the words first recorded
                actions = [{"record": (r.detail or {}).get("action_record"), "text": (r.detail or {}).get("action")}
                           for r in first.records if r.kind == "outcome" and r.status in LIVE_RECORD
                           and (r.detail or {}).get("status") == "not_yet"]
            return self.debriefs.open_followup(debrief_id, 2, actions) if actions else None

    @staticmethod
    def _round(s, debrief_id: str, round_: int) -> Debrief | None:
        return s.scalar(select(Debrief).where(Debrief.follows_id == debrief_id, Debrief.round == round_))

    def waiting(self, participant_id: int) -> list[tuple[str, str]]:
        """(follow-up id, topic) of the participant's follow-ups not yet confirmed, newest first."""
        with self.db.session() as s:
            rows = s.execute(select(Debrief.id, Pair.topic).join(Pair, Pair.id == Debrief.pair_id)
                             .where(Debrief.participant_id == participant_id, Debrief.source == "followup",
                                    Debrief.confirmed_at.is_(None)).order_by(Debrief.created_at.desc())).all()
        return [(d, t) for d, t in rows]
