"""Debrief interviews, persisted: pairs, starting beliefs and transcripts in SQL.

Every participant message is committed before anything else happens with it. The transcript is
the interview's only state (coach.interview reads it back), so a turn stored just before a
crash is answered on the next load, exactly once. A finished interview is extracted and handed
to coach.records. Every action checks, here, that the actor may take it.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coach.accounts import readable
from coach.extraction.records import Extraction, superseded_turns
from coach.extraction.records import Turn as XTurn
from coach.followup import FollowUp, FollowUpProtocol, action_label
from coach.interview import Interview, Protocol, Step, baseline_questions, baseline_returns
from coach.policy import OPERATOR, Actor, check_owner, check_reviewer
from coach.records import Records, enqueue_debrief, pair_vectors
from coach.store.db import Database
from coach.store.models import DEFAULT_PROGRAMME, BaselineBelief, Debrief, Pair, Turn, utcnow

MAX_MESSAGE_CHARS = 6000
# Commands are stored as participant turns (so the transcript shows them) marked in ``meta``;
# extraction never treats them as the participant's words.
SKIP = ("(skipped this question)", {"command": "skip"})
END = ("(ended the interview here)", {"command": "end"})
END_FOLLOWUP = ("(ended the follow-up here)", {"command": "end"})
ROLES = ("senior", "junior")
LIVE = ("interview", "followup")  # sources of debriefs held in the app's chat (not ingested)
# what a participant may add to their summary, by role
SUMMARY_KINDS = ("learned", "action", "taught", "pushback")

Extract = Callable[[list[XTurn], str, str], Extraction]  # (turns, role, topic) -> extraction
# (step, recent (speaker, text) turns, topic, role) -> cumulative texts; returns (shown, raw model text)
Phrase = Callable[[Step, list[tuple[str, str]], str, str], Generator[str, None, tuple[str, str]]]


class DebriefError(ValueError):
    """A request that cannot be done as asked; the message is shown to the participant."""


MAX_EVERY_DAYS = 90  # a rhythm of sessions slower than this is no rhythm


def check_every(days) -> int | None:
    """Days between a pair's planned sessions (None or 0: no rhythm), or a clear error."""
    if days in (None, "", 0):
        return None
    try:
        every = int(days)
    except (TypeError, ValueError):
        raise DebriefError(f"“{days}” is not a number of days between sessions.") from None
    if not 1 <= every <= MAX_EVERY_DAYS:
        raise DebriefError(f"Sessions can be planned from every day to every {MAX_EVERY_DAYS} days.")
    return every


@dataclass
class View:
    """Everything a participant's screen needs about one debrief."""

    id: str
    role: str
    topic: str
    turns: list[tuple[str, str]]  # (speaker, text)
    progress: list[tuple[str, str]]
    slots: list[tuple[str, str]]  # (slot id, label) for corrections
    done: bool
    summary: list[tuple[str, list[str]]]
    shared: bool
    confirmed: bool
    records: list[dict]
    ended_early: bool = False  # ended before the last question: it can be resumed until confirmed
    replaced: frozenset[int] = frozenset()  # indices of answers a later correction replaced
    followup: int | None = None  # a follow-up conversation: its round (1, 2); None for a debrief
    follows_shared: bool | None = None  # a follow-up's consent: the debrief it follows is shared
    started: bool = False  # the participant has answered, or pressed a follow-up's Start


def check_message(text: str | None) -> str:
    if text is None or not text.strip():
        raise DebriefError("Please type an answer first, or use “Skip question”.")
    if not readable(text):
        raise DebriefError("Your answer contains a character that cannot be stored (a broken emoji or symbol, "
                           "perhaps from copying): please type that part again. Your text is still in the box.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise DebriefError(
            f"That message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "Your text is still in the box: please shorten it or send it in parts.")
    return text


def _turns(d: Debrief) -> list[tuple[str, str, dict | None]]:
    return [(t.speaker, t.text, t.meta) for t in d.turns]


def _already_confirmed(d: Debrief) -> DebriefError:
    if d.source == "followup":
        return DebriefError("This follow-up is already confirmed: nothing in it can be changed now.")
    return DebriefError("This debrief is already confirmed: its records cannot be changed now. You can still "
                        "change whether it is shared, or delete it (Your data).")


def _not_done(d: Debrief) -> DebriefError:
    return DebriefError("Please finish or end the follow-up first." if d.source == "followup"
                        else "Please finish or end the interview first.")


class Debriefs:
    def __init__(self, db: Database, records: Records, extract: Extract, *, prompts_dir: Path | None = None,
                 phrase: Phrase | None = None, changed: Callable[[], None] = lambda: None):
        """``extract`` turns a finished transcript into records; ``phrase``, if given, has a
        model word the questions the rules chose; ``changed`` is told when the index may need
        to follow (the app's indexer)."""
        self.db, self.records, self.extract = db, records, extract
        self.prompts_dir, self.phrase, self.changed = prompts_dir, phrase, changed
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._protocols = {r: Protocol.load(r, prompts_dir) for r in ROLES}
        self._followup_texts = FollowUpProtocol.load(prompts_dir)
        self._baseline_returns = baseline_returns(prompts_dir)

    def protocol(self, role: str) -> Protocol:
        """The interview protocol of a role (its questions and slots)."""
        return self._protocols[role]

    # -- pairs ------------------------------------------------------------------------------

    def create_pair(
        self, *, senior: str, junior: str, topic: str, senior_name: str | None = None,
        junior_name: str | None = None, sessions: int | None = None, programme: str = DEFAULT_PROGRAMME,
        start_date: date | None = None, end_date: date | None = None, baseline: list[str] | None = None,
        every_days: int | None = None,
    ) -> Pair:
        for field, value in (("senior's role", senior), ("junior's role", junior), ("topic", topic)):
            if not value or not value.strip():
                raise DebriefError(f"Please fill in the {field}.")
        if sessions is not None and not 1 <= sessions <= 50:
            raise DebriefError("The number of sessions should be between 1 and 50.")
        if start_date and end_date and end_date < start_date:
            raise DebriefError("The end date is before the start date.")
        every_days = check_every(every_days)
        questions = baseline_questions(self.prompts_dir)
        pair = Pair(id="p-" + secrets.token_hex(6), programme=programme.strip() or DEFAULT_PROGRAMME,
                    senior=senior.strip(), junior=junior.strip(), topic=topic.strip(), sessions=sessions,
                    senior_name=(senior_name or "").strip() or None, junior_name=(junior_name or "").strip() or None,
                    start_date=start_date, end_date=end_date, session_every_days=every_days, extra={},
                    vectors=pair_vectors(topic.strip(), senior.strip()))
        pair.baseline = [BaselineBelief(idx=i, question=q, answer=a.strip())
                         for i, (q, a) in enumerate(zip(questions, baseline or [])) if a and a.strip()]
        with self.db.session() as s:
            s.add(pair)
        return pair

    def pairs(self, programme: str | None = None) -> list[Pair]:
        with self.db.session() as s:
            q = select(Pair).order_by(Pair.created_at.desc())
            if programme is not None:
                q = q.where(Pair.programme == programme)
            return list(s.scalars(q))

    # -- a facilitator's pairs ------------------------------------------------------------------

    def pair_list(self, actor: Actor) -> list[dict]:
        """The pairs of the actor's programme, newest first, with each side's account and state."""
        actor.require("facilitator")
        with self.db.session() as s:
            pairs = s.scalars(select(Pair).where(Pair.programme == (actor.programme or ""))
                              .order_by(Pair.created_at.desc())).all()
            return [self._pair_row(p) for p in pairs if not any(d.source == "ingest" for d in p.debriefs)]

    @staticmethod
    def _pair_row(p: Pair) -> dict:
        sides = {}
        for d in (d for d in p.debriefs if d.source == "interview"):  # a follow-up is not a side
            user = d.participant
            sides[d.role] = {"debrief": d.id, "status": d.status, "confirmed": d.confirmed_at is not None,
                             "user_id": user.id if user else None, "username": user.username if user else None,
                             "has_password": bool(user and user.password_hash)}
        return {"id": p.id, "topic": p.topic, "senior": p.senior, "junior": p.junior, "senior_name": p.senior_name,
                "junior_name": p.junior_name, "sessions": p.sessions, "created": p.created_at,
                "start_date": p.start_date, "every_days": p.session_every_days,
                "closed": (p.extra or {}).get("closed"), "sides": sides}

    def duplicate_of(self, programme: str, topic: str, senior_user: int, junior_user: int) -> str | None:
        """The id of a pair of this programme with the same topic and the same two people, if any
        (a form submitted twice would otherwise give each person two identical debriefs)."""
        with self.db.session() as s:
            for p in s.scalars(select(Pair).where(Pair.programme == programme)):
                people = {d.role: d.participant_id for d in p.debriefs if d.source == "interview"}
                if (p.topic.strip().lower() == topic.strip().lower()
                        and people.get("senior") == senior_user and people.get("junior") == junior_user):
                    return p.id
        return None

    def _own_pair(self, s: Session, actor: Actor, pair_id: str) -> Pair:
        p = s.get(Pair, pair_id)
        check_reviewer(actor, p.programme if p is not None else None)
        assert p is not None
        return p

    def update_pair(self, actor: Actor, pair_id: str, topic: str, sessions: int | None,
                    plan: tuple[date | None, int | None] | None = None) -> None:
        """Change a pair's topic and planned sessions and, given ``plan`` (first session's date,
        days between sessions), its planned dates."""
        if not (topic or "").strip():
            raise DebriefError("Please fill in the topic.")
        if sessions is not None and not 1 <= sessions <= 50:
            raise DebriefError("The number of sessions should be between 1 and 50.")
        every = check_every(plan[1]) if plan else None
        with self.db.session() as s:
            p = self._own_pair(s, actor, pair_id)
            if p.topic != topic.strip():
                p.vectors = pair_vectors(topic.strip(), p.senior)
            p.topic, p.sessions = topic.strip(), sessions
            if plan:
                if plan[0] and p.end_date and p.end_date < plan[0]:
                    raise DebriefError("The first session's date is after the pair's last session date.")
                p.start_date, p.session_every_days = plan[0], every

    def close_pair(self, actor: Actor, pair_id: str, closed: bool = True) -> None:
        """A pair whose programme round is over (or that stopped): kept, marked closed."""
        with self.db.session() as s:
            p = self._own_pair(s, actor, pair_id)
            p.extra = {**(p.extra or {}), "closed": utcnow().date().isoformat() if closed else None}

    def remove_pair(self, actor: Actor, pair_id: str) -> None:
        """Remove a pair created by mistake: only while neither participant has said a word."""
        with self.db.session() as s:
            p = self._own_pair(s, actor, pair_id)
            if any(t.speaker == "participant" for d in p.debriefs for t in d.turns):
                raise DebriefError("A participant has already started their debrief: close the pair instead.")
            for d in p.debriefs:
                s.delete(d)
            s.delete(p)

    def of_pair(self, pair_id: str) -> set[str]:
        """The ids of a pair's debriefs."""
        with self.db.session() as s:
            return set(s.scalars(select(Debrief.id).where(Debrief.pair_id == pair_id)))

    # -- interviews -------------------------------------------------------------------------

    @contextmanager
    def _lock(self, debrief_id: str) -> Iterator[None]:
        """One turn of a debrief at a time: across this process's threads, and across app
        instances sharing a PostgreSQL database (two tabs of one participant on two instances
        would otherwise both answer, or store two turns under one index)."""
        with self._locks_guard:
            lock = self._locks.setdefault(debrief_id, threading.Lock())
        with lock, self.db.lock(f"debrief:{debrief_id}"):
            yield

    def _interview(self, d: Debrief) -> Interview | FollowUp:
        if d.source == "followup":
            actions = [a["text"] for a in (d.plan or {}).get("actions", [])]
            return FollowUp(self._followup_texts, d.role, actions, topic=d.pair.topic, round_=d.round or 1)
        baseline = ([(b.answer, self._baseline_returns.get(b.question)) for b in d.pair.baseline]
                    if d.role == "senior" else [])
        protocol = self._protocols[d.role]
        return Interview(protocol, baseline, topic=d.pair.topic, check_item=check_item(protocol, d.pair.topic))

    @staticmethod
    def _get(s: Session, actor: Actor, debrief_id: str) -> Debrief:
        d = s.get(Debrief, debrief_id)
        if actor is not OPERATOR:
            check_owner(actor, d.participant_id if d is not None else None)
        if d is None or d.source not in LIVE:
            raise DebriefError("This debrief link is not valid. Please check it with your facilitator.")
        return d

    @staticmethod
    def _add_turn(s: Session, d: Debrief, speaker: str, text: str, meta: dict | None = None) -> Turn:
        last = s.scalar(select(func.max(Turn.idx)).where(Turn.debrief_id == d.id))
        t = Turn(debrief_id=d.id, idx=0 if last is None else last + 1, speaker=speaker, text=text, meta=meta)
        s.add(t)
        s.flush()
        return t

    def open(self, pair_id: str, role: str, participant_id: int | None = None) -> str:
        """The live debrief of this pair and role (created, with its first question, if new),
        owned by the participant account ``participant_id`` when given."""
        if role not in ROLES:
            raise DebriefError(f"Role must be one of {ROLES}.")
        with self.db.session() as s:
            pair = s.get(Pair, pair_id)
            if pair is None:
                raise DebriefError("No such pair.")
            existing = s.scalar(select(Debrief).where(Debrief.pair_id == pair_id, Debrief.role == role,
                                                      Debrief.source == "interview"))
            if existing:
                if participant_id is not None:
                    existing.participant_id = participant_id
                return existing.id
            d = Debrief(id="d-" + secrets.token_urlsafe(12), pair_id=pair_id, role=role, status="open",
                        shared=False, source="interview", participant_id=participant_id)
            s.add(d)
            s.flush()
            for step in self._interview(d).start():
                self._add_turn(s, d, "coach", step.text, step.meta())
            return d.id

    def view(self, actor: Actor, debrief_id: str) -> View:
        with self._lock(debrief_id):
            self._catch_up(actor, debrief_id)
            with self.db.session() as s:
                d = self._get(s, actor, debrief_id)
                iv: Any = self._interview(d)  # an Interview or a FollowUp: the same reading methods
                st = iv.state(_turns(d))
                return View(
                    id=d.id, role=d.role, topic=d.pair.topic, turns=[(t.speaker, t.text) for t in d.turns],
                    progress=iv.progress(st), slots=[(sl.id, sl.label) for sl in iv.p.slots], done=st.done,
                    summary=iv.summary(st), shared=d.shared, confirmed=d.confirmed_at is not None,
                    records=[{"id": r.id, "kind": r.kind, "text": r.text, "before": r.before, "after": r.after,
                              "quote": r.quote, "status": r.status, "provenance": r.provenance,
                              "detail": r.detail}
                             for r in sorted(d.records, key=lambda r: (r.turn_index or 0, r.id))],
                    ended_early=st.ended_early,
                    replaced=frozenset(superseded_turns([XTurn(t.speaker, t.text, t.meta) for t in d.turns])),
                    followup=d.round if d.source == "followup" else None,
                    follows_shared=self._follows_shared(s, d),
                    started=any(t.speaker == "participant" for t in d.turns) or bool((d.plan or {}).get("started")),
                )

    @staticmethod
    def _follows_shared(s: Session, d: Debrief) -> bool | None:
        if d.source != "followup" or d.follows_id is None:
            return None
        parent = s.get(Debrief, d.follows_id)
        return bool(parent and parent.shared)

    def _catch_up(self, actor: Actor, debrief_id: str) -> None:
        """Answer a stored participant turn that never got its coach reply (app died in between)."""
        with self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            if not d.turns or d.turns[-1].speaker != "participant" or (d.turns[-1].meta or {}).get("summary"):
                return
            step = self._interview(d).reply(_turns(d))
            self._store_step(s, d, step, step.text)
        if step.done:
            self._extract(debrief_id)

    def _store_step(self, s: Session, d: Debrief, step: Step, text: str, model_text: str | None = None):
        meta = step.meta()
        if model_text is not None:  # kept for audit and for rating the model's phrasing
            meta |= {"intent": step.text, "model_text": model_text, "model_shown": text != step.text}
        self._add_turn(s, d, "coach", text, meta)
        st = self._interview(d).state(_turns(d))
        d.status = "done" if st.done else "open"
        d.updated_at = utcnow()
        return st

    def _respond(self, actor: Actor, debrief_id: str, participant: tuple[str, dict | None]) -> Iterator[str]:
        """Store the participant's turn (committed first), decide and stream the coach's reply,
        store it. One lock spans it all, so a reload that catches up on unanswered turns cannot
        answer the same turn twice."""
        with self._lock(debrief_id):
            with self.db.session() as s:
                d = self._get(s, actor, debrief_id)
                if d.confirmed_at is not None:
                    raise _already_confirmed(d)
                self._add_turn(s, d, "participant", *participant)
            with self.db.session() as s:
                d = self._get(s, actor, debrief_id)
                step = self._interview(d).reply(_turns(d))
                history = [(t.speaker, t.text) for t in d.turns]
                topic, role, followup = d.pair.topic, d.role, d.source == "followup"
            text, model_text = step.text, None
            # a follow-up's questions stay as written: they repeat the participant's own words
            if step.kind in ("question", "probe") and self.phrase is not None and not followup:
                text, model_text = yield from self.phrase(step, history, topic, role)
            else:
                yield text
            with self.db.session() as s:
                self._store_step(s, self._get(s, actor, debrief_id), step, text, model_text)
            if step.done:  # finished, or corrected after finishing: (re-)extract the records
                self._extract(debrief_id)

    def _extract(self, debrief_id: str) -> int:
        with self.db.session() as s:
            d = s.get(Debrief, debrief_id)
            if d is None:  # deleted meanwhile (reextract goes through a list read earlier)
                return 0
            turns = [XTurn(t.speaker, t.text, t.meta) for t in d.turns]
            role, topic, source, plan = d.role, d.pair.topic, d.source, d.plan or {}
        if source == "followup":
            return self.records.store_extraction(debrief_id, extract_followup(turns, plan.get("actions", []), role))
        return self.records.store_extraction(debrief_id, self.extract(turns, role, topic))

    def say(self, actor: Actor, debrief_id: str, text: str) -> Iterator[str]:
        """Store an answer, then yield the coach's reply as it is produced (cumulative text)."""
        text = check_message(text)
        yield from self._respond(actor, debrief_id, (text, None))

    def skip(self, actor: Actor, debrief_id: str) -> Iterator[str]:
        yield from self._respond(actor, debrief_id, SKIP)

    def end(self, actor: Actor, debrief_id: str) -> Iterator[str]:
        with self.db.session() as s:
            followup = self._get(s, actor, debrief_id).source == "followup"
        yield from self._respond(actor, debrief_id, END_FOLLOWUP if followup else END)

    def correct(self, actor: Actor, debrief_id: str, slot_id: str, text: str, replace: bool = True) -> Iterator[str]:
        """A correction of an earlier answer: it ``replace``s what was said there (the earlier
        words stay in the transcript, but no record comes from them), or adds to it."""
        text = check_message(text)
        with self.db.session() as s:
            slots = {sl.id for sl in self._interview(self._get(s, actor, debrief_id)).p.slots}
        if slot_id not in slots:
            raise DebriefError("Please choose which answer you are correcting.")
        yield from self._respond(actor, debrief_id, (text, {"correction_of": slot_id, "replaces": bool(replace)}))

    def resume(self, actor: Actor, debrief_id: str) -> str:
        """Carry on an interview ended early (until the summary is confirmed): the coach asks the
        question it stopped at. Returns what the coach says."""
        with self._lock(debrief_id), self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            if d.confirmed_at is not None:
                raise _already_confirmed(d)
            step = self._interview(d).resume(_turns(d))
            if step is None:
                raise DebriefError(f"There is nothing to continue: the "
                                   f"{'follow-up' if d.source == 'followup' else 'interview'} did not end early.")
            self._store_step(s, d, step, step.text)
            return step.text

    @staticmethod
    def _followups_of(s: Session, d: Debrief) -> list[Debrief]:
        return list(s.scalars(select(Debrief).where(Debrief.follows_id == d.id)))

    def open_followup(self, parent_id: str, round_: int, actions: list[dict]) -> str:
        """Open a follow-up conversation on these actions ({"record", "text"}) of a confirmed
        debrief, owned by the same participant, with its first question (coach.followups decides
        when)."""
        with self.db.session() as s:
            parent = s.get(Debrief, parent_id)
            if parent is None or parent.confirmed_at is None:
                raise DebriefError("Only a confirmed debrief is followed up.")
            d = Debrief(id="d-" + secrets.token_urlsafe(12), pair_id=parent.pair_id, role=parent.role, status="open",
                        shared=False, source="followup", participant_id=parent.participant_id,
                        follows_id=parent.id, round=round_, plan={"actions": actions})
            s.add(d)
            s.flush()
            for step in self._interview(d).start():
                self._add_turn(s, d, "coach", step.text, step.meta())
            return d.id

    def start_followup(self, actor: Actor, debrief_id: str) -> None:
        """The participant pressed a follow-up's Start: noted (in its plan, once), so that the page,
        reloaded before the first answer, opens on the conversation rather than on its notice."""
        with self._lock(debrief_id), self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            if d.source == "followup" and not (d.plan or {}).get("started"):
                d.plan = {**(d.plan or {}), "started": utcnow().isoformat()}

    def reword(self, actor: Actor, debrief_id: str, record_id: int, text: str | None,
               status: str | None = None) -> None:
        """The participant puts an item of their summary in their own words (stored as their
        turn, so the record keeps a verbatim quote) and, for a follow-up's outcome, may say what
        became of the action (``status``: done, partly, not_yet, dropped) where the coach read it
        wrong; that choice is stored as their turn too, in words, before it changes the record."""
        from coach.records import STATUS_WORDS

        text = (text or "").strip()
        with self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            r = next((r for r in d.records if r.id == record_id), None)
            if r is None:
                raise DebriefError("Please choose an item of your summary.")
            if status is not None and (r.kind != "outcome" or status not in STATUS_WORDS):
                raise DebriefError("Only what became of an action can be changed this way.")
            if status is not None and status == (r.detail or {}).get("status"):
                status = None  # no change
            if not text and status is None:
                raise DebriefError("Please type the new wording"
                                   + (", or choose what became of the action." if r.kind == "outcome" else "."))
            meta = {"summary": "reword" if text else "status", "kind": r.kind, "quote": r.quote}
            if status is not None:
                meta["status"] = status
            action = action_label(str((r.detail or {}).get("action") or "")) if r.kind == "outcome" else ""
        # what became of which action, said: the transcript reads on its own (Review shows it)
        said = check_message(text) if text or status is None else \
            f"What became of {f'“{action}”' if action else 'it'}: {STATUS_WORDS[status]}."
        self._summary_turn(actor, debrief_id, said, meta)

    def add_item(self, actor: Actor, debrief_id: str, kind: str, text: str) -> None:
        """The participant adds an item the coach missed, in their own words."""
        text = check_message(text)
        if kind not in SUMMARY_KINDS:
            raise DebriefError("Please choose what kind of item it is.")
        self._summary_turn(actor, debrief_id, text, {"summary": "add", "kind": kind})

    def add_outcome(self, actor: Actor, debrief_id: str, slot_id: str, status: str | None, text: str | None) -> None:
        """What became of a follow-up's action (``slot_id``: a0, a1, ...) that nothing was recorded
        for, added by the participant from scratch: what they choose (``status``: done, partly,
        not_yet, dropped) and what happened, in their words. Stored as their turn first (the action
        and the status in its meta), then extracted as an outcome linked to that action, which
        takes the place of any the coach read for it."""
        from coach.records import STATUS_WORDS

        with self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            actions = (d.plan or {}).get("actions", []) if d.source == "followup" else []
        if slot_id not in {f"a{i}" for i in range(len(actions))}:
            raise DebriefError("Please choose the action this is about.")
        if status not in STATUS_WORDS:
            raise DebriefError("Please choose what became of the action.")
        if not (text or "").strip():
            raise DebriefError("Please write what happened, in your words.")
        text = check_message(text).strip()
        # the turn says which action and what became of it, then their words as typed (the quote,
        # from the offset ``from``), so the transcript reads on its own
        lead = f"What became of “{action_label(actions[int(slot_id[1:])]['text'])}”: {STATUS_WORDS[status]}. "
        self._summary_turn(actor, debrief_id, lead + text, {"summary": "add", "kind": "outcome", "slot": slot_id,
                                                            "status": status, "from": len(lead)})

    def _summary_turn(self, actor: Actor, debrief_id: str, text: str, meta: dict) -> None:
        with self._lock(debrief_id):
            with self.db.session() as s:
                d = self._get(s, actor, debrief_id)
                if d.confirmed_at is not None:
                    raise _already_confirmed(d)
                if not self._interview(d).state(_turns(d)).done:
                    raise _not_done(d)
                self._add_turn(s, d, "participant", text, meta)
            self._extract(debrief_id)

    def confirm(self, actor: Actor, debrief_id: str, share: bool, keep: list[int] | None = None) -> None:
        """The participant's word: share or not, and which summary items are right. Items left
        out of ``keep`` are withdrawn: never reviewed, indexed or suggested. Sharing can be
        changed later by calling again (``keep`` then counts no more: items may be reviewed by
        now): consent given can be taken back, and the other way round."""
        with self._lock(debrief_id), self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            if not self._interview(d).state(_turns(d)).done:
                raise _not_done(d)
            if keep is not None and d.confirmed_at is None:
                self.records.withdraw_unkept(d, keep)
            if d.source == "followup":  # shared only under the debrief's own consent, never on its own
                share = bool(self._follows_shared(s, d))
            self.records.set_shared(s, d, share)
            d.confirmed_at = d.confirmed_at or utcnow()
            for f in self._followups_of(s, d):  # consent given or taken back covers the follow-ups too
                if f.confirmed_at is not None:
                    self.records.set_shared(s, f, share)
        self.changed()

    def reextract(self, actor: Actor, progress: Callable[[int, int], None] | None = None) -> int:
        """Extract every finished live debrief of the actor's programme again (after the
        extractor improved); reviewed records stay. Returns the number of new pending items."""
        q = select(Debrief.id).join(Debrief.pair).where(Debrief.status == "done", Debrief.source.in_(LIVE))
        if actor is not OPERATOR:
            actor.require("facilitator")
            q = q.where(Pair.programme == (actor.programme or ""))
        with self.db.session() as s:
            ids = list(s.scalars(q))
        n = 0
        for k, did in enumerate(ids):
            n += self._extract(did)
            if progress:
                progress(k + 1, len(ids))
        return n

    # -- the participant's own data ----------------------------------------------------------

    def export_data(self, actor: Actor, debrief_id: str) -> dict:
        """Everything stored about this debrief, for its participant."""
        with self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            p = d.pair
            return {
                "debrief": d.id, "role": d.role, "status": d.status, "shared": d.shared,
                "confirmed_at": d.confirmed_at.isoformat() if d.confirmed_at else None,
                "pair": {"topic": p.topic, "senior": p.senior, "junior": p.junior, "sessions": p.sessions},
                "starting_beliefs": [{"question": b.question, "answer": b.answer} for b in p.baseline]
                if d.role == "senior" else [],
                "transcript": [{"speaker": t.speaker, "text": t.text, "at": t.created_at.isoformat()} for t in d.turns],
                "records": [{"kind": r.kind, "text": r.text, "before": r.before, "after": r.after, "quote": r.quote,
                             "status": r.status, **({"outcome": r.detail} if r.kind == "outcome" else {})}
                            for r in d.records],
                **({"follow_up_of": d.follows_id, "round": d.round} if d.source == "followup" else {}),
            }

    def delete(self, actor: Actor, debrief_id: str, forget_name: bool = False) -> None:
        """Delete the debrief, its transcript, its records (SQL, and the index after it) and, for
        the senior, their starting beliefs; with ``forget_name`` also their name on the pair.
        The pair itself stays for the other participant."""
        with self._lock(debrief_id), self.db.session() as s:
            d = self._get(s, actor, debrief_id)
            for f in self._followups_of(s, d):  # what was said about its actions goes with it
                enqueue_debrief(s, f)
                s.delete(f)
            enqueue_debrief(s, d)
            if d.role == "senior":
                d.pair.baseline = []
            if forget_name:
                setattr(d.pair, f"{d.role}_name", None)
            s.delete(d)
        self.changed()


def extract_followup(turns: list[XTurn], actions: list[dict], role: str) -> Extraction:
    """A follow-up's records: its outcomes (offline; coach.extraction.outcomes) and what a junior
    taught or led since."""
    import time

    from coach.extraction.outcomes import extract_outcomes

    t0 = time.perf_counter()
    ex = Extraction(extractor="offline-outcomes")
    ex.items = extract_outcomes(turns, actions, role)
    ex.seconds = time.perf_counter() - t0
    return ex


# -- checking items back ----------------------------------------------------------------------

def check_item(protocol: Protocol, topic: str):
    """The item a slot's answers would be recorded as, to say back to the participant: the
    offline extractor's (fast enough for a turn, whatever extracts the records at the end), or
    when it finds none (a kind it does not extract, an answer it misreads), the participant's own
    words from their answer (coach.extraction.checks.fallback_item): the check is where a wrong
    or missing item is put right, so a slot with substance is always said back."""
    from coach import extraction
    from coach.extraction.checks import CHECK_KIND, fallback_item, step_item

    def find(slot_id: str, asked: list) -> dict | None:
        kind = CHECK_KIND.get(slot_id)
        answers = [(text, (asked[i - 1][2] or {}).get("probe") if i else None)
                   for i, (speaker, text, _) in enumerate(asked) if speaker == "participant"]
        if kind is None or not answers:
            return None
        # a step said in passing: its words say it is one, whatever the answer was about
        if slot_id == "step" and (said := step_item([text for text, _ in answers])):
            return said
        turns = [XTurn(speaker, text, meta) for speaker, text, meta in asked]
        # else what would be recorded as one (a step check: not an item already settled)
        items = [i for i in extraction.run("offline", turns, protocol.role, topic=topic).items
                 if i.kind == kind and i.provenance == "extracted"]
        if items:
            return items[0].model_dump(include={"kind", "text", "before", "after", "quote"})
        return None if slot_id == "step" else fallback_item(kind, answers)

    return find


# -- model phrasing ---------------------------------------------------------------------------

SCAFFOLD = ("next question", "rewrite", "transcript", "participant:", "coach:", "question:", "here is", "rephrase")


def acceptable_phrasing(text: str) -> bool:
    """A model's question is shown only if it is one short, clean question (else the protocol's is).

    Measured on the bundled 135M model: most of its outputs fail this, and some that passed a
    looser check echoed the prompt ("NEXT QUESTION: ..."), hence the scaffold words.
    """
    low = text.lower()
    return (8 <= len(text) <= 320 and text.count("?") == 1 and text.rstrip().endswith("?")
            and "\n" not in text.strip() and not any(w in low for w in SCAFFOLD))


def model_phrasing(gateway, prompts_dir: Path | None = None) -> Phrase:
    """Have the model word the question the rules chose; fall back to the protocol's if unfit."""
    from coach.gateway import GatewayError
    from coach.prompts import load_prompt

    prompt = load_prompt("interview_phrase", prompts_dir)

    def phrase(step: Step, history, topic: str, role: str):
        transcript = "\n".join(f"{sp}: {tx}" for sp, tx in history[-6:])
        msgs = prompt.messages(role=role, topic=topic, transcript=transcript, intent=step.text)
        text = ""
        try:
            for delta in gateway.stream(msgs, purpose="interview.phrase", prompt=prompt, max_tokens=120,
                                        temperature=0.3):
                text += delta
                yield text
        except GatewayError:
            yield step.text  # calm fallback: the protocol's own question, nothing lost
            return step.text, ""
        text = text.strip()
        if not acceptable_phrasing(text):
            yield step.text
            return step.text, text
        return text, text

    return phrase
