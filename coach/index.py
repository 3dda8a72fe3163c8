"""The suggestions' index: Chroma, one collection per programme, following SQL.

Only records that may feed suggestions (approved, from a debrief whose participant agreed to
share) are in it, so queries need no consent filter. Writers never touch it: they write SQL and
an outbox row in one transaction (coach.records), and :class:`Indexer` brings each queued
record's entry in line with SQL, then deletes the row. That is idempotent, so a crash at any
point leaves work to do again, never a wrong index. ``coach reindex`` rebuilds it from SQL.

Chroma holds vectors only (ids ``r<record id>``); texts and context are read from SQL when shown.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from coach.records import SUGGESTIBLE, canonical_text, embed, enqueue, from_blob
from coach.store.db import Database
from coach.store.models import Debrief, IndexOutbox, Lease, Pair, Record, utcnow

try:
    import fcntl
except ImportError:  # not POSIX: one process at a time is then up to the operator
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("coach.index")

PREFIX = "programme-"
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="index-search")
LOCK_FILE = "in-use.lock"


def collection_name(programme: str) -> str:
    """Chroma's names allow few characters: a programme's is derived from a hash of its name."""
    return PREFIX + hashlib.sha256(programme.encode()).hexdigest()[:32]


def make_client(index_dir: Path, chroma_url: str | None):
    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        u = urlparse(chroma_url)
        return chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or (443 if u.scheme == "https" else 8000),
                                   ssl=u.scheme == "https", settings=settings)
    index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(index_dir), settings=settings)


class IndexUnavailable(RuntimeError):
    """The index cannot be opened; the message says why and what to do."""


class IndexInUse(IndexUnavailable):
    """Another process holds the embedded index (Chroma's embedded index serves one process)."""

    def __init__(self, index_dir: Path, holder: str):
        self.holder = holder
        self.by_app = holder.startswith("the app")
        super().__init__(
            f"the index in {index_dir} is in use by {holder}. Chroma's embedded index serves one process at a "
            "time; or run a Chroma server (`chroma run --path DIR`) and set COACH_CHROMA_URL.")


class DirLock:
    """An exclusive ``flock`` on the embedded index's folder, released when the process ends."""

    def __init__(self, index_dir: Path, who: str):
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
            self._f = open(index_dir / LOCK_FILE, "a+", encoding="utf-8")
        except OSError as e:
            raise IndexUnavailable(f"cannot open the index's lock file {index_dir / LOCK_FILE}: {e.strerror}. The "
                                   "data dir must be writable by the user running coach.") from None
        if fcntl is not None:
            try:
                fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._f.seek(0)
                holder = self._f.read().strip() or "another process"
                self._f.close()
                raise IndexInUse(index_dir, holder) from None
        self._f.seek(0)
        self._f.truncate()
        self._f.write(f"{who} (process {os.getpid()})\n")
        self._f.flush()

    def release(self) -> None:
        if not self._f.closed:
            self._f.close()  # closing drops the flock


class Index:
    """Per-programme collections of record vectors."""

    # how long the list of programmes is reused by "every programme" searches: a collection this
    # process creates joins it at once; one created by another process (another instance on the
    # same Chroma server) within this many seconds
    PROGRAMMES_TTL = 5.0

    def __init__(self, client):
        self.client = client
        self._collections: dict[str, object] = {}
        self._guard = threading.Lock()
        self._programmes: tuple[float, list[str]] | None = None

    def collection(self, programme: str, create: bool = True):
        with self._guard:
            col = self._collections.get(programme)
            if col is None:
                name = collection_name(programme)
                if create:
                    col = self.client.get_or_create_collection(
                        name, metadata={"programme": programme}, embedding_function=None,
                        configuration={"hnsw": {"space": "cosine"}})
                    self._programmes = None
                else:
                    try:
                        col = self.client.get_collection(name, embedding_function=None)
                    except Exception:  # no such collection: nothing indexed for the programme
                        return None
                self._collections[programme] = col
            return col

    def programmes(self) -> list[str]:
        """The programmes that have a collection (listing collections is a round trip to Chroma
        that every-programme searches would otherwise pay each time)."""
        known = self._programmes
        if known is not None and time.monotonic() - known[0] < self.PROGRAMMES_TTL:
            return known[1]
        out = []
        for c in self.client.list_collections():
            meta = getattr(c, "metadata", None) or {}
            if c.name.startswith(PREFIX) and "programme" in meta:
                out.append(meta["programme"])
        self._programmes = (time.monotonic(), sorted(out))
        return self._programmes[1]

    def upsert(self, programme: str, record_ids: Sequence[int], vectors: np.ndarray) -> None:
        if len(record_ids):
            self.collection(programme).upsert(ids=[f"r{i}" for i in record_ids], embeddings=vectors)

    def delete(self, programme: str, record_ids: Sequence[int]) -> None:
        col = self.collection(programme, create=False)
        if col is not None and len(record_ids):
            col.delete(ids=[f"r{i}" for i in record_ids])

    def count(self, programme: str | None = None) -> int:
        names = [programme] if programme is not None else self.programmes()
        return sum(c.count() for p in names if (c := self.collection(p, create=False)) is not None)

    def search(self, vectors, n: int, programmes: Collection[str] | None = None) -> list[dict[int, float]]:
        """Per query vector: {record id: cosine similarity} of its n nearest records in these
        programmes (every programme when None)."""
        out: list[dict[int, float]] = [{} for _ in vectors]
        cols = [c for p in (self.programmes() if programmes is None else programmes)
                if (c := self.collection(p, create=False)) is not None]

        def query(col):
            return col.query(query_embeddings=np.asarray(vectors), n_results=n, include=["distances"])

        # several collections (the operator's "every programme") are searched side by side
        results = list(_POOL.map(query, cols)) if len(cols) > 1 else [query(c) for c in cols]
        for res in results:
            for hits, ids, dists in zip(out, res["ids"], res["distances"]):
                hits.update((int(i[1:]), 1.0 - d) for i, d in zip(ids, dists))
        if programmes is None or len(programmes) > 1:  # merged from several collections: keep the n best
            out = [dict(sorted(h.items(), key=lambda kv: -kv[1])[:n]) for h in out]
        return out

    def reset(self) -> None:
        """Drop every collection coach made (the rebuild refills them from SQL)."""
        with self._guard:
            self._collections.clear()
            self._programmes = None
        for c in self.client.list_collections():
            if c.name.startswith(PREFIX) or c.name == "records":  # "records": the single collection of old
                self.client.delete_collection(c.name)
        self._programmes = None


class Indexer:
    """Drains the outbox into the index. One process at a time across app instances (a lease
    in SQL), one thread at a time within it."""

    LEASE = "indexer"
    LEASE_SECONDS = 60

    def __init__(self, db: Database, index: Index):
        self.db, self.index = db, index
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.retry_delay = 1.0  # seconds the background thread waits between rounds

    # -- the lease ---------------------------------------------------------------------------

    def _take_lease(self) -> bool:
        now = utcnow()
        until = now + timedelta(seconds=self.LEASE_SECONDS)
        with self.db.engine.begin() as conn:
            got = conn.execute(update(Lease).where(Lease.name == self.LEASE, (Lease.holder == self.holder)
                                                   | (Lease.expires_at < now))
                               .values(holder=self.holder, expires_at=until)).rowcount
        if got:
            return True
        try:
            with self.db.engine.begin() as conn:
                conn.execute(insert(Lease).values(name=self.LEASE, holder=self.holder, expires_at=until))
            return True
        except IntegrityError:  # another instance holds it ...
            return self._take_from_the_dead(until)

    def _take_from_the_dead(self, until) -> bool:
        """... unless it is a process of this machine that has died (no need to wait out its lease)."""
        with self.db.engine.begin() as conn:
            holder = conn.scalar(select(Lease.holder).where(Lease.name == self.LEASE))
            host, _, rest = (holder or "").partition(":")
            pid = rest.partition(":")[0]
            if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
                return False
            return bool(conn.execute(update(Lease).where(Lease.name == self.LEASE, Lease.holder == holder)
                                     .values(holder=self.holder, expires_at=until)).rowcount)

    def _drop_lease(self) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(delete(Lease).where(Lease.name == self.LEASE, Lease.holder == self.holder))

    # -- draining ----------------------------------------------------------------------------

    def pending(self) -> int:
        with self.db.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(IndexOutbox)) or 0

    def drain(self, batch: int = 1000, limit: int | None = None,
              progress: Callable[[int], None] | None = None) -> int:
        """Apply queued changes until the outbox is empty (or ``limit`` rows are done); returns
        the number of outbox rows applied. Returns 0 at once if another instance is draining."""
        done = 0
        with self._lock:
            while limit is None or done < limit:
                with self.db.engine.connect() as conn:
                    rows = conn.execute(select(IndexOutbox.id, IndexOutbox.record_id, IndexOutbox.programme)
                                        .order_by(IndexOutbox.id).limit(batch)).all()
                if not rows or not self._take_lease():  # taken (or renewed) per batch
                    break
                self._apply(rows)
                with self.db.engine.begin() as conn:
                    conn.execute(delete(IndexOutbox).where(IndexOutbox.id.in_([r.id for r in rows])))
                done += len(rows)
                if progress:
                    progress(done)
        return done

    def _apply(self, rows) -> None:
        """Bring these records' entries in line with what SQL says now."""
        ids = sorted({r.record_id for r in rows})
        with self.db.engine.connect() as conn:
            live = {r.id: r for r in conn.execute(
                select(Record.id, Record.kind, Record.text, Record.before, Record.after, Record.vector, Pair.programme)
                .join(Debrief, Record.debrief_id == Debrief.id).join(Pair, Debrief.pair_id == Pair.id)
                .where(Record.id.in_(ids), *SUGGESTIBLE))}
        gone: dict[str, set[int]] = {}
        for r in rows:
            if r.record_id not in live or live[r.record_id].programme != r.programme:
                gone.setdefault(r.programme, set()).add(r.record_id)
        for programme, rids in gone.items():
            self.index.delete(programme, sorted(rids))
        by_programme: dict[str, list] = {}
        for rec in live.values():
            by_programme.setdefault(rec.programme, []).append(rec)
        for programme, recs in by_programme.items():
            self.index.upsert(programme, [r.id for r in recs], _vectors(recs))

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Drop the index and refill it from SQL; returns the number of records indexed."""
        self.index.reset()
        with self.db.engine.begin() as conn:
            rows = conn.execute(select(Record.id, Pair.programme).join(Debrief, Record.debrief_id == Debrief.id)
                                .join(Pair, Debrief.pair_id == Pair.id).where(*SUGGESTIBLE)).all()
            enqueue(conn, [(r.id, r.programme) for r in rows])
        total = self.pending()
        self.drain(progress=(lambda done: progress(done, total)) if progress else None)
        return len(rows)

    # -- in the app: a background thread -----------------------------------------------------

    def start(self) -> None:
        """Drain in the background: at once when poked (a change in this process), and every
        second otherwise (changes by commands or other instances)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)
            self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        self.retry_delay = 1.0
        while not self._stop.is_set():
            self._wake.wait(self.retry_delay)
            self._wake.clear()
            self.drain_in_background()

    def drain_in_background(self) -> None:
        """One round of the background thread: a failure leaves the rows queued and waits
        longer before the next round (5 s, 10 s ... 5 min), with one traceback in the log."""
        try:
            self.drain()
            self.retry_delay = 1.0
        except Exception as e:
            first = self.retry_delay < 5.0
            self.retry_delay = min(300.0, max(5.0, self.retry_delay * 2))
            if first:
                log.exception("indexing failed; trying again in %.0f s", self.retry_delay)
            else:
                log.warning("indexing still fails (%s); trying again in %.0f s", e, self.retry_delay)

    def fresh(self, limit: int = 200) -> bool:
        """Before a query: apply a small backlog now, so a person sees their own last change.
        False while a large one (an ingest) is still being worked through: answers may miss it."""
        waiting = self.pending()
        if waiting == 0:
            return True
        if waiting <= limit:
            self.drain(limit=limit)
            return self.pending() == 0
        self.poke()
        return False

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self._drop_lease()
        except Exception:  # the lease expires anyway
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _vectors(recs: Iterable) -> np.ndarray:
    """Stored vectors; a record from before vectors were stored is embedded here (coach.records
    stores it with the record's next write)."""
    recs = list(recs)
    missing = [k for k, r in enumerate(recs) if r.vector is None]
    texts = [canonical_text(recs[k].kind, recs[k].text, recs[k].before, recs[k].after) for k in missing]
    got = dict(zip(missing, embed(texts))) if missing else {}
    return np.stack([got[k] if k in got else from_blob(r.vector) for k, r in enumerate(recs)])


def open_index(index_dir: Path, chroma_url: str | None, who: str, *, read_only: bool = False) -> tuple[Index, DirLock | None]:
    """The index and, for the embedded one, its folder's lock (not taken ``read_only``)."""
    lock = None if (chroma_url or read_only) else DirLock(index_dir, who)
    try:
        return Index(make_client(index_dir, chroma_url)), lock
    except BaseException:
        if lock:
            lock.release()
        raise
