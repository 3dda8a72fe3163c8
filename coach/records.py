"""Records: the one home of every record write (live extraction, ingest, a facilitator's review,
consent changes, deletion).

Each record has one canonical ``text`` per kind (a broken assumption's is its
:class:`Assumption` rendered "before → after"); theme, depth, scope and the embedding vector are
derived from it here, once, and again on every edit. Every change that can move a record into
or out of the suggestions' index writes an :class:`~coach.store.models.IndexOutbox` row in the
same transaction; the indexer (coach.index) follows from there. Nothing else writes records.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC

import numpy as np
from sqlalchemy import bindparam, delete, distinct, func, insert, select, update
from sqlalchemy.orm import Session, joinedload

from coach.extraction.injection import suspect_reasons
from coach.policy import Actor, check_reviewer
from coach.store.db import Database
from coach.store.models import Debrief, IndexOutbox, Pair, Record, User, utcnow
from coach.themes import DEPTHS, SCOPES, THEMES, depth_and_scope, themes_of

KINDS = ("learned", "broken_assumption", "action", "taught", "pushback", "session_feedback", "outcome")
KIND_LABEL = {"learned": "Learned / gained", "broken_assumption": "Broken assumption", "action": "Action",
              "taught": "Taught", "pushback": "Where they pushed back", "session_feedback": "About the sessions",
              "outcome": "What became of an action"}
# What may feed suggestions: approved records of debriefs whose participant agreed to share, of
# the kinds that say what was learned, taught or done (not feedback on the sessions themselves).
INDEXED_KINDS = ("learned", "broken_assumption", "action", "taught")
SUGGESTIBLE = (Record.status == "approved", Debrief.shared.is_(True), Record.kind.in_(INDEXED_KINDS))


class ReviewError(ValueError):
    """A review that cannot be done as asked (shown to the facilitator)."""


@dataclass(frozen=True)
class Assumption:
    """A broken assumption: what was believed before, and what is thought now. All rendering of
    one goes through here; nothing parses a rendered one back apart."""

    before: str
    after: str

    @property
    def text(self) -> str:
        """The canonical text: stored, embedded and exported."""
        return f"{_clip(self.before)} → {self.after.strip()}"

    def sentence(self) -> str:
        """For a topic card: believed “X”; afterwards “Y”."""
        return f"believed “{_clip(self.before)}”; afterwards “{_clip(self.after)}”"

    def labelled(self) -> str:
        """For a list: Believed: X → Now: Y."""
        return f"Believed: {_clip(self.before)} → Now: {self.after.strip()}"


def _clip(s: str) -> str:
    return s.strip().rstrip(".").strip()


def canonical_text(kind: str, text: str | None, before: str | None, after: str | None) -> str:
    if kind == "broken_assumption" and before and after:
        return Assumption(before, after).text
    return (text or "").strip()


STATUS_WORDS = {"done": "done", "partly": "partly done", "not_yet": "not yet", "dropped": "dropped"}


def outcome_text(row) -> str:
    """An outcome as one line: the action, what became of it, what happened, a decision changed."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    d = get("detail") or {}
    from coach.followup import you_would

    status, action = str(d.get("status") or ""), str(d.get("action") or "").strip().rstrip(".")
    said = you_would(action)  # "I'll ask each manager ..." -> "Ask each manager ..."
    action = said[0].upper() + said[1:] if said else action
    word = STATUS_WORDS.get(status, status)
    said_text = str(get("text") or "")
    # their answer often opens with the status itself ("Done. We gave ..."): not said twice, nor
    # said against the status they put right in their summary ("partly done. Done. We gave ...")
    leads = "|".join(re.escape(w) for w in sorted({*STATUS_WORDS.values(), "partly"}, key=len, reverse=True))
    lead = re.match(rf"\s*(?:{leads})\s*[.:,;!-]+\s*", said_text, re.I) if word else None
    if lead and said_text[lead.end():]:
        rest = said_text[lead.end():]
        said_text = rest[0].upper() + rest[1:]
    out = f"{action}: {word}. {said_text}"
    return out + (f" Decision changed: {d['decision_changed']}" if d.get("decision_changed") else "")


def render(row) -> str:
    """A record (ORM object or dict with kind/text/before/after) as one line of text."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    before, after = get("before"), get("after")
    if get("kind") == "outcome":
        return outcome_text(row)
    if get("kind") == "broken_assumption" and before and after:
        return Assumption(before, after).labelled()
    return get("text") or ""


# -- derivation ----------------------------------------------------------------------------------

def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def embed(texts: Sequence[str]) -> np.ndarray:
    from coach.embeddings import MiniLM

    return MiniLM.shared().embed(list(texts))


def derived(kind: str, text: str, vector: np.ndarray, theme: str) -> dict:
    """The columns derived from a record's canonical text and its vector."""
    depth, scope = depth_and_scope(kind, text)
    return {"text": text, "theme": theme, "depth": depth, "scope": scope, "vector": to_blob(vector)}


def pair_vectors(topic: str, senior: str) -> bytes:
    """What Pair.vectors holds: the topic's and the senior role's vectors, one blob."""
    return to_blob(embed([topic, senior]).reshape(-1))


def pair_vectors_of(blob: bytes | None) -> tuple[np.ndarray, np.ndarray] | None:
    if not blob:
        return None
    v = from_blob(blob).reshape(2, -1)
    return v[0], v[1]


def fill_pair_vectors(db: Database, pair_ids: Collection[str] | None = None, batch: int = 256) -> int:
    """Derive the vectors of pairs that have none (ingested pairs; pairs of an older version): in
    the background at start, after ``coach ingest``, and for any candidate a query meets without
    them. Returns how many pairs were filled."""
    done = 0
    while True:
        q = select(Pair.id, Pair.topic, Pair.senior).where(Pair.vectors.is_(None))
        if pair_ids is not None:
            q = q.where(Pair.id.in_(list(pair_ids)))
        with db.engine.connect() as conn:
            todo = conn.execute(q.limit(batch)).all()
        if not todo:
            return done
        texts = list(dict.fromkeys(t for _, topic, senior in todo for t in (topic, senior)))
        vec = dict(zip(texts, embed(texts)))
        with db.engine.begin() as conn:
            conn.execute(update(Pair).where(Pair.id == bindparam("pid"), Pair.vectors.is_(None)),
                         [{"pid": pid, "vectors": to_blob(np.concatenate([vec[topic], vec[senior]]))}
                          for pid, topic, senior in todo])
        done += len(todo)
        if pair_ids is not None:
            return done


def derive_all(items: Sequence[dict], vectors: np.ndarray | None = None) -> list[dict]:
    """``items`` (kind, text, before, after) with their canonical text and derived columns;
    ``vectors`` when the caller embedded the canonical texts already (ingest does, ahead)."""
    texts = [canonical_text(i["kind"], i.get("text"), i.get("before"), i.get("after")) for i in items]
    if not items:
        return []
    vecs = embed(texts) if vectors is None else vectors
    return [dict(i, **derived(i["kind"], t, v, th)) for i, t, v, th in zip(items, texts, vecs, themes_of(vecs))]


# -- the outbox ----------------------------------------------------------------------------------

def enqueue(s, entries: Iterable[tuple[int, str]]) -> None:
    """Queue (record id, programme) pairs for the indexer, in the caller's transaction (a Session
    or a Core connection)."""
    rows = [{"record_id": rid, "programme": prog, "created_at": utcnow()} for rid, prog in entries]
    if rows:
        s.execute(insert(IndexOutbox), rows)


def enqueue_debrief(s: Session, d: Debrief) -> None:
    """Every record of a debrief: its consent changed, or it is about to be deleted."""
    enqueue(s, [(r.id, d.pair.programme) for r in d.records])


# -- writes --------------------------------------------------------------------------------------

class Records:
    def __init__(self, db: Database):
        self.db = db

    def store_extraction(self, debrief_id: str, extraction) -> int:
        """Replace a live debrief's pending records by a new extraction; reviewed records stay
        (an item already reviewed is not stored twice). Returns how many were stored."""
        items = [{"kind": i.kind, "text": i.text, "before": i.before, "after": i.after, "quote": i.quote,
                  "turn_index": i.turn_index, "provenance": i.provenance, "detail": getattr(i, "detail", None)}
                 for i in extraction.items]
        with self.db.session() as s:
            reviewed = {(r.kind, r.quote) for r in s.scalars(
                select(Record).where(Record.debrief_id == debrief_id, Record.status != "pending"))}
            items = [i for i in items if (i["kind"], i["quote"]) not in reviewed]
            for row, why in zip(items, suspect_reasons(items)):  # shown to the reviewer (coach.extraction.injection)
                row["suspect"] = why
            s.execute(delete(Record).where(Record.debrief_id == debrief_id, Record.status == "pending"))
            s.add_all(Record(debrief_id=debrief_id, status="pending", extractor=extraction.extractor,
                             model=extraction.model, prompt_id=extraction.prompt_id,
                             prompt_hash=extraction.prompt_hash, **row)
                      for row in derive_all(items))
        return len(items)

    def review(self, actor: Actor, record_id: int, action: str, **edits: str | None) -> dict:
        """approve | reject (with an optional ``reason``) | edit (also approves) | undo (back to
        pending, an edit's original words restored) one record of a shared debrief of the actor's
        programme. An edit re-derives the record's text, theme, depth, scope and vector; a theme,
        depth or scope the facilitator sets overrides the derived one."""
        if action not in ("approve", "reject", "edit", "undo"):
            raise ReviewError(f"Unknown review action {action!r}.")
        with self.db.session() as s:
            r = s.get(Record, record_id)
            if r is None:
                raise ReviewError("No such record.")
            d = shared_debrief(s, r.debrief_id)
            check_reviewer(actor, d.pair.programme)
            if r.status == "withdrawn":
                raise ReviewError("The participant removed this item from their summary; it cannot be reviewed.")
            if action == "undo":
                self._undo(r)
            else:
                if action == "edit":
                    self._edit(r, edits)
                r.reject_reason = (edits.get("reason") or "").strip() or None if action == "reject" else None
                r.status = "rejected" if action == "reject" else "approved"
                r.reviewed_by, r.reviewed_at = actor.name, utcnow()
            enqueue(s, [(r.id, d.pair.programme)])
            return record_row(r)

    @staticmethod
    def _undo(r: Record) -> None:
        if r.status == "pending":
            raise ReviewError("This item has no decision to undo.")
        if r.original is not None:
            r.text, r.before, r.after = r.original["text"], r.original["before"], r.original["after"]
            r.provenance, r.original = r.original.get("provenance") or "extracted", None
            d = derive_all([{"kind": r.kind, "text": r.text, "before": r.before, "after": r.after}])[0]
            r.theme, r.depth, r.scope, r.vector = d["theme"], d["depth"], d["scope"], d["vector"]
        r.status, r.reviewed_by, r.reviewed_at, r.reject_reason = "pending", None, None, None

    @staticmethod
    def _edit(r: Record, edits: dict) -> None:
        if r.original is None:  # what the participant's record said, kept through later edits
            r.original = {"text": r.text, "before": r.before, "after": r.after, "provenance": r.provenance}
        r.provenance = "edited"
        for k in ("text", "before", "after"):
            v = edits.get(k)
            if v is not None and v.strip():
                setattr(r, k, v.strip())
        item = {"kind": r.kind, "text": r.text, "before": r.before, "after": r.after}
        for k, v in derive_all([item])[0].items():
            if k in ("text", "theme", "depth", "scope", "vector"):
                setattr(r, k, v)
        for k, allowed in (("theme", THEMES), ("depth", DEPTHS), ("scope", SCOPES)):
            if edits.get(k) in allowed:  # the facilitator's reading wins over the derived one
                setattr(r, k, edits[k])

    @staticmethod
    def withdraw_unkept(d: Debrief, keep: Iterable[int]) -> None:
        """At the participant's first confirmation: items they unticked are never reviewed,
        indexed or suggested."""
        keep = set(keep)
        for r in d.records:
            if r.id not in keep and r.status == "pending":
                r.status = "withdrawn"

    @staticmethod
    def set_shared(s: Session, d: Debrief, share: bool) -> None:
        """The participant's consent: approved items start, or stop, feeding suggestions."""
        if d.shared != bool(share):
            enqueue_debrief(s, d)
        d.shared = bool(share)

    def refresh_derived(self, batch: int = 500) -> int:
        """Derive again what an older version derived differently (a theme no longer in the
        taxonomy) or not at all (a record's or a pair's vectors): run at start, in the background.
        Returns how many records."""
        from coach.themes import THEMES

        fill_pair_vectors(self.db)
        done = 0
        while True:
            with self.db.session() as s:
                stale = list(s.scalars(select(Record).where(Record.theme.not_in(THEMES) | Record.theme.is_(None)
                                                            | Record.vector.is_(None)).limit(batch)))
                if not stale:
                    return done
                fresh = derive_all([{"kind": r.kind, "text": r.text, "before": r.before, "after": r.after}
                                    for r in stale])
                for r, d in zip(stale, fresh):
                    r.text, r.theme, r.depth, r.scope, r.vector = d["text"], d["theme"], d["depth"], d["scope"], d["vector"]
                enqueue(s, [(r.id, r.debrief.pair.programme) for r in stale])
                done += len(stale)

    # -- reads ---------------------------------------------------------------------------------

    def for_debrief(self, debrief_id: str) -> list[dict]:
        with self.db.session() as s:
            return [record_row(r) for r in s.scalars(
                select(Record).where(Record.debrief_id == debrief_id).order_by(Record.turn_index, Record.id))]

    def approved(self, programme: str | None = None, kinds: Sequence[str] = INDEXED_KINDS) -> list[dict]:
        """Approved records of shared debriefs (of these kinds: by default those that feed topic ideas)."""
        q = (select(Record).join(Record.debrief).join(Debrief.pair)
             .where(Record.status == "approved", Debrief.shared.is_(True), Record.kind.in_(list(kinds)))
             .order_by(Record.id).options(joinedload(Record.debrief).joinedload(Debrief.pair)))
        if programme:
            q = q.where(Pair.programme == programme)
        with self.db.session() as s:
            return [record_row(r) | {"role": r.debrief.role, "topic": r.debrief.pair.topic,
                                     "programme": r.debrief.pair.programme} for r in s.scalars(q)]

    def has_suggestible(self, programmes) -> bool:
        """Whether any record of these programmes may feed suggestions (one indexed lookup)."""
        q = (select(Record.id).join(Debrief, Record.debrief_id == Debrief.id).join(Pair, Debrief.pair_id == Pair.id)
             .where(*SUGGESTIBLE, Pair.programme.in_(list(programmes))).limit(1))
        with self.db.engine.connect() as conn:
            return conn.scalar(q) is not None


def shared_debrief(s: Session, debrief_id: str) -> Debrief:
    """A debrief its participant confirmed and agreed to share (an ingested one: shared in its
    file; its suspected records wait for a facilitator there), or ReviewError."""
    d = s.get(Debrief, debrief_id)
    if d is None or not d.shared or (d.confirmed_at is None and d.source != "ingest"):
        raise ReviewError("This debrief has not been shared with facilitators.")
    return d


def record_row(r: Record) -> dict:
    return {"id": r.id, "debrief": r.debrief_id, "kind": r.kind, "text": r.text, "before": r.before,
            "after": r.after, "quote": r.quote, "turn_index": r.turn_index, "theme": r.theme, "depth": r.depth,
            "scope": r.scope, "status": r.status, "reviewed_by": r.reviewed_by,
            "reviewed_at": r.reviewed_at.isoformat() if r.reviewed_at else None, "extractor": r.extractor,
            "model": r.model, "prompt_id": r.prompt_id, "prompt_hash": r.prompt_hash, "provenance": r.provenance,
            "original": r.original, "suspect": r.suspect, "reject_reason": r.reject_reason, "detail": r.detail}


def evidence_context(db: Database, record_ids, programmes=None) -> dict[int, dict]:
    """Text and context of suggestible records (consent checked here, in SQL, whatever the index
    held a moment ago); only those of ``programmes`` when given."""
    q = (select(Record.id, Record.kind, Record.text, Record.before, Record.after, Debrief.id.label("debrief_id"),
                Debrief.role, Debrief.created_at, Pair.id.label("pair_id"), Pair.topic, Pair.senior, Pair.junior,
                Pair.programme)
         .join(Debrief, Record.debrief_id == Debrief.id).join(Pair, Debrief.pair_id == Pair.id)
         .where(Record.id.in_(list(record_ids)), *SUGGESTIBLE))
    with db.engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return {r["id"]: dict(r, created=_epoch(r["created_at"])) for r in rows
            if programmes is None or r["programme"] in programmes}


# Suggestions run the next two for every query: their statements are built once, with the ids
# as expanding parameters, so a query pays for executing them only.
_RECORD_PAIRS = (select(Record.id, Debrief.pair_id, Pair.programme).join(Debrief, Record.debrief_id == Debrief.id)
                 .join(Pair, Debrief.pair_id == Pair.id)
                 .where(Record.id.in_(bindparam("ids", expanding=True)), *SUGGESTIBLE))


def record_pairs(db: Database, record_ids, programmes=None) -> dict[int, str]:
    """The pair of each of these records that may feed suggestions (of ``programmes`` when given)."""
    with db.engine.connect() as conn:
        return {rid: pid for rid, pid, prog in conn.execute(_RECORD_PAIRS, {"ids": list(record_ids)})
                if programmes is None or prog in programmes}


PER_PAIR = 60  # records read per candidate past pair (see pair_records)


def _pair_records_statement():
    # a pair has two debriefs, but ingested files may file many under one pair (the same roles and
    # topic): its newest PER_PAIR records stand for it, so one query reads a bounded number of rows
    newest = (select(Record.id, func.row_number().over(partition_by=Debrief.pair_id, order_by=Record.id.desc())
                     .label("n"))
              .join(Debrief, Record.debrief_id == Debrief.id)
              .where(Debrief.pair_id.in_(bindparam("pairs", expanding=True)), *SUGGESTIBLE).subquery())
    return (select(Record.id, Record.kind, Record.text, Record.before, Record.after, Record.quote, Record.vector,
                   Debrief.id.label("debrief_id"), Debrief.role, Debrief.created_at, Pair.id.label("pair_id"),
                   Pair.topic, Pair.senior, Pair.junior, Pair.senior_name, Pair.junior_name, Pair.programme,
                   Pair.vectors.label("pair_vectors"), User.display_name.label("participant_name"))
            .join(newest, (newest.c.id == Record.id) & (newest.c.n <= bindparam("per_pair")))
            .join(Debrief, Record.debrief_id == Debrief.id).join(Pair, Debrief.pair_id == Pair.id)
            .outerjoin(User, Debrief.participant_id == User.id)
            .order_by(Record.id))


_PAIR_RECORDS = _pair_records_statement()


def pair_records(db: Database, pair_ids, programmes=None) -> list[dict]:
    """Every suggestible record of these pairs (both of a pair's debriefs; at most the newest
    PER_PAIR of a pair), with its vector, the participant's quote, the pair's roles and topic, and
    the names a quote might mention (the pair's senior_name and junior_name, the debrief's
    participant's display name), for suggestions to score a past pair as a whole and to show its
    evidence without names."""
    if not pair_ids:
        return []
    with db.engine.connect() as conn:
        rows = conn.execute(_PAIR_RECORDS, {"pairs": list(pair_ids), "per_pair": PER_PAIR}).mappings().all()
    return [dict(r, created=_epoch(r["created_at"]), vector=from_blob(r["vector"]) if r["vector"] else None)
            for r in rows if programmes is None or r["programme"] in programmes]


_PAIR_OUTCOMES = (select(Debrief.pair_id, Record.detail).join(Debrief, Record.debrief_id == Debrief.id)
                  .where(Debrief.pair_id.in_(bindparam("pairs", expanding=True)), Record.kind == "outcome",
                         Record.status == "approved", Debrief.shared.is_(True)))


def pair_outcomes(db: Database, pair_ids) -> dict[str, list[dict]]:
    """The approved, shared outcomes of these pairs' actions ({"status", "decision_changed", ...}),
    by pair: what became of what they set out to do, for topic ideas to weigh."""
    if not pair_ids:
        return {}
    out: dict[str, list[dict]] = {}
    with db.engine.connect() as conn:
        for pid, detail in conn.execute(_PAIR_OUTCOMES, {"pairs": list(pair_ids)}):
            out.setdefault(pid, []).append(detail or {})
    return out


def app_pairs(s: Session, programme: str | None) -> list[Pair]:
    """The pairs run in the app (not made by ingesting files) of a programme (None: every one):
    what a programme's progress and impact figures count."""
    ingested = select(Debrief.id).where(Debrief.pair_id == Pair.id, Debrief.source == "ingest").exists()
    q = select(Pair).where(~ingested)
    if programme is not None:
        q = q.where(Pair.programme == programme)
    return list(s.scalars(q))


def pairs_of_participant(db: Database, participant_id: int) -> set[str]:
    """The pairs a participant has a debrief in (their own pairs)."""
    with db.engine.connect() as conn:
        return set(conn.scalars(select(Debrief.pair_id).where(Debrief.participant_id == participant_id)))


def shared_debriefs_outside(db: Database, programmes, exclude_pairs=()) -> int:
    """How many debriefs of these programmes, outside ``exclude_pairs``, have at least one record
    that may feed suggestions."""
    q = (select(func.count(distinct(Debrief.id))).select_from(Record)
         .join(Debrief, Record.debrief_id == Debrief.id).join(Pair, Debrief.pair_id == Pair.id)
         .where(*SUGGESTIBLE, Pair.programme.in_(list(programmes))))
    if exclude_pairs:
        q = q.where(Pair.id.not_in(list(exclude_pairs)))
    with db.engine.connect() as conn:
        return int(conn.scalar(q) or 0)


def _epoch(when) -> int:
    # SQLite hands back naive datetimes; coach writes them in UTC, whatever the server's zone
    if when is None:
        return 0

    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
