"""The SQL store, run the same way on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import delete, func, select

from coach.debrief_file import read_debriefs
from coach.ingest import ingest
from coach.records import SUGGESTIBLE
from coach.store.db import Database, head_revision, migrate, schema_version
from coach.store.models import Debrief, IndexOutbox, ModelCall, Pair, Record, Turn
from tests.conftest import DATA


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def db(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'coach.db'}" if request.param == "sqlite" else request.getfixturevalue("fresh_postgres")
    d = Database(url)
    yield d
    d.dispose()


def counts(db):
    with db.session() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in (Debrief, Turn, Record)}


def test_migrations_are_versioned_and_idempotent(db):
    assert schema_version(db.engine) == head_revision() != "0001"
    Database(db.url).dispose()  # a second start migrates nothing and breaks nothing
    assert schema_version(db.engine) == head_revision()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def empty_url(request, tmp_path):
    return f"sqlite:///{tmp_path / 'old.db'}" if request.param == "sqlite" else request.getfixturevalue("fresh_postgres")


def old_schema_with_a_pair(url: str, revision: str, *statements: tuple[str, dict]) -> None:
    """A database left at an older schema revision, holding pair 'p1' and whatever else the
    given SQL statements insert."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    migrate(eng, revision)
    with eng.begin() as c:
        c.execute(text("INSERT INTO pairs (id, programme, senior, junior, topic, extra, created_at) "
                       "VALUES ('p1', 'default', 'CFO', 'Analyst', 'AI tools', '{}', CURRENT_TIMESTAMP)"))
        for sql, params in statements:
            c.execute(text(sql), params)
    eng.dispose()


def test_upgrade_from_the_first_schema_keeps_data(empty_url):
    old_schema_with_a_pair(empty_url, "0001")
    db = Database(empty_url)  # upgrades to head on start
    with db.session() as s:
        p = s.get(Pair, "p1")
        assert p.topic == "AI tools" and p.senior_name is None and p.baseline == []
    assert schema_version(db.engine) == head_revision()
    db.dispose()


def queued(db) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(IndexOutbox.record_id).order_by(IndexOutbox.id)))


def suggestible(db) -> set[int]:
    with db.session() as s:
        return set(s.scalars(select(Record.id).join(Debrief, Record.debrief_id == Debrief.id).where(*SUGGESTIBLE)))


def test_ingest_stores_transcript_and_records(db):
    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    assert ingest(db, debriefs) == 3  # records that may feed suggestions
    assert counts(db) == {"debriefs": 2, "turns": 6, "records": 4}
    assert len(queued(db)) == 4 and len(suggestible(db)) == 3  # d02 is not shared: its record is not indexed
    with db.session() as s:  # each record's text, theme, depth, scope and vector derived once, on writing
        assert all(r.vector and r.theme and r.depth and r.scope and r.text for r in s.scalars(select(Record)))
    with db.session() as s:
        d01 = s.get(Debrief, "d01")
        assert [t.speaker for t in d01.turns] == ["coach", "participant", "coach", "participant"]
        assert d01.turns[3].text.startswith("I'll ask our store managers")
        ba = [r for r in d01.records if r.kind == "broken_assumption"][0]
        assert ba.before.startswith("Young customers") and ba.status == "approved"
        assert s.get(Debrief, "d02").shared is False
        assert d01.pair_id == s.get(Debrief, "d02").pair_id  # both sides of one pair


def test_reingest_replaces_without_duplicates(db):
    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    ingest(db, debriefs)
    with db.session() as s:
        first_ids = set(s.scalars(select(Record.id)))
        s.execute(delete(IndexOutbox))  # as if indexed
    ingest(db, debriefs)
    assert counts(db) == {"debriefs": 2, "turns": 6, "records": 4}
    with db.session() as s:
        again = set(s.scalars(select(Record.id)))
    assert set(queued(db)) == first_ids | again  # the old ones leave the index, the new ones enter it
    assert again.isdisjoint(first_ids) and len(again) == len(first_ids)


def test_upgrade_to_the_outbox_keeps_interviews_and_queues_what_is_suggestible(empty_url):
    """0005: the interview state column goes (the turns are the state), a broken assumption's
    text becomes its canonical "before → after", and every suggestible record is queued so the
    first indexer run fills the per-programme collections."""
    ins = ("INSERT INTO records (debrief_id, kind, text, before, after, quote, extractor, status, created_at) "
           "VALUES ('d1', :k, :t, :b, :a, 'q', 'offline', :st, CURRENT_TIMESTAMP)")
    old_schema_with_a_pair(
        empty_url, "0004",
        ("INSERT INTO debriefs (id, pair_id, role, status, shared, source, state, created_at, updated_at) "
         "VALUES ('d1', 'p1', 'senior', 'done', true, 'interview', '{\"done\": true}', CURRENT_TIMESTAMP, "
         "CURRENT_TIMESTAMP)", {}),
        (ins, {"k": "broken_assumption", "t": "", "b": "Video is a fad", "a": "It is how they search", "st": "approved"}),
        (ins, {"k": "learned", "t": "TikTok is search", "b": None, "a": None, "st": "pending"}))
    db = Database(empty_url)
    with db.session() as s:
        texts = [r.text for r in s.scalars(select(Record).order_by(Record.id))]
        assert texts == ["Video is a fad → It is how they search", "TikTok is search"]
        assert s.get(Debrief, "d1").status == "done" and not hasattr(Debrief, "state")
    assert queued(db) == [1]  # the approved record of a shared debrief
    db.dispose()


def test_unicode_and_control_text_round_trip(db):
    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    weird = "Ünïcødé 漢字 🙂 <script>alert(1)</script> \x07 tab\tend"
    debriefs[0].transcript[1].text = weird
    ingest(db, debriefs[:1])
    with db.session() as s:
        assert s.get(Debrief, "d01").turns[1].text == weird


def test_model_call_usage_is_summed(db):
    for p, c in ((10, 5), (7, 3)):
        db.record_model_call(ModelCall(backend="local", model="m", purpose="t", prompt_tokens=p,
                                       completion_tokens=c, latency_ms=1.0, ok=True))
    assert db.token_usage() == {"prompt_tokens": 17, "completion_tokens": 8, "calls": 2}


def test_sqlite_runs_in_wal_mode(tmp_path):
    path = tmp_path / "coach.db"
    Database(f"sqlite:///{path}").dispose()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_concurrent_writers_do_not_fail(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'coach.db'}")
    errors = []

    def writer(n):
        try:
            for i in range(40):
                db.record_model_call(ModelCall(backend="b", model="m", purpose=f"w{n}-{i}", latency_ms=0.1, ok=True))
        except Exception as e:  # any "database is locked" would land here
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.token_usage()["calls"] == 320


def test_record_ids_are_never_reused(db):
    """Ids are cited as evidence and in the access log: deleting the newest record must not
    hand its id to the next one (SQLite AUTOINCREMENT; PostgreSQL sequences)."""
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    with db.session() as s:
        top = s.scalar(select(func.max(Record.id)))
        s.execute(delete(Record).where(Record.id == top))
    with db.session() as s:
        r = Record(debrief_id="d01", kind="learned", text="A later item")
        s.add(r)
        s.flush()
        assert r.id > top


def test_upgrade_to_never_reused_record_ids_keeps_records(empty_url):
    record = ("INSERT INTO records (debrief_id, kind, text, quote, extractor, status, created_at) "
              "VALUES ('d1', 'learned', :t, :t, 'offline', 'approved', CURRENT_TIMESTAMP)")
    old_schema_with_a_pair(
        empty_url, "0003",
        ("INSERT INTO debriefs (id, pair_id, role, status, shared, source, created_at, updated_at) "
         "VALUES ('d1', 'p1', 'senior', 'done', true, 'interview', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", {}),
        (record, {"t": "first"}), (record, {"t": "second"}))
    db = Database(empty_url)  # upgrades to head on start
    with db.session() as s:
        assert [(r.id, r.text) for r in s.scalars(select(Record).order_by(Record.id))] == [(1, "first"), (2, "second")]
        s.execute(delete(Record).where(Record.id == 2))
    with db.session() as s:
        r = Record(debrief_id="d1", kind="learned", text="third")
        s.add(r)
        s.flush()
        assert r.id == 3
    db.dispose()


def test_records_derived_by_an_older_version_are_derived_again(db):
    """A theme from an older taxonomy (or a record without a vector, from before vectors were
    stored) is derived again, and the index told."""
    from sqlalchemy import update

    from coach.records import Records
    from coach.themes import THEMES

    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    with db.session() as s:
        s.execute(update(Record).values(theme="technology and trends", vector=None))
        s.execute(delete(IndexOutbox))
    assert Records(db).refresh_derived() == 4
    with db.session() as s:
        assert all(r.theme in THEMES and r.vector for r in s.scalars(select(Record)))
    assert len(queued(db)) == 4 and Records(db).refresh_derived() == 0
