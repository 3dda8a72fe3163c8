"""Store past debriefs from a debrief file (``coach ingest``).

Each line's records are its ``expected`` items, or what the extractor finds in its transcript.
Their texts are embedded a few chunks ahead (the model's threads) while this thread writes each
chunk's rows, with the themes and vectors coach.records derives, and their index outbox rows, in
one transaction per chunk. The index follows from the outbox (``after_chunk`` lets a command that
holds the index drain it as it goes). Rows are written with bulk Core inserts: the ORM would
cost the model cycles it needs.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from coach.debrief_file import DebriefFileError, FileDebrief
from coach.extraction.injection import suspect_reasons
from coach.records import canonical_text, derive_all, enqueue
from coach.store.db import Database
from coach.store.models import DEFAULT_PROGRAMME, Debrief, Pair, Record, Turn

if TYPE_CHECKING:
    from coach.extraction.records import Extraction

CHUNK_RECORDS = 1000  # records per chunk: one SQL transaction, one batch for the model threads

Extract = Callable[[FileDebrief], "Extraction"]

_BLANK = dict(text="", before=None, after=None, quote="", turn_index=None, model=None, prompt_id=None,
              prompt_hash=None, extractor="ingest", suspect=None)


def pair_id_for(d: FileDebrief, programme: str = DEFAULT_PROGRAMME) -> str:
    """Senior and junior debriefs of one pair (in one programme) share a pair row. The programme
    is part of the key, so a same-named pair of another programme is never touched; the default
    programme's keys are those of the ids given before programmes were part of it."""
    parts = (d.pair.senior, d.pair.junior, d.pair.topic) + (() if programme == DEFAULT_PROGRAMME else (programme,))
    return "p-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def is_ingested_pair(pair_id: str) -> bool:
    """Pairs made by ingest have 16 hex digits (pair_id_for); the app's, 12 (Debriefs.create_pair)."""
    return len(pair_id) == len("p-") + 16


def offline_extract(d: FileDebrief) -> Extraction:
    from coach import extraction
    from coach.extraction.records import Turn as XTurn

    return extraction.run("offline", [XTurn(t.speaker, t.text) for t in d.transcript], d.role, topic=d.pair.topic)


def _items(d: FileDebrief, extract: Extract | None) -> list[dict]:
    """A line's records before derivation: its ``expected`` items, or what the extractor finds."""
    exp = d.expected
    if exp is None:
        ex = (extract or offline_extract)(d)
        return [dict(_BLANK, kind=i.kind, text=i.text or "", before=i.before, after=i.after, quote=i.quote,
                     turn_index=i.turn_index, extractor=ex.extractor, model=ex.model, prompt_id=ex.prompt_id,
                     prompt_hash=ex.prompt_hash) for i in ex.items]
    rows = [dict(_BLANK, kind="learned", text=t) for t in exp.learned]
    rows += [dict(_BLANK, kind="broken_assumption", before=b.before, after=b.after) for b in exp.broken_assumptions]
    rows += [dict(_BLANK, kind="action", text=t) for t in exp.actions]
    return rows


Plan = tuple[FileDebrief, list[dict]]


def _plan(debriefs: list[FileDebrief], extract: Extract | None = None) -> list[Plan]:
    # a debrief id given twice: the later line wins, as it would in two separate ingests
    last = {d.id: d for d in debriefs}
    return [(d, _items(d, extract)) for d in last.values()]


def _texts(plans: list[Plan]) -> list[str]:
    return [canonical_text(r["kind"], r["text"], r["before"], r["after"]) for _, rows in plans for r in rows]


def refuse_live_ids(db: Database, debriefs: list[FileDebrief]) -> None:
    """A line whose id is a debrief recorded in the app (not ingested) would overwrite a
    participant's words: refuse the file, naming the line, before anything is written."""
    ids = [d.id for d in debriefs]
    live: set[str] = set()
    with db.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            live |= set(conn.scalars(select(Debrief.id).where(Debrief.id.in_(ids[i:i + 500]),
                                                              Debrief.source != "ingest")))
    for d in debriefs:
        if d.id in live:
            raise DebriefFileError(f"line {d.line}: id {d.id!r} belongs to a debrief recorded in the app, not "
                                   "an ingested one; nothing was written (give this line another id)")


def _store(conn: Connection, plans: list[Plan], programme: str) -> None:
    """Replace-or-insert these debriefs, their transcripts and records, in ``programme``, and queue
    every record concerned for the index. A debrief ingested before into another programme moves
    with its line (to its pair there); nothing else of its old pair moves."""
    now = datetime.now(UTC)
    pair_of = {d.id: pair_id_for(d, programme) for d, _ in plans}
    programme_of = dict(conn.execute(select(Pair.id, Pair.programme).where(Pair.id.in_(set(pair_of.values())))).all())
    new_pairs = []
    for d, _ in plans:
        pid = pair_of[d.id]
        if pid not in programme_of:
            programme_of[pid] = programme
            new_pairs.append(dict(id=pid, programme=programme, senior=d.pair.senior, junior=d.pair.junior,
                                  topic=d.pair.topic, sessions=d.pair.sessions, extra=dict(d.pair.model_extra or {}),
                                  created_at=now))
    if new_pairs:
        conn.execute(insert(Pair), new_pairs)
    existing = set(conn.scalars(select(Debrief.id).where(Debrief.id.in_([d.id for d, _ in plans]))))
    removed: list[tuple[int, str]] = []
    if existing:
        # Replaced debriefs keep their row; their old records go only after the new ones are in,
        # so a new record never takes an old one's id (ids are cited as evidence and in logs).
        removed = [(rid, prog) for rid, prog in conn.execute(
            select(Record.id, Pair.programme).join(Debrief, Record.debrief_id == Debrief.id)
            .join(Pair, Debrief.pair_id == Pair.id).where(Record.debrief_id.in_(existing))).all()]
        old_pairs = set(conn.scalars(select(Debrief.pair_id).where(Debrief.id.in_(existing))))
        conn.execute(delete(Turn).where(Turn.debrief_id.in_(existing)))
        conn.execute(
            update(Debrief).where(Debrief.id == bindparam("old_id")).values(
                pair_id=bindparam("new_pair"), role=bindparam("new_role"), shared=bindparam("new_shared"),
                status="ingested", source="ingest", confirmed_at=None, participant_id=None,
                created_at=now, updated_at=now),
            [dict(old_id=d.id, new_pair=pair_of[d.id], new_role=d.role, new_shared=d.shared)
             for d, _ in plans if d.id in existing])
        # a debrief that moved to another programme's pair may leave its old ingested pair empty
        left = [pid for pid in old_pairs - set(pair_of.values()) if is_ingested_pair(pid)]
        if left:
            still = set(conn.scalars(select(Debrief.pair_id).where(Debrief.pair_id.in_(left))))
            if set(left) - still:
                conn.execute(delete(Pair).where(Pair.id.in_(set(left) - still)))
    new_debriefs = [dict(id=d.id, pair_id=pair_of[d.id], role=d.role, status="ingested", shared=d.shared,
                         source="ingest", created_at=now, updated_at=now) for d, _ in plans if d.id not in existing]
    if new_debriefs:
        conn.execute(insert(Debrief), new_debriefs)
    turns = [dict(debrief_id=d.id, idx=i, speaker=t.speaker, text=t.text, created_at=now)
             for d, _ in plans for i, t in enumerate(d.transcript)]
    if turns:
        conn.execute(insert(Turn), turns)
    # a suspected injection waits for a facilitator (Review) instead of being approved with the file
    records = [dict(r, debrief_id=d.id, created_at=now, status="approved" if d.shared and not r.get("suspect") else "pending")
               for d, rows in plans for r in rows]
    ids = (conn.scalars(insert(Record).returning(Record.id, sort_by_parameter_order=True), records).all()
           if records else [])
    if removed:
        conn.execute(delete(Record).where(Record.id.in_([rid for rid, _ in removed])))
    programmes = [programme_of[pair_of[d.id]] for d, rows in plans for _ in rows]
    enqueue(conn, list(zip(ids, programmes)) + removed)


def _chunks(plans: list[Plan], size: int, workers: int) -> list[list[Plan]]:
    """Runs of debriefs with about ``size`` records each, their number aimed at a multiple of
    ``workers`` so that no model thread sits idle while the last ones are embedded."""
    weight = [max(1, len(rows)) for _, rows in plans]  # a debrief without records still costs SQL
    if not plans:
        return []
    n_parts = workers * -(-sum(weight) // (workers * size))
    target = -(-sum(weight) // n_parts)
    chunks, current, n = [], [], 0
    for p, w in zip(plans, weight):
        current.append(p)
        n += w
        if n >= target:
            chunks.append(current)
            current, n = [], 0
    return chunks + ([current] if current else [])


def ingest(
    db: Database, debriefs: list[FileDebrief], *, programme: str = DEFAULT_PROGRAMME,
    extract: Extract | None = None, progress: Callable[[int], None] | None = None,
    after_chunk: Callable[[], None] | None = None, chunk_records: int = CHUNK_RECORDS,
) -> int:
    """Store debriefs and queue their records for the index; returns the number of records that
    may feed suggestions (those of shared debriefs, less suspected injections: those stay pending
    until a facilitator approves them in Review).

    A database failure part-way leaves whole chunks stored (ingesting the same file again
    completes it). ``progress`` gets the debriefs stored per chunk; ``after_chunk`` runs after
    each chunk's commit."""
    from coach.embeddings import MiniLM

    refuse_live_ids(db, debriefs)
    model = MiniLM.shared()
    plans = _plan(debriefs, extract)
    total = sum(len(rows) for _, rows in plans)
    suggestible = 0
    # Small files too get several chunks per thread: the last chunk's writes overlap no embedding
    size = max(100, min(chunk_records, -(-total // (4 * model.threads))))
    upcoming = iter(_chunks(plans, size, model.threads))
    queue: deque = deque()

    def submit_next() -> None:
        c = next(upcoming, None)
        if c is not None:
            queue.append((c, model.submit(_texts(c))))

    for _ in range(model.threads + 1):
        submit_next()
    while queue:
        chunk, vectors = queue.popleft()
        vecs = vectors.result()  # the model works ahead on later chunks meanwhile
        k = 0
        for i, (d, rows) in enumerate(chunk):
            vs = vecs[k:k + len(rows)]
            for row, why in zip(rows, suspect_reasons(rows, vs)):  # the vectors serve the detector too
                row["suspect"] = why
            chunk[i] = (d, derive_all(rows, vs))
            suggestible += sum(1 for r in rows if not r.get("suspect")) if d.shared else 0
            k += len(rows)
        with db.engine.begin() as conn:
            _store(conn, chunk, programme)
        submit_next()
        if progress:
            progress(len(chunk))
        if after_chunk:
            after_chunk()
    return suggestible
