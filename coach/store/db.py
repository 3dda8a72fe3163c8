"""Engine, sessions and versioned migrations for the system of record.

SQLite (default) runs in WAL mode with a busy timeout, so several writers wait for each other
instead of failing; any SQLAlchemy URL (PostgreSQL) works for multi-instance deployments.

Deleted means gone from the files too: SQLite overwrites what it deletes with zeros
(``secure_delete``), and a commit that deleted a debrief or an account is followed by a
checkpoint that empties the write-ahead log (which still held the deleted rows' pages), then by
the erasure hooks (:attr:`Database.on_erase`: the app removes served files that held them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from coach.store.models import Debrief, ModelCall, User

log = logging.getLogger("coach.store")

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ENGINE_GUARD = threading.Lock()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # durable at each commit under WAL
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left in free pages
            cur.close()

        return engine
    # a request may hold a debrief's lock (Database.lock) while its work takes connections of
    # its own: the pool must cover the app's concurrent requests (Gradio runs 16 at once) with room
    return create_engine(url, pool_pre_ping=True, pool_size=16, max_overflow=16, pool_timeout=60)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest migration). Idempotent."""
    cfg = _alembic_config()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # SQLite alters a table by copying it and dropping the old one; with foreign keys on,
            # that drop would cascade to every child row (a debrief's turns and records)
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        with conn.begin():
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def schema_version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except Exception:
            return None


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._locks: Engine | None = None  # PostgreSQL: the engine whose connections hold advisory locks
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # called with the debrief ids and sign-in names a commit erased (a participant deleting
        # their data), after the database has let go of them
        self.on_erase: list[Callable[[set[str]], object]] = []
        event.listen(self._sessions, "after_flush", _note_erased)
        event.listen(self._sessions, "after_commit", self._erased)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def _erased(self, session: Session) -> None:
        keys = session.info.pop("erased", None)
        if not keys:
            return
        self.scrub()
        for hook in list(self.on_erase):
            try:
                hook(set(keys))
            except Exception:  # a hook failing must not undo or hide the deletion itself
                log.exception("erasure hook failed")

    def scrub(self, retries: int = 30) -> bool:
        """SQLite: move the write-ahead log into the database file and truncate it, so the pages
        that held deleted rows are gone from the log too (the database's own copies were
        overwritten by ``secure_delete``). A reader in the way (a moment's wait at most): tried
        again every second in the background. Returns whether it was done now."""
        if self.engine.dialect.name != "sqlite":
            return True
        if self._checkpoint():
            return True
        if retries:
            def again() -> None:
                for _ in range(retries):
                    time.sleep(1)
                    if self._checkpoint():
                        return
                log.warning("the write-ahead log could not be emptied after a deletion (the database stayed "
                            "busy); the next checkpoint overwrites it")

            threading.Thread(target=again, name="scrub-wal", daemon=True).start()
        return False

    def _checkpoint(self) -> bool:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=3000")  # a reader in the way: do not hold the request long
            try:
                busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")
            conn.commit()
        return not busy

    def _lock_engine(self) -> Engine:
        with _LOCK_ENGINE_GUARD:
            if self._locks is None:
                self._locks = create_engine(self.url, pool_pre_ping=True, pool_size=8, max_overflow=16,
                                            pool_timeout=60)
            return self._locks

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold a named lock across processes while the block runs: a PostgreSQL advisory lock
        (several app instances share the database). On SQLite there is one app process, which
        serialises with its own threading locks."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self._lock_engine().connect() as conn:  # its own pool: a held lock takes no work connection
            conn.exec_driver_sql("SELECT pg_advisory_lock(hashtext(%(k)s))", {"k": key})
            try:
                yield
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(hashtext(%(k)s))", {"k": key})
                conn.commit()

    def record_model_call(self, call: ModelCall) -> None:
        with self.session() as s:
            s.add(call)

    def token_usage(self) -> dict[str, int]:
        with self.session() as s:
            p, c, n = s.execute(
                select(
                    func.coalesce(func.sum(ModelCall.prompt_tokens), 0),
                    func.coalesce(func.sum(ModelCall.completion_tokens), 0),
                    func.count(ModelCall.id),
                )
            ).one()
        return {"prompt_tokens": int(p or 0), "completion_tokens": int(c or 0), "calls": int(n)}

    def dispose(self) -> None:
        self.engine.dispose()
        if self._locks is not None:
            self._locks.dispose()


def _note_erased(session: Session, _context) -> None:
    """Remember, until the commit, which debriefs and accounts this session deleted."""
    for obj in session.deleted:
        if isinstance(obj, Debrief):
            session.info.setdefault("erased", set()).add(obj.id)
        elif isinstance(obj, User):
            session.info.setdefault("erased", set()).add(obj.username)
