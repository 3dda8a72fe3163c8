"""The semantic index (Chroma), derived from SQL and rebuildable with ``coach reindex``.

Only records that may feed suggestions (approved, from a debrief whose participant agreed to
share) are indexed, so queries need no consent ``where`` filter on the hot path.

Chroma holds each record's vector and its metadata (pair, role, topic, date, theme, depth, the
senior's function, the junior's strengths) but not its text: the text lives in SQL and results
are filled in from there by id. Storing documents would make Chroma build a full-text index on
every insert, which measured slower than embedding itself (evals/README.md).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlparse

import chromadb
from chromadb.config import Settings as ChromaSettings
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from coach.embeddings import MiniLM, MiniLMEmbeddingFunction
from coach.store.db import Database
from coach.store.models import Debrief, Pair, Record

COLLECTION = "records"


def make_client(index_dir: Path, chroma_url: str | None):
    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        u = urlparse(chroma_url)
        return chromadb.HttpClient(
            host=u.hostname or "127.0.0.1", port=u.port or (443 if u.scheme == "https" else 8000),
            ssl=u.scheme == "https", settings=settings,
        )
    index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(index_dir), settings=settings)


# What Chroma stores beside each vector: the facets the issue names, nothing the SQL lookup
# already gives by id (each stored key costs insert time).
INDEX_KEYS = ("pair_id", "role", "topic", "senior", "junior", "theme", "depth", "created")


def record_metadata(rec: Record) -> dict:
    """Everything about a record that suggestions use (from SQL)."""
    d, p = rec.debrief, rec.debrief.pair
    meta = {
        "record_id": rec.id,
        "debrief_id": d.id,
        "pair_id": p.id,
        "programme": p.programme,
        "role": d.role,
        "kind": rec.kind,
        "topic": p.topic,
        "senior": p.senior,
        "junior": p.junior,
        "theme": rec.theme,
        "depth": rec.depth,
        "created": int(d.created_at.timestamp()),
    }
    return {k: v for k, v in meta.items() if v is not None}


class Index:
    def __init__(self, index_dir: Path, chroma_url: str | None = None, db: Database | None = None):
        self.db = db
        self.client = make_client(index_dir, chroma_url)
        self.embedder = MiniLMEmbeddingFunction()
        self.collection = self._collection()

    def _collection(self):
        return self.client.get_or_create_collection(
            COLLECTION, embedding_function=self.embedder, configuration={"hnsw": {"space": "cosine"}}
        )

    def count(self) -> int:
        return self.collection.count()

    def upsert(self, records: Iterable[Record], batch: int = 256, embed_chunk: int = 2048) -> int:
        """Embed and upsert records (caller ensures they are approved and shared).

        Texts are embedded in large chunks (the model sorts each chunk by length, so padding
        stays small), and Chroma stores chunk n while chunk n+1 is being embedded."""
        records = list(records)
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = None
            for start in range(0, len(records), embed_chunk):
                chunk = records[start : start + embed_chunk]
                vectors = MiniLM.shared().embed([r.index_text for r in chunk])
                metas = [{k: v for k, v in record_metadata(r).items() if k in INDEX_KEYS} for r in chunk]
                ids = [f"r{r.id}" for r in chunk]
                if pending is not None:
                    pending.result()
                pending = writer.submit(self._store, ids, vectors, metas, batch)
            if pending is not None:
                pending.result()
        return len(records)

    def _store(self, ids, vectors, metas, batch: int) -> None:
        for i in range(0, len(ids), batch):
            self.collection.upsert(ids=ids[i : i + batch], embeddings=vectors[i : i + batch],
                                   metadatas=metas[i : i + batch])

    def delete(self, record_ids: Iterable[int]) -> None:
        ids = [f"r{i}" for i in record_ids]
        if ids:
            self.collection.delete(ids=ids)

    def search(self, embeddings, n: int) -> list[dict[int, float]]:
        """Per query vector: {record id: cosine similarity} of its n nearest records."""
        res = self.collection.query(query_embeddings=embeddings, n_results=n, include=["distances"])
        return [{int(i[1:]): 1.0 - d for i, d in zip(ids, dists)} for ids, dists in zip(res["ids"], res["distances"])]

    def hydrate(self, record_ids) -> dict[int, dict]:
        """Text and context of records, from SQL (the system of record). One plain SELECT:
        this runs on every suggestion, so no ORM objects are built."""
        if not record_ids:
            return {}
        q = (select(Record.id, Record.kind, Record.text, Record.before, Record.after, Record.theme, Record.depth,
                    Debrief.id.label("debrief_id"), Debrief.role, Debrief.created_at, Pair.id.label("pair_id"),
                    Pair.topic, Pair.senior, Pair.junior, Pair.programme)
             .join(Debrief, Record.debrief_id == Debrief.id).join(Pair, Debrief.pair_id == Pair.id)
             .where(Record.id.in_(list(record_ids))))
        with self.db.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        out = {}
        for r in rows:
            out[r["id"]] = {"text": Record.text_for_index(r["kind"], r["text"], r["before"], r["after"]), "record_id": r["id"], "debrief_id": r["debrief_id"], "pair_id": r["pair_id"],
                            "programme": r["programme"], "role": r["role"], "kind": r["kind"], "topic": r["topic"],
                            "senior": r["senior"], "junior": r["junior"], "theme": r["theme"], "depth": r["depth"],
                            "created": int(r["created_at"].timestamp()) if r["created_at"] else 0}
        return out

    def query(self, text: str, k: int = 20) -> list[dict]:
        [hits] = self.search(MiniLM.shared().embed([text]), k)
        info = self.hydrate(hits)
        return [{"id": f"r{rid}", "text": info[rid]["text"], "meta": info[rid], "distance": 1.0 - sim}
                for rid, sim in sorted(hits.items(), key=lambda kv: -kv[1]) if rid in info]

    def index_records(self, db: Database, record_ids: list[int] | None = None,
                      progress: Callable[[int, int], None] | None = None, batch: int = 256) -> int:
        """Embed and upsert suggestible records from SQL: the given ids, or all of them."""
        q = (
            select(Record)
            .join(Record.debrief)
            .where(Record.status == "approved", Debrief.shared.is_(True))
            .options(joinedload(Record.debrief).joinedload(Debrief.pair))
            .order_by(Record.id)
        )
        if record_ids is not None:
            q = q.where(Record.id.in_(record_ids))
        with db.session() as s:
            recs = s.scalars(q).all()
            total = len(recs)
            step = 2048  # progress granularity; upsert pipelines within each step
            for start in range(0, total, step):
                self.upsert(recs[start : start + step], batch=batch)
                if progress:
                    progress(min(start + step, total), total)
        return total

    def rebuild(self, db: Database, progress: Callable[[int, int], None] | None = None) -> int:
        """Drop the collection and re-index every suggestible record from SQL."""
        try:
            self.client.delete_collection(COLLECTION)
        except Exception:  # absent collection: nothing to drop
            pass
        self.collection = self._collection()
        return self.index_records(db, None, progress)
