"""Store past debriefs from a debrief file and index their records (``coach ingest``).

Rows are written with bulk Core inserts, not ORM objects: on a 2-core machine the model needs
every cycle it can get, and the ORM cost ~0.4 ms per record against ~0.04 ms this way
(evals/README.md).
"""

from __future__ import annotations

import hashlib
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from sqlalchemy import bindparam, delete, insert, null, select, update
from sqlalchemy.engine import Connection

from coach.debrief_file import FileDebrief
from coach.store.db import Database
from coach.store.models import DEFAULT_PROGRAMME, Debrief, Pair, Record, Turn

if TYPE_CHECKING:
    from coach.extraction.records import Extraction
    from coach.index import Index

# Debriefs per SQL statement batch: keeps each IN (...) list far below SQLite's variable limit.
STORE_CHUNK = 500


def pair_id_for(d: FileDebrief, programme: str = DEFAULT_PROGRAMME) -> str:
    """Senior and junior debriefs of one pair (in one programme) share a pair row. The programme
    is part of the key, so a same-named pair of another programme is never touched; the default
    programme's keys are those of the ids given before programmes were part of it."""
    parts = (d.pair.senior, d.pair.junior, d.pair.topic) + (() if programme == DEFAULT_PROGRAMME else (programme,))
    return "p-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def is_ingested_pair(pair_id: str) -> bool:
    """Pairs made by ingest have 16 hex digits (pair_id_for); the app's, 12 (Debriefs.create_pair)."""
    return len(pair_id) == len("p-") + 16


Extract = Callable[[FileDebrief], "Extraction"]

# Every record row carries every column, so one executemany covers rows from either source.
_BLANK = dict(text="", before=None, after=None, quote="", turn_index=None, theme=None, depth=None, scope=None,
              model=None, prompt_id=None, prompt_hash=None)


def _extract_with(name: str, d: FileDebrief, gateway=None) -> "Extraction":
    """One extractor over a file line's transcript (grounded, guarded, classified)."""
    from coach import extraction
    from coach.extraction.records import Turn as XTurn

    turns = [XTurn(t.speaker, t.text) for t in d.transcript]
    return extraction.run(name, turns, d.role, topic=d.pair.topic, gateway=gateway)


def offline_extract(d: FileDebrief) -> "Extraction":
    return _extract_with("offline", d)


def extractor_for(svc) -> Extract:
    """The installation's default extractor (shared/contracts.md: ingest extracts the lines that
    carry no ``expected`` records); a model failure falls back to the offline one."""
    from coach import extraction

    name = extraction.default_extractor(svc.settings)
    if name == "offline":
        return offline_extract

    def extract(d: FileDebrief) -> "Extraction":
        try:
            return _extract_with(name, d, svc.gateway)
        except Exception:  # an unreachable model must not stop an ingest
            return offline_extract(d)

    return extract


def _record_rows(d: FileDebrief, extract: Extract | None = None) -> list[dict]:
    """A file line's records: its ``expected`` items, or what the extractor finds in its
    transcript; approved if the participant shared the debrief."""
    exp = d.expected
    if exp is None:
        ex = (extract or offline_extract)(d)
        rows = [dict(_BLANK, kind=i.kind, text=i.text or "", before=i.before, after=i.after, quote=i.quote,
                     turn_index=i.turn_index, theme=i.theme, depth=i.depth, scope=i.scope, extractor=ex.extractor,
                     model=ex.model, prompt_id=ex.prompt_id, prompt_hash=ex.prompt_hash) for i in ex.items]
    else:
        rows = [dict(_BLANK, kind="learned", text=t) for t in exp.learned]
        rows += [dict(_BLANK, kind="broken_assumption", text=f"{b.before} -> {b.after}", before=b.before, after=b.after)
                 for b in exp.broken_assumptions]
        rows += [dict(_BLANK, kind="action", text=t) for t in exp.actions]
        from coach.extraction.classify import depth_and_scope

        for r in rows:
            r["extractor"] = "ingest"
            # theme needs the item's vector: Index.write fills it in when the record is indexed
            r["depth"], r["scope"] = depth_and_scope(r["kind"], f"{r['before']} {r['after']}"
                                                     if r["kind"] == "broken_assumption" else r["text"])
    status = "approved" if d.shared else "pending"
    for r in rows:
        r["status"] = status
    return rows


Plan = tuple[FileDebrief, list[dict]]


def _plan(debriefs: list[FileDebrief], extract: Extract | None = None) -> list[Plan]:
    # a debrief id given twice: the later line wins, as it would in two separate ingests
    last = {d.id: d for d in debriefs}
    return [(d, _record_rows(d, extract)) for d in last.values()]


def _indexed_texts(plans: list[Plan]) -> list[str]:
    """In the order ``_store`` returns rows to index: records of shared debriefs."""
    return [Record.text_for_index(r["kind"], r["text"], r["before"], r["after"])
            for d, rows in plans if d.shared for r in rows]


def _set_themes(plans: list[Plan], vectors) -> None:
    """Give records without a theme (an ingested item's) the nearest one of their index vector
    (vectors in ``_indexed_texts`` order), so they are stored with it."""
    from coach.extraction.classify import themes_of

    rows = [r for d, recs in plans if d.shared for r in recs]
    need = [k for k, r in enumerate(rows) if r["theme"] is None]
    if need:
        for k, theme in zip(need, themes_of(vectors[need])):
            rows[k]["theme"] = theme


def index_texts(debriefs: list[FileDebrief]) -> list[str]:
    """What indexing these debriefs embeds: the index text of each record of a shared debrief."""
    return _indexed_texts(_plan(debriefs))


def _store(conn: Connection, plans: list[Plan], programme: str) -> tuple[list[dict], list[int]]:
    """Replace-or-insert these debriefs, their transcripts and records, in ``programme``. A
    debrief ingested before into another programme moves with its line (to its pair there);
    nothing else of its old pair moves.

    Returns (rows of ``coach.index._COLUMNS`` for the records to index, ids of records removed)."""
    now = datetime.now(timezone.utc)
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
    removed: list[int] = []
    if existing:
        # Replaced debriefs keep their row; their old records go only after the new ones are in,
        # so a new record never takes an old one's id (ids are cited as evidence and in logs).
        removed = list(conn.scalars(select(Record.id).where(Record.debrief_id.in_(existing))))
        old_pairs = set(conn.scalars(select(Debrief.pair_id).where(Debrief.id.in_(existing))))
        conn.execute(delete(Turn).where(Turn.debrief_id.in_(existing)))
        conn.execute(
            update(Debrief).where(Debrief.id == bindparam("old_id")).values(
                pair_id=bindparam("new_pair"), role=bindparam("new_role"), shared=bindparam("new_shared"),
                status="ingested", source="ingest", state=null(), confirmed_at=None, participant_id=None,
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
    records = [dict(r, debrief_id=d.id, created_at=now) for d, rows in plans for r in rows]
    record_ids = (conn.scalars(insert(Record).returning(Record.id, sort_by_parameter_order=True), records).all()
                  if records else [])
    if removed:
        conn.execute(delete(Record).where(Record.id.in_(removed)))
    to_index, k = [], 0
    for d, rows in plans:
        if d.shared:
            pid = pair_of[d.id]
            context = dict(debrief_id=d.id, role=d.role, created_at=now, pair_id=pid, topic=d.pair.topic,
                           senior=d.pair.senior, junior=d.pair.junior, programme=programme_of[pid])
            to_index += [dict(r, id=record_ids[k + j], **context) for j, r in enumerate(rows)]
        k += len(rows)
    return to_index, removed


def _chunks(plans: list[Plan], size: int) -> list[list[Plan]]:
    return [plans[i : i + size] for i in range(0, len(plans), size)]


def _chunks_by_records(plans: list[Plan], size: int, workers: int) -> list[list[Plan]]:
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
    progress: Callable[[int], None] | None = None, extract: Extract | None = None,
) -> tuple[list[int], list[int]]:
    """Replace-or-insert every debrief in one transaction (SQL only; see ``ingest_and_index``).

    Returns (record ids to index, record ids removed from the index)."""
    to_index, removed = [], []
    with db.engine.begin() as conn:
        for chunk in _chunks(_plan(debriefs, extract), STORE_CHUNK):
            rows, gone = _store(conn, chunk, programme)
            to_index += [r["id"] for r in rows]
            removed += gone
            if progress:
                progress(len(chunk))
    return to_index, removed


def ingest_and_index(
    db: Database, index: "Index", debriefs: list[FileDebrief], *, programme: str = DEFAULT_PROGRAMME,
    chunk_records: int = 1000, extract: Extract | None = None,
    store_progress: Callable[[int], None] | None = None,
    index_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Store debriefs and index their shared records; returns the number of records indexed.

    The file is taken in chunks of about ``chunk_records`` records. The model's threads embed
    the chunks' texts a few chunks ahead of this thread, which writes each chunk's SQL rows
    (with the themes its vectors give) and commits them, then stores the vectors in Chroma: the
    model keeps both cores busy and the writes fit in between. Chroma is written only after the commit, so it never points at a record
    id that a failed transaction could hand out again. A database failure part-way leaves
    whole chunks stored and indexed, and ingesting the same file again completes it; if
    Chroma fails (or the process dies) after a commit, the index is marked as behind SQL and
    its next query, or the next process to open it, indexes that chunk (Index.following_sql)."""
    from coach.embeddings import MiniLM

    model = MiniLM.shared()
    plans = _plan(debriefs, extract)
    total = sum(len(rows) for d, rows in plans if d.shared)
    # Small files too get several chunks per thread: the last chunk's SQL and Chroma writes
    # cannot overlap with any embedding, so it should be short.
    size = max(100, min(chunk_records, -(-total // (4 * model.threads))))
    chunks = _chunks_by_records(plans, size, model.threads)
    queue: deque = deque()
    upcoming = iter(chunks)

    def submit_next() -> None:
        c = next(upcoming, None)
        if c is not None:
            queue.append((c, model.submit(_indexed_texts(c))))

    for _ in range(model.threads + 1):
        submit_next()
    indexed = 0
    with index.following_sql() as change:  # interrupted between a commit and its Chroma write: caught up later
        while queue:
            chunk, vectors = queue.popleft()
            # The model works ahead on later chunks, so waiting for this one's vectors before
            # its SQL rows costs no overlap, and its rows are stored with their themes.
            vectors = vectors.result()
            _set_themes(chunk, vectors)
            with db.engine.begin() as conn:
                rows, removed = _store(conn, chunk, programme)
            change.committed = True
            if store_progress:
                store_progress(len(chunk))
            index.delete(removed)
            index.write(rows, vectors)
            submit_next()
            indexed += len(rows)
            if index_progress:
                index_progress(indexed, total)
    return indexed
