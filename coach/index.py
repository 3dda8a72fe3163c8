"""The semantic index (Chroma), derived from SQL and rebuildable with ``coach reindex``.

Only records that may feed suggestions (approved, from a debrief whose participant agreed to
share) are indexed, so queries need no consent ``where`` filter on the hot path.

Chroma holds each record's vector and its facets (pair, role, topic, date, theme, depth, the
senior's function, the junior's strengths; one JSON metadata value) but not its text: the text lives in SQL and results
are filled in from there by id. Storing documents would make Chroma build a full-text index on
every insert, which measured slower than embedding itself (evals/README.md).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Collection, Iterable
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from sqlalchemy import bindparam, select, update

from coach import index_lock
from coach.embeddings import MiniLM, MiniLMEmbeddingFunction
from coach.store.db import Database
from coach.store.models import Debrief, Pair, Record

log = logging.getLogger("coach.index")

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


# What Chroma stores beside each vector: the facets the issue names, packed as one JSON string
# under FACETS. Chroma writes one SQLite row per metadata key, and eight keys doubled the cost of
# a write (evals/README.md); nothing filters on them in Chroma (a `where` filter is ~50x slower
# than the query itself, and SQL holds the same facets as columns), so one key loses nothing used.
INDEX_KEYS = ("pair_id", "role", "topic", "senior", "junior", "theme", "depth", "created")
FACETS = "facets"

# The columns behind a record's index text and facets; one plain SELECT, no ORM objects, since
# it runs for every suggestion (hydrate) and for every record indexed.
_COLUMNS = (Record.id, Record.kind, Record.text, Record.before, Record.after, Record.theme, Record.depth,
            Debrief.id.label("debrief_id"), Debrief.role, Debrief.created_at, Pair.id.label("pair_id"),
            Pair.topic, Pair.senior, Pair.junior, Pair.programme)


# What may feed suggestions: approved records of debriefs whose participant agreed to share.
SUGGESTIBLE = (Record.status == "approved", Debrief.shared.is_(True))


def record_metadata(row) -> dict:
    """Everything about a record that suggestions use, from a row of ``_COLUMNS``."""
    meta = {
        "text": index_text(row),
        "record_id": row["id"],
        "debrief_id": row["debrief_id"],
        "pair_id": row["pair_id"],
        "programme": row["programme"],
        "role": row["role"],
        "kind": row["kind"],
        "topic": row["topic"],
        "senior": row["senior"],
        "junior": row["junior"],
        "theme": row["theme"],
        "depth": row["depth"],
        "created": _epoch(row["created_at"]),
    }
    return {k: v for k, v in meta.items() if v is not None}


def _epoch(when: datetime | None) -> int:
    # SQLite hands back naive datetimes; coach writes them in UTC, whatever the server's zone
    if when is None:
        return 0
    return int((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp())


def index_text(row) -> str:
    """What is embedded for a row of ``_COLUMNS``."""
    return Record.text_for_index(row["kind"], row["text"], row["before"], row["after"])


def split_evenly(items: list, size: int, workers: int) -> list[list]:
    """Parts of about ``size`` items, their number a multiple of ``workers`` so that none of the
    model's threads sits idle while the last parts are embedded."""
    if not items:
        return []
    n_parts = workers * -(-len(items) // (workers * size))
    step = -(-len(items) // n_parts)
    return [items[i : i + step] for i in range(0, len(items), step)]


def facets(chroma_metadata: dict) -> dict:
    """The facets stored with a vector in Chroma (inverse of what ``Index.upsert`` writes)."""
    return json.loads(chroma_metadata[FACETS])


VECTOR_CACHE_MAX = 20_000  # vectors kept for search_among (1.5 KB each)
LARGE_RECHECK_S = 60.0


class Index:
    """The records' vectors. On the embedded index, only one process may open it for writing
    (coach.index_lock): the app with ``background_sync`` (it catches up with commands that
    changed SQL meanwhile, in a thread), or a command; ``read_only`` opens it without the lock,
    for a query while the app holds it, and never writes."""

    def __init__(self, index_dir: Path, chroma_url: str | None = None, db: Database | None = None, *,
                 background_sync: bool = False, read_only: bool = False):
        self.db = db
        self.index_dir = index_dir
        self.read_only = read_only
        self.background_sync = background_sync
        self._sync_lock = threading.RLock()  # a command syncs while holding it
        self._programme_of: dict[int, str] = {}  # record id -> programme (see in_programmes)
        self.programme_share: dict[frozenset, float] = {}  # programmes -> share of hits (coach.suggest)
        # record id -> unit vector, for search_among; dropped when this process writes or deletes
        # the record (a review edit re-embeds it under the same id), and ``_written`` counts those
        # writes so that a vector read from Chroma while one runs is not kept
        self._vectors: dict[int, np.ndarray] = {}
        self._written = 0
        self._large_seen: dict[frozenset, tuple[float, int]] = {}  # programmes -> when found above what limit
        self._sync_thread: threading.Thread | None = None
        self._closing = threading.Event()
        # Changes committed to SQL whose Chroma write is under way, or failed: see following_sql
        self._in_flight = 0
        self._failures = self._failures_synced = 0
        self._behind_marked = False
        self._retry_at, self._retry_delay = 0.0, 0.0  # back-off after a failed catch-up in the app
        embedded_writer = not (chroma_url or read_only)
        self._lock = index_lock.hold(index_dir, "app" if background_sync else "command") if embedded_writer else None
        try:
            self.client = make_client(index_dir, chroma_url)
            self.embedder = MiniLMEmbeddingFunction()
            self.collection = self._collection()
        except BaseException:
            self.close()
            raise
        self._sync_seen = index_lock.synced_state(index_dir) if self._lock else None
        if self._lock and index_lock.is_behind(index_dir):  # the last holder died or failed mid-change
            self._failures, self._behind_marked = 1, True

    def _collection(self):
        return self.client.get_or_create_collection(
            COLLECTION, embedding_function=self.embedder, configuration={"hnsw": {"space": "cosine"}}
        )

    def close(self) -> None:
        """Finish with the index: stop a catch-up between chunks, then let another process open
        it (this process keeps it while any other holder, e.g. the app, still does)."""
        self._closing.set()
        if self._sync_thread is not None:
            self._sync_thread.join(timeout=120)
        if self._lock is not None:
            index_lock.release(self._lock)
            self._lock = None

    def _writable(self) -> None:
        if self.read_only:
            raise RuntimeError("this index was opened read-only (another process holds it)")

    def count(self) -> int:
        self._maybe_sync()
        return self.collection.count()

    def _maybe_sync(self) -> None:
        """Catch up with SQL if a command changed it while another process held the index
        (``coach ingest`` while the app runs stores the rows and leaves the indexing to the app).
        The app does it in a thread (a large ingest takes minutes to embed; queries go on with
        what is indexed meanwhile); a command, before it answers."""
        if self._lock is None or self.db is None:
            return
        state = index_lock.sync_state(self.index_dir)
        with self._sync_lock:
            if state == self._sync_seen and self._failures == self._failures_synced:
                return
            if (self._sync_thread is not None and self._sync_thread.is_alive()) or time.monotonic() < self._retry_at:
                return
            if not self.background_sync:
                self._sync_to(state)
                return
            self._sync_thread = threading.Thread(target=self._sync_to, args=(state,), name="index-sync", daemon=True)
            self._sync_thread.start()

    def _sync_to(self, state) -> None:
        failures = self._failures  # a write failing during the sync may commit after it reads SQL
        try:
            if self.sync(self.db):
                index_lock.mark_synced(self.index_dir, state)
                with self._sync_lock:
                    self._sync_seen = state  # a request made during the sync differs: the next query syncs again
                    self._failures_synced = failures
                    self._retry_at, self._retry_delay = 0.0, 0.0
                    self._settle()
        except Exception as e:
            if not self.background_sync:
                raise
            with self._sync_lock:  # back off, so a lasting fault is not retried (and logged) on every query
                first = self._retry_delay == 0.0
                self._retry_delay = min(300.0, max(5.0, self._retry_delay * 2))
                self._retry_at = time.monotonic() + self._retry_delay
            if first:
                log.exception("could not bring the index in line with SQL; trying again in %.0f s", self._retry_delay)
            else:
                log.warning("the index is still not in line with SQL (%s); trying again in %.0f s", e, self._retry_delay)

    def catching_up(self) -> bool:
        """Whether a catch-up with SQL is running or due: answers may miss records just added."""
        thread = self._sync_thread
        if thread is not None and thread.is_alive():
            return True
        return self._lock is not None and (index_lock.sync_state(self.index_dir) != self._sync_seen
                                           or self._failures != self._failures_synced)

    @contextmanager
    def following_sql(self, committed: bool = False):
        """Wrap a change committed to SQL first and given to Chroma after (ingest, a review, a
        deletion). The caller sets ``change.committed = True`` once its SQL commit is done. If
        the Chroma step then fails, or the process dies before it, the index is marked as behind
        SQL (a file beside it) and the next query, or the next process to open it, brings it in
        line; an error before the commit (a refused review) changed nothing and marks nothing.
        No-op on a Chroma server or a read-only index (no lock held)."""
        change = SimpleNamespace(committed=committed)
        if self._lock is None:
            yield change
            return
        ok = False
        try:
            with self._sync_lock:
                self._in_flight += 1
                self._settle()
            yield change
            ok = True
        finally:
            with self._sync_lock:
                self._in_flight -= 1
                self._failures += not ok and change.committed
                self._settle()

    def _settle(self) -> None:
        """Keep the behind-SQL file in step (callers hold ``_sync_lock``). Best effort: a
        file that cannot be written must not fail a change already committed to SQL."""
        behind = self._in_flight > 0 or self._failures != self._failures_synced
        if behind != self._behind_marked:
            try:
                index_lock.mark_behind(self.index_dir, behind)
                self._behind_marked = behind
            except OSError as e:
                log.warning("could not %s %s: %s", "write" if behind else "remove", index_lock.BEHIND_FILE, e)

    def sync(self, db: Database, step: int = 2000) -> bool:
        """Bring the index in line with SQL: add the suggestible records it lacks, drop the
        ones it should not hold. False if stopped part-way by :meth:`close`.

        Safe beside the app's own writes: what Chroma holds is read before what SQL allows (a
        record approved meanwhile is in both), and each added batch is checked against SQL
        again once stored (a record rejected or erased meanwhile is taken out again)."""
        have = {int(i[1:]) for i in self.collection.get(include=[])["ids"] if i.startswith("r")}
        want = {r["id"] for r in self._rows(*SUGGESTIBLE, db=db, columns=(Record.id,))}
        self.delete(sorted(have - want))
        missing = sorted(want - have)
        for i in range(0, len(missing), step):  # ids per IN (...): far below the bound-parameter limits
            if self._closing.is_set():
                return False
            ids = missing[i : i + step]
            self.index_records(db, ids)
            still = {r["id"] for r in self._rows(Record.id.in_(ids), *SUGGESTIBLE, db=db, columns=(Record.id,))}
            self.delete(sorted(set(ids) - still))
        return True

    def upsert(self, rows: Iterable, chunk: int = 1000, progress: Callable[[int], None] | None = None,
               db: Database | None = None) -> int:
        """Embed and upsert records, given as rows of ``_COLUMNS`` (caller ensures they are
        approved and shared).

        Chunks are embedded side by side (MiniLM.embed_stream) while this thread stores the
        finished ones; Chroma holds the GIL while it writes, so the model's threads keep working
        only because they spend their time inside ONNX, which releases it. ``progress`` gets
        the number of records stored so far after each chunk."""
        rows = list(rows)
        parts = split_evenly(rows, chunk, MiniLM.shared().threads)
        done = 0
        for part, vectors in zip(parts, MiniLM.shared().embed_stream([index_text(r) for r in part] for part in parts)):
            self.write(part, vectors, db)
            done += len(part)
            if progress:
                progress(done)
        return len(rows)

    def write(self, rows: list, vectors, db: Database | None = None) -> None:
        """Store already-embedded records (rows of ``_COLUMNS``, vectors in the same order).

        A record without a theme (an ingested past debrief's item: its theme needs a vector)
        gets the nearest theme of the vector just computed, in SQL too, so the dashboard and
        the facets have it without embedding anything twice."""
        self._writable()
        if not rows:
            return
        metas = [record_metadata(r) for r in rows]
        missing = [k for k, m in enumerate(metas) if "theme" not in m]
        if missing:
            from coach.extraction.classify import themes_of

            for k, theme in zip(missing, themes_of(np.asarray(vectors)[missing])):
                metas[k]["theme"] = theme
            if (db := db or self.db) is not None:
                with db.engine.begin() as conn:
                    conn.execute(update(Record).where(Record.id == bindparam("rid"), Record.theme.is_(None))
                                 .values(theme=bindparam("t")),
                                 [{"rid": metas[k]["record_id"], "t": metas[k]["theme"]} for k in missing])
        self.collection.upsert(
            ids=[f"r{m['record_id']}" for m in metas], embeddings=vectors,
            metadatas=[{FACETS: json.dumps({k: m[k] for k in INDEX_KEYS if k in m})} for m in metas],
        )
        self._forget_vectors(m["record_id"] for m in metas)  # after the upsert: see search_among

    def delete(self, record_ids: Iterable[int]) -> None:
        record_ids = list(record_ids)
        for i in record_ids:  # ids are not reused (sqlite_autoincrement), but a stale entry would only cost memory
            self._programme_of.pop(i, None)
        ids = [f"r{i}" for i in record_ids]
        self._writable()
        if ids:
            self.collection.delete(ids=ids)
        self._forget_vectors(record_ids)

    def search(self, embeddings, n: int) -> list[dict[int, float]]:
        """Per query vector: {record id: cosine similarity} of its n nearest records."""
        self._maybe_sync()
        res = self.collection.query(query_embeddings=embeddings, n_results=n, include=["distances"])
        return [{int(i[1:]): 1.0 - d for i, d in zip(ids, dists)} for ids, dists in zip(res["ids"], res["distances"])]

    def hydrate(self, record_ids, programmes: Collection[str] | None = None) -> dict[int, dict]:
        """Text and context of records, from SQL (the system of record); only those of
        ``programmes`` when given."""
        if not record_ids:
            return {}
        # Only what may be suggested, even if the index held something else for a moment (a
        # review changing a record's status while a sync runs): consent is checked here too.
        rows = self._rows(Record.id.in_(list(record_ids)), *SUGGESTIBLE)
        # the programme is checked here rather than in SQL: given a programme, SQLite's planner
        # walks the programme's index (all its records) instead of looking the ids up
        return {r["id"]: record_metadata(r) for r in rows if programmes is None or r["programme"] in programmes}

    def has_suggestible(self, programmes: Collection[str]) -> bool:
        """Whether any record of ``programmes`` may feed suggestions (one indexed lookup)."""
        return bool(self.suggestible_ids(programmes, limit=1))

    def small_programme_ids(self, programmes: Collection[str], limit: int) -> list[int] | None:
        """The suggestible record ids of ``programmes`` if there are at most ``limit``, else None.
        Programmes found larger are not counted again for LARGE_RECHECK_S (reading their first
        ``limit`` ids costs a large programme several ms a query, and a large programme turns
        small only by mass deletion; what is shown is checked in SQL anyway)."""
        key = frozenset(programmes)
        when, above = self._large_seen.get(key, (0.0, 0))
        if above >= limit and time.monotonic() - when < LARGE_RECHECK_S:
            return None
        ids = self.suggestible_ids(programmes, limit=limit + 1)
        if len(ids) <= limit:
            self._large_seen.pop(key, None)
            return ids
        self._large_seen[key] = (time.monotonic(), limit)
        return None

    def suggestible_ids(self, programmes: Collection[str], limit: int) -> list[int]:
        """Up to ``limit`` ids of the records of ``programmes`` that may feed suggestions (one
        SQL lookup; the limit keeps it cheap for a large programme)."""
        q = (select(Record.id).join(Debrief, Record.debrief_id == Debrief.id).join(Pair, Debrief.pair_id == Pair.id)
             .where(*SUGGESTIBLE, Pair.programme.in_(list(programmes))).limit(limit))
        with self.db.engine.connect() as conn:
            return list(conn.scalars(q))

    def search_among(self, embeddings, record_ids: list[int], n: int) -> list[dict[int, float]]:
        """Like :meth:`search`, but exact and over these records only: for a small programme,
        whose records a search of the whole index may not reach. Their vectors are read from
        Chroma once (its ``get`` costs ~30 us a record) and then kept in this process."""
        self._maybe_sync()
        missing = [i for i in record_ids if i not in self._vectors]
        if missing:
            written = self._written
            got = self.collection.get(ids=[f"r{i}" for i in missing], include=["embeddings"])
            found = {}
            if got["ids"]:  # none when the records are not (or no longer) in Chroma
                fresh = np.asarray(got["embeddings"], dtype=np.float32)
                fresh /= np.maximum(np.linalg.norm(fresh, axis=1, keepdims=True), 1e-12)
                found = dict(zip((int(i[1:]) for i in got["ids"]), fresh))
            if len(self._vectors) + len(found) > VECTOR_CACHE_MAX:
                self._vectors.clear()  # rare: many small programmes asked in one process
            if written == self._written:  # no write meanwhile could have replaced what was read
                self._vectors.update(found)
        else:
            found = {}
        # one lookup per id: a sync thread may drop entries meanwhile; ids not yet in Chroma are skipped
        vecs = {i: v for i in record_ids if (v := self._vectors.get(i, found.get(i))) is not None}
        if not vecs:
            return [{} for _ in embeddings]
        have = list(vecs)
        matrix = np.stack(list(vecs.values()))
        queries = np.asarray(embeddings, dtype=np.float32)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        out = []
        for row in queries @ matrix.T:
            top = np.argsort(-row)[:n]
            out.append({have[j]: float(row[j]) for j in top})
        return out

    def _forget_vectors(self, record_ids: Iterable[int]) -> None:
        """After Chroma changed these records: a search_among that read vectors before now
        (``_written`` moved on) keeps none of them."""
        self._written += 1
        for i in record_ids:
            self._vectors.pop(i, None)

    def in_programmes(self, record_ids, programmes: Collection[str]) -> set[int]:
        """Which of these records belong to ``programmes``, to sort deep search results before the
        few kept are filled in. A record's programme (its pair's) never changes (a debrief
        re-ingested into another programme gets a pair there and new record ids), so it is
        remembered per process; :meth:`hydrate` still checks programme and consent in SQL for
        what is shown, so a stale entry could only hide a candidate, never show one."""
        known = self._programme_of
        missing = [i for i in record_ids if i not in known]
        if missing:
            for chunk in range(0, len(missing), 5000):
                rows = self._rows(Record.id.in_(missing[chunk:chunk + 5000]), columns=(Record.id, Pair.programme))
                known.update((r["id"], sys.intern(r["programme"])) for r in rows)
        return {i for i in record_ids if known.get(i) in programmes}

    def _rows(self, *where, db: Database | None = None, columns=_COLUMNS) -> list:
        q = (select(*columns).select_from(Record).join(Debrief, Record.debrief_id == Debrief.id)
             .join(Pair, Debrief.pair_id == Pair.id).where(*where))
        with (db or self.db).engine.connect() as conn:
            return conn.execute(q).mappings().all()

    def query(self, text: str, k: int = 20) -> list[dict]:
        [hits] = self.search(MiniLM.shared().embed([text]), k)
        info = self.hydrate(hits)
        return [{"id": f"r{rid}", "text": info[rid]["text"], "meta": info[rid], "distance": 1.0 - sim}
                for rid, sim in sorted(hits.items(), key=lambda kv: -kv[1]) if rid in info]

    def index_records(self, db: Database, record_ids: list[int] | None = None,
                      progress: Callable[[int, int], None] | None = None) -> int:
        """Embed and upsert suggestible records from SQL: the given ids, or all of them."""
        where = list(SUGGESTIBLE)
        if record_ids is not None:
            where.append(Record.id.in_(record_ids))
        rows = self._rows(*where, db=db)
        return self.upsert(rows, progress=(lambda done: progress(done, len(rows))) if progress else None, db=db)

    def rebuild(self, db: Database, progress: Callable[[int, int], None] | None = None) -> int:
        """Drop the collection and re-index every suggestible record from SQL."""
        with self.following_sql(committed=True):  # stopped part-way: the next opener catches up
            try:
                self.client.delete_collection(COLLECTION)
            except Exception:  # absent collection: nothing to drop
                pass
            self.collection = self._collection()
            self._vectors.clear()
            n = self.index_records(db, None, progress)
        if self._lock is not None:  # everything in SQL is in: no catch-up left to do
            state = index_lock.sync_state(self.index_dir)
            index_lock.mark_synced(self.index_dir, state)
            with self._sync_lock:
                self._sync_seen, self._failures_synced = state, self._failures
                self._settle()
        return n
