"""Store past debriefs from a debrief file and index their records (``coach ingest``)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from sqlalchemy import delete, select

from coach.debrief_file import FileDebrief
from coach.store.db import Database
from coach.store.models import Debrief, Pair, Record, Turn

if TYPE_CHECKING:
    from coach.index import Index


def pair_id_for(d: FileDebrief) -> str:
    """Senior and junior debriefs of one pair share a pair row."""
    key = "\x1f".join((d.pair.senior, d.pair.junior, d.pair.topic))
    return "p-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _records_from_expected(d: FileDebrief) -> list[Record]:
    exp = d.expected
    if exp is None:
        return []
    common = dict(extractor="ingest", status="approved" if d.shared else "pending")
    recs = [Record(kind="learned", text=t, **common) for t in exp.learned]
    recs += [Record(kind="broken_assumption", before=b.before, after=b.after,
                    text=f"{b.before} -> {b.after}", **common) for b in exp.broken_assumptions]
    recs += [Record(kind="action", text=t, **common) for t in exp.actions]
    return recs


def ingest(
    db: Database, debriefs: list[FileDebrief], *, programme: str = "default",
    progress: Callable[[int], None] | None = None,
) -> tuple[list[int], list[int]]:
    """Replace-or-insert each debrief in one transaction.

    Returns (record ids to index, record ids removed from the index).
    """
    to_index, removed = [], []
    with db.session() as s:
        for d in debriefs:
            old = s.get(Debrief, d.id)
            if old is not None:
                removed += list(s.scalars(select(Record.id).where(Record.debrief_id == d.id)))
                s.execute(delete(Record).where(Record.debrief_id == d.id))
                s.execute(delete(Turn).where(Turn.debrief_id == d.id))
                s.delete(old)
                s.flush()
            pid = pair_id_for(d)
            if s.get(Pair, pid) is None:
                extra = {k: v for k, v in (d.pair.model_extra or {}).items()}
                s.add(Pair(id=pid, programme=programme, senior=d.pair.senior, junior=d.pair.junior,
                           topic=d.pair.topic, sessions=d.pair.sessions, extra=extra))
            deb = Debrief(id=d.id, pair_id=pid, role=d.role, status="ingested", shared=d.shared, source="ingest")
            deb.turns = [Turn(idx=i, speaker=t.speaker, text=t.text) for i, t in enumerate(d.transcript)]
            deb.records = _records_from_expected(d)
            s.add(deb)
            s.flush()
            if d.shared:
                to_index += [r.id for r in deb.records if r.status == "approved"]
            if progress:
                progress(1)
    return to_index, removed


def index_texts(debriefs: list[FileDebrief]) -> list[str]:
    """What indexing these debriefs embeds: the index text of each record of a shared debrief."""
    return [r.index_text for d in debriefs if d.shared for r in _records_from_expected(d)]


def ingest_and_index(
    db: Database, index: "Index", debriefs: list[FileDebrief], *, programme: str = "default",
    store_progress: Callable[[int], None] | None = None,
    index_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Store debriefs and index their shared records; returns the number of records indexed.

    The records' texts are known from the file, so they are embedded while the SQL rows are
    written: the model's threads spend their time inside ONNX (which releases the GIL), the ORM
    in Python, so the two overlap instead of adding up."""
    from coach.embeddings import MiniLM

    texts = list(dict.fromkeys(index_texts(debriefs)))
    with ThreadPoolExecutor(max_workers=1) as ex:
        embedding = ex.submit(MiniLM.shared().embed, texts)
        to_index, removed = ingest(db, debriefs, programme=programme, progress=store_progress)
        known = dict(zip(texts, embedding.result()))
    index.delete(removed)
    return index.index_records(db, to_index, progress=index_progress, known=known)
