"""Debrief interviews, persisted: pairs, baselines, turns and interview state in SQL.

Every participant message is committed before anything else happens with it. The interview
state is saved with each coach turn; if the app died between the two, the next load processes
the stored answer, so no acknowledged turn is ever lost or answered twice.
"""

from __future__ import annotations

import copy
import secrets
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from coach.gateway import GatewayError
from coach.interview import Interview, Protocol, Step, baseline_questions, baseline_returns
from coach.prompts import load_prompt
from coach.services import Services
from coach.store.models import DEFAULT_PROGRAMME, BaselineBelief, Debrief, Pair, Turn, utcnow

MAX_MESSAGE_CHARS = 6000
# Commands are stored as participant turns (so the transcript shows them) marked in ``meta``;
# extraction never treats them as the participant's words.
SKIP = ("(skipped this question)", {"command": "skip"})
END = ("(ended the interview here)", {"command": "end"})
ROLES = ("senior", "junior")


class DebriefError(ValueError):
    """A request that cannot be done as asked; the message is shown to the participant."""


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


def check_message(text: str | None) -> str:
    if text is None or not text.strip():
        raise DebriefError("Please type an answer first, or use “Skip question”.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise DebriefError(
            f"That message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}. "
            "Your text is still in the box: please shorten it or send it in parts.")
    return text


class Debriefs:
    def __init__(self, svc: Services):
        self.svc = svc
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._protocols = {r: Protocol.load(r, svc.settings.prompts_dir) for r in ROLES}
        self._baseline_returns = baseline_returns(svc.settings.prompts_dir)

    def protocol(self, role: str) -> Protocol:
        """The interview protocol of a role (its questions and slots)."""
        return self._protocols[role]

    # -- pairs ------------------------------------------------------------------------------

    def create_pair(
        self, *, senior: str, junior: str, topic: str, senior_name: str | None = None,
        junior_name: str | None = None, sessions: int | None = None, programme: str = DEFAULT_PROGRAMME,
        start_date: date | None = None, end_date: date | None = None, baseline: list[str] | None = None,
    ) -> Pair:
        for field, value in (("senior's role", senior), ("junior's role", junior), ("topic", topic)):
            if not value or not value.strip():
                raise DebriefError(f"Please fill in the {field}.")
        if sessions is not None and not 1 <= sessions <= 50:
            raise DebriefError("The number of sessions should be between 1 and 50.")
        if start_date and end_date and end_date < start_date:
            raise DebriefError("The end date is before the start date.")
        questions = baseline_questions(self.svc.settings.prompts_dir)
        pair = Pair(id="p-" + secrets.token_hex(6), programme=programme.strip() or DEFAULT_PROGRAMME,
                    senior=senior.strip(), junior=junior.strip(), topic=topic.strip(), sessions=sessions,
                    senior_name=(senior_name or "").strip() or None, junior_name=(junior_name or "").strip() or None,
                    start_date=start_date, end_date=end_date, extra={})
        pair.baseline = [BaselineBelief(idx=i, question=q, answer=a.strip())
                         for i, (q, a) in enumerate(zip(questions, baseline or [])) if a and a.strip()]
        with self.svc.db.session() as s:
            s.add(pair)
        return pair

    def pairs(self, programme: str | None = None) -> list[Pair]:
        with self.svc.db.session() as s:
            q = select(Pair).order_by(Pair.created_at.desc())
            if programme is not None:
                q = q.where(Pair.programme == programme)
            return list(s.scalars(q))

    # -- interviews -------------------------------------------------------------------------

    def _lock(self, debrief_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(debrief_id, threading.Lock())

    def _interview(self, s: Session, d: Debrief) -> Interview:
        baseline = ([(b.answer, self._baseline_returns.get(b.question)) for b in d.pair.baseline]
                    if d.role == "senior" else [])
        return Interview(self._protocols[d.role], baseline, topic=d.pair.topic)

    def _get(self, s: Session, debrief_id: str) -> Debrief:
        d = s.get(Debrief, debrief_id)
        if d is None or d.source != "interview":
            raise DebriefError("This debrief link is not valid. Please check it with your facilitator.")
        return d

    @staticmethod
    def _add_turn(s: Session, d: Debrief, speaker: str, text: str, meta: dict | None = None) -> Turn:
        idx = s.scalar(select(func.coalesce(func.max(Turn.idx), -1)).where(Turn.debrief_id == d.id)) + 1
        t = Turn(debrief_id=d.id, idx=idx, speaker=speaker, text=text, meta=meta)
        s.add(t)
        s.flush()
        return t

    def open(self, pair_id: str, role: str, participant_id: int | None = None) -> str:
        """The live debrief of this pair and role (created, with its first question, if new),
        owned by the participant account ``participant_id`` when given."""
        if role not in ROLES:
            raise DebriefError(f"Role must be one of {ROLES}.")
        with self.svc.db.session() as s:
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
            iv = self._interview(s, d)
            state = iv.new_state()
            for step in iv.start(state):
                self._add_turn(s, d, "coach", step.text, {"kind": step.kind, "slot": step.slot})
            d.state = state
            return d.id

    def view(self, debrief_id: str) -> View:
        with self._lock(debrief_id):
            self._catch_up(debrief_id)
            with self.svc.db.session() as s:
                d = self._get(s, debrief_id)
                iv = self._interview(s, d)
                return View(
                    id=d.id, role=d.role, topic=d.pair.topic,
                    turns=[(t.speaker, t.text) for t in d.turns],
                    progress=iv.progress(d.state), slots=[(sl.id, sl.label) for sl in iv.p.slots],
                    done=d.state["done"], summary=iv.summary(d.state), shared=d.shared,
                    confirmed=d.confirmed_at is not None,
                    records=[{"id": r.id, "kind": r.kind, "text": r.text, "before": r.before, "after": r.after,
                              "quote": r.quote, "status": r.status}
                             for r in sorted(d.records, key=lambda r: (r.turn_index or 0, r.id))],
                )

    def _catch_up(self, debrief_id: str) -> None:
        """Answer a stored participant turn that never got its coach reply (app died in between)."""
        with self.svc.db.session() as s:
            d = self._get(s, debrief_id)
            last = d.turns[-1] if d.turns else None
            if last is None or last.speaker != "participant" or last.idx <= d.state.get("processed", -1):
                return
            state = copy.deepcopy(d.state)
            iv = self._interview(s, d)
            meta = last.meta or {}
            if meta.get("command") == "skip":
                step = iv.skip(state, last.idx)
            elif meta.get("command") == "end":
                step = iv.end(state, last.idx)
            elif "correction_of" in meta:
                step = iv.correct(state, meta["correction_of"], last.text, last.idx, meta.get("replaces", False))
            else:
                step = iv.answer(state, last.text, last.idx)
            self._finish_step(s, d, state, step, step.text)

    def _finish_step(self, s: Session, d: Debrief, state: dict, step: Step, text: str,
                     model_text: str | None = None) -> None:
        meta = {"kind": step.kind, "slot": step.slot, "probe": step.probe}
        if model_text is not None:  # kept for audit and for rating the model's phrasing
            meta |= {"intent": step.text, "model_text": model_text, "model_shown": text != step.text}
        self._add_turn(s, d, "coach", text, meta)
        d.state = state
        flag_modified(d, "state")  # JSON columns do not track changes inside the dict
        d.status = "done" if state["done"] else "open"
        d.updated_at = utcnow()

    def _respond(self, debrief_id: str, act, participant: tuple[str, dict | None] | None = None) -> Iterator[str]:
        """Store the participant's turn (committed first), run ``act(interview, state, idx)``,
        then stream and store the coach's reply. One lock spans it all, so a page reload that
        catches up on unanswered turns cannot answer the same turn twice."""
        with self._lock(debrief_id):
            idx = None
            if participant is not None:
                with self.svc.db.session() as s:
                    d = self._get(s, debrief_id)
                    if d.confirmed_at is not None:
                        raise DebriefError("This debrief is already confirmed. Ask your facilitator to reopen it.")
                    idx = self._add_turn(s, d, "participant", *participant).idx
            with self.svc.db.session() as s:
                d = self._get(s, debrief_id)
                state = copy.deepcopy(d.state)
                step = act(self._interview(s, d), state, idx)
                history = [(t.speaker, t.text) for t in d.turns]
                topic, role = d.pair.topic, d.role
            text, model_text = step.text, None
            if step.kind in ("question", "probe") and self.svc.settings.step_uses_model("interview"):
                text, model_text = yield from self._phrase(step, history, topic, role)
            else:
                yield text
            with self.svc.db.session() as s:
                self._finish_step(s, self._get(s, debrief_id), state, step, text, model_text)
            if state["done"]:  # finished, or corrected after finishing: (re-)extract the records
                from coach.review import Records

                Records(self.svc).extract(debrief_id)

    def say(self, debrief_id: str, text: str) -> Iterator[str]:
        """Store an answer, then yield the coach's reply as it is produced (cumulative text)."""
        text = check_message(text)
        yield from self._respond(debrief_id, lambda iv, st, idx: iv.answer(st, text, idx), (text, None))

    def skip(self, debrief_id: str) -> Iterator[str]:
        yield from self._respond(debrief_id, lambda iv, st, idx: iv.skip(st, idx), SKIP)

    def end(self, debrief_id: str) -> Iterator[str]:
        yield from self._respond(debrief_id, lambda iv, st, idx: iv.end(st, idx), END)

    def correct(self, debrief_id: str, slot_id: str, text: str, replace: bool = True) -> Iterator[str]:
        """A correction of an earlier answer: it ``replace``s what was said there (the earlier
        words stay in the transcript, but no record comes from them), or adds to it."""
        text = check_message(text)
        with self.svc.db.session() as s:
            role = self._get(s, debrief_id).role
        if slot_id not in {sl.id for sl in self._protocols[role].slots}:
            raise DebriefError("Please choose which answer you are correcting.")
        yield from self._respond(debrief_id, lambda iv, st, idx: iv.correct(st, slot_id, text, idx, replace),
                                 (text, {"correction_of": slot_id, "replaces": bool(replace)}))

    def confirm(self, debrief_id: str, share: bool, keep: list[int] | None = None) -> None:
        """The participant's word: share or not, and which summary items are right. Items left
        out of ``keep`` are withdrawn: never reviewed, indexed or suggested. Sharing can be
        changed later by calling again (``keep`` then counts no more: items may be reviewed
        by now): consent given can be taken back, and the other way round."""
        with self._lock(debrief_id), ExitStack() as stack:
            change = None
            with self.svc.db.session() as s:
                d = self._get(s, debrief_id)
                if not d.state["done"]:
                    raise DebriefError("Please finish or end the interview first.")
                if keep is not None and d.confirmed_at is None:
                    for r in d.records:
                        if r.id not in set(keep) and r.status == "pending":
                            r.status = "withdrawn"
                # A changed mind after a review: approved items stop, or start again, feeding
                # suggestions. Withdrawn: every record id goes, in case a review just indexed one.
                # (A first confirmation has nothing approved yet: the index is not touched.)
                ids = [r.id for r in d.records]
                if d.shared != bool(share) and (d.shared or any(r.status == "approved" for r in d.records)):
                    change = stack.enter_context(self.svc.index.following_sql())  # before the commit
                d.shared = bool(share)
                d.confirmed_at = d.confirmed_at or utcnow()
            if change is not None:
                change.committed = True
                if share:
                    self.svc.index.index_records(self.svc.db, ids)  # only the approved ones are indexed
                else:
                    self.svc.index.delete(ids)

    # -- the participant's own data ----------------------------------------------------------

    def export_data(self, debrief_id: str) -> dict:
        """Everything stored about this debrief, for its participant."""
        with self.svc.db.session() as s:
            d = self._get(s, debrief_id)
            p = d.pair
            return {
                "debrief": d.id, "role": d.role, "status": d.status, "shared": d.shared,
                "confirmed_at": d.confirmed_at.isoformat() if d.confirmed_at else None,
                "pair": {"topic": p.topic, "senior": p.senior, "junior": p.junior, "sessions": p.sessions},
                "starting_beliefs": [{"question": b.question, "answer": b.answer} for b in p.baseline]
                if d.role == "senior" else [],
                "transcript": [{"speaker": t.speaker, "text": t.text, "at": t.created_at.isoformat()} for t in d.turns],
                "records": [{"kind": r.kind, "text": r.text, "before": r.before, "after": r.after, "quote": r.quote,
                             "status": r.status} for r in d.records],
            }

    def delete(self, debrief_id: str, forget_name: bool = False) -> None:
        """Delete the debrief, its transcript, its records (SQL and the index) and, for the
        senior, their starting beliefs; with ``forget_name`` also their name on the pair. The
        pair itself stays for the other participant."""
        with self._lock(debrief_id), self.svc.index.following_sql() as change:
            with self.svc.db.session() as s:
                d = self._get(s, debrief_id)
                record_ids = [r.id for r in d.records]
                if d.role == "senior":
                    d.pair.baseline = []
                if forget_name:
                    setattr(d.pair, f"{d.role}_name", None)
                s.delete(d)
            change.committed = True
            self.svc.index.delete(record_ids)  # hydrate checks SQL, so a stale vector never surfaces

    # -- model phrasing ---------------------------------------------------------------------

    def _phrase(self, step: Step, history, topic: str, role: str):
        """Stream the model's phrasing of ``step``; fall back to the protocol text if unfit.

        Returns (text shown last, raw model text or "" if the call failed)."""
        prompt = load_prompt("interview_phrase", self.svc.settings.prompts_dir)
        transcript = "\n".join(f"{sp}: {tx}" for sp, tx in history[-6:])
        msgs = prompt.messages(role=role, topic=topic, transcript=transcript, intent=step.text)
        text = ""
        try:
            for delta in self.svc.gateway.stream(msgs, purpose="interview.phrase", prompt=prompt,
                                                 max_tokens=120, temperature=0.3):
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


SCAFFOLD = ("next question", "rewrite", "transcript", "participant:", "coach:", "question:", "here is", "rephrase")


def acceptable_phrasing(text: str) -> bool:
    """A model's question is shown only if it is one short, clean question (else the protocol's is).

    Measured on the bundled 135M model: most of its outputs fail this, and some that passed a
    looser check echoed the prompt ("NEXT QUESTION: ..."), hence the scaffold words.
    """
    low = text.lower()
    return (8 <= len(text) <= 320 and text.count("?") == 1 and text.rstrip().endswith("?")
            and "\n" not in text.strip() and not any(w in low for w in SCAFFOLD))
