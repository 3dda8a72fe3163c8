"""The Chroma index (embedded and via a real `chroma run` server) and the offline embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coach.debrief_file import read_debriefs
from coach.embeddings import MiniLM, model_files
from coach.index import Index, facets
from coach.ingest import ingest
from coach.store.db import Database
from tests.conftest import DATA

SENTENCES = [
    "I learned that teenagers search TikTok before Google.",
    "Our store managers will post short videos every week.",
    "A short one.",
    "The quarterly budget review was moved to Thursday because the finance team was travelling "
    "and several of the directors could not attend the original meeting slot in person.",
]


def test_dynamic_padding_matches_chromas_stock_function(tmp_path):
    """Same model files through Chroma's stock ONNX function (pads to 256) give the same vectors."""
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    onnx, tok = model_files()
    folder = tmp_path / "all-MiniLM-L6-v2" / "onnx"
    folder.mkdir(parents=True)
    (folder / "model.onnx").symlink_to(onnx)
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt"):
        (folder / name).symlink_to(tok.parent / name)

    class Stock(ONNXMiniLM_L6_V2):
        DOWNLOAD_PATH = tmp_path / "all-MiniLM-L6-v2"

    stock = np.array(Stock()(SENTENCES))
    ours = MiniLM().embed(SENTENCES)
    cos = (stock * ours).sum(axis=1) / np.linalg.norm(stock, axis=1) / np.linalg.norm(ours, axis=1)
    assert cos.min() > 0.999


def test_embeddings_rank_meaning():
    e = MiniLM.shared().embed(["Gen Z finds shops on TikTok", "Young people discover stores through short videos",
                               "The invoice template needs a new logo"])
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)


@pytest.fixture(params=["persistent", "http"])
def index(request, tmp_path, db):
    url = request.getfixturevalue("chroma_server") if request.param == "http" else None
    idx = Index(tmp_path / "index", url, db)
    idx.client.delete_collection("records")  # the http server is shared by tests: start empty
    idx.collection = idx._collection()
    return idx


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'coach.db'}")
    yield d
    d.dispose()


def test_index_holds_only_approved_shared_records(index, db):
    to_index, _ = ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    assert index.index_records(db, to_index) == 3
    hits = index.query("What did seniors learn about TikTok?", k=5)
    assert len(hits) == 3  # d02 (not shared) is absent
    assert {h["meta"]["debrief_id"] for h in hits} == {"d01"}
    assert "TikTok" in hits[0]["text"]
    assert hits[0]["meta"]["topic"] == "How Gen Z discovers stores on TikTok"


def test_rebuild_from_sql_restores_the_index(index, db):
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    index.client.delete_collection("records")  # index lost
    assert index.rebuild(db) == 3
    assert index.count() == 3
    assert index.rebuild(db) == 3 and index.count() == 3  # twice: no duplicates


def test_reingest_replaces_index_entries(index, db):
    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    ids, _ = ingest(db, debriefs)
    index.index_records(db, ids)
    ids2, removed = ingest(db, debriefs)
    index.delete(removed)
    index.index_records(db, ids2)
    assert index.count() == 3


def test_chroma_holds_each_records_facets(index, db):
    """The facets the suggestions issue names are stored with each vector (packed in one key)."""
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    progress = []
    assert index.index_records(db, None, progress=lambda done, total: progress.append((done, total))) == 3
    assert progress[-1] == (3, 3)
    got = index.collection.get(include=["metadatas"])
    assert len(got["ids"]) == 3
    for meta in got["metadatas"]:
        f = facets(meta)
        # theme and depth too: an ingested item's depth comes with it, its theme from its vector
        assert set(f) >= {"pair_id", "role", "topic", "senior", "junior", "created", "theme", "depth"}
        assert f["role"] == "senior" and f["topic"] == "How Gen Z discovers stores on TikTok"
        assert f["senior"] == "Retail operations director" and f["junior"] == "Social media associate"
        assert isinstance(f["created"], int) and f["created"] > 0
    with db.engine.connect() as c:  # and SQL has the same themes (the dashboard counts by them)
        sql = dict(c.exec_driver_sql("SELECT id, theme FROM records WHERE status = 'approved'").all())
    assert {int(i[1:]): facets(m)["theme"] for i, m in zip(got["ids"], got["metadatas"])} == sql
    assert set(sql.values()) <= {"technology and trends", "ways of working and culture", "customers and markets", "other"}
    assert "technology and trends" in sql.values() or "customers and markets" in sql.values()  # TikTok items


def test_bulk_embedding_matches_one_call_in_order():
    """embed_stream (chunks embedded side by side) returns each chunk's vectors, in order, equal to
    embedding the texts in one call."""
    m = MiniLM.shared()
    texts = [f"{s} ({i})" for i in range(30) for s in SENTENCES]
    chunks = [texts[:7], texts[7:8], [], texts[8:90], texts[90:]]
    streamed = list(m.embed_stream(chunks))
    assert [len(v) for v in streamed] == [len(c) for c in chunks]
    assert np.allclose(np.concatenate([v for v in streamed if len(v)]), m.embed(texts), atol=1e-5)


def test_ingest_embeds_while_storing_and_indexes_the_same_vectors(index, db):
    """coach ingest's path (texts embedded while SQL rows are written) stores the vectors the
    model gives for each record's index text, once per record."""
    from coach.ingest import ingest_and_index

    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    assert ingest_and_index(db, index, debriefs) == 3  # d02 is not shared
    assert ingest_and_index(db, index, debriefs) == 3 and index.count() == 3  # again: replaced, no duplicates
    got = index.collection.get(include=["embeddings"])
    info = index.hydrate([int(i[1:]) for i in got["ids"]])
    expected = MiniLM.shared().embed([info[int(i[1:])]["text"] for i in got["ids"]])
    assert np.allclose(np.array(got["embeddings"]), expected, atol=1e-5)


def _many_debriefs(n: int, tag: str = "") -> list:
    """n debriefs of 5 records each (every 7th not shared), texts distinct."""
    from coach.debrief_file import FileDebrief

    out = []
    for i in range(n):
        out.append(FileDebrief.model_validate({
            "id": f"m{i}", "role": "senior" if i % 2 else "junior", "shared": i % 7 != 3,
            "pair": {"senior": f"Director {i % 9}", "junior": f"Analyst {i % 4}", "topic": f"Topic {i % 11}"},
            "transcript": [{"speaker": "coach", "text": "What did you learn?"},
                           {"speaker": "participant", "text": f"Debrief {i}{tag}: a few things."}],
            "expected": {"learned": [f"Customers in region {i} compare prices on their phones{tag}",
                                     f"Team {i} prefers short videos to manuals{tag}"],
                         "broken_assumptions": [{"before": f"Store {i} thought email works{tag}",
                                                 "after": f"Store {i} saw group chats work{tag}"}],
                         "actions": [f"I'll try a livestream in branch {i}{tag}", f"Ask shop {i} for feedback{tag}"]},
        }))
    return out


@pytest.fixture
def new_york_time():
    """The process's local time zone is not UTC for the test."""
    import os
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def _indexed(index) -> dict:
    got = index.collection.get(include=["embeddings", "metadatas"])
    return {i: (np.array(e), m) for i, e, m in zip(got["ids"], got["embeddings"], got["metadatas"])}


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_chunked_ingest_stores_what_a_rebuild_from_sql_would(index, db, store, request, new_york_time):
    """coach ingest builds each chunk's index entries from the rows it writes; a rebuild reads
    them back from SQL. Both must give the same ids, vectors and facets, on either database and
    whatever the server's time zone."""
    from coach.ingest import ingest_and_index

    if store == "postgresql":
        db = Database(request.getfixturevalue("fresh_postgres"))
        request.addfinalizer(db.dispose)

    debriefs = _many_debriefs(80)  # 400 records: several chunks on every thread
    shared = sum(5 for d in debriefs if d.shared)
    stored, progress = [], []
    n = ingest_and_index(db, index, debriefs, store_progress=stored.append,
                         index_progress=lambda done, total: progress.append((done, total)))
    assert n == shared == index.count()
    assert len(progress) >= 4 and progress[-1] == (shared, shared) and sum(stored) == len(debriefs)
    by_ingest = _indexed(index)
    assert index.rebuild(db) == shared
    by_rebuild = _indexed(index)
    assert by_ingest.keys() == by_rebuild.keys()
    for rid, (vec, meta) in by_ingest.items():
        assert np.allclose(vec, by_rebuild[rid][0], atol=1e-5)
        assert facets(meta) == facets(by_rebuild[rid][1])


def test_reingest_gives_new_record_ids_and_no_duplicates(index, db):
    """Record ids are cited as evidence and in the access log: a re-ingested debrief's records
    get fresh ids, never an id an earlier record had."""
    from coach.ingest import ingest_and_index

    debriefs = _many_debriefs(30)
    ingest_and_index(db, index, debriefs)
    first = set(index.collection.get()["ids"])
    n = ingest_and_index(db, index, _many_debriefs(30, tag=" (revised)"))
    second = _indexed(index)
    assert n == len(first) == len(second) and first.isdisjoint(second)
    texts = {m["text"] for m in index.hydrate([int(i[1:]) for i in second]).values()}
    assert all("(revised)" in t for t in texts)
    with db.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM records").scalar() == 30 * 5
        assert c.exec_driver_sql("SELECT count(*) FROM turns").scalar() == 30 * 2


def test_a_failing_chunk_leaves_whole_chunks_stored_and_indexed(tmp_path, db):
    """A database error part-way (a real one: a SQLite trigger refuses one debrief) stops the
    ingest; what was committed is indexed, nothing else is in Chroma, and running the file
    again completes it without duplicates."""
    from sqlalchemy.exc import IntegrityError

    from coach.ingest import ingest_and_index

    index = Index(tmp_path / "index", None, db)
    debriefs = _many_debriefs(80)
    with db.engine.begin() as c:
        c.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON debriefs WHEN NEW.id = 'm70' "
                          "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")
    with pytest.raises(IntegrityError, match="refused by test trigger"):
        ingest_and_index(db, index, debriefs)
    with db.engine.connect() as c:
        stored = [r[0] for r in c.exec_driver_sql("SELECT id FROM debriefs")]
        approved = {f"r{r[0]}" for r in c.exec_driver_sql(
            "SELECT r.id FROM records r JOIN debriefs d ON d.id = r.debrief_id WHERE d.shared AND r.status = 'approved'")}
    assert 0 < len(stored) < 70 and set(stored) == {d.id for d in debriefs[: len(stored)]}  # whole chunks, in order
    assert set(index.collection.get()["ids"]) == approved  # indexed = committed, nothing more
    with db.engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER refuse")
    assert ingest_and_index(db, index, debriefs) == index.count() == sum(5 for d in debriefs if d.shared)


def test_one_process_may_open_its_index_several_times(tmp_path, db):
    first, second = Index(tmp_path / "index", None, db), Index(tmp_path / "index", None, db)
    first.close()
    assert second.count() == 0  # still open and usable
    second.close()


def test_ingest_while_the_app_runs_leaves_the_indexing_to_the_app(make_settings, tmp_path):
    """The app holds the embedded index; `coach ingest` (another process) stores the debriefs in
    SQL and asks the app to catch up, which it does in the background after its next query: new
    records appear, replaced ones go. `coach reindex` asks the same; `coach suggest` reads the
    index without writing. A request the app did not get to is done by the next start."""
    import json
    import time

    from coach.services import Services
    from tests.conftest import run_cli

    settings = make_settings(backend="none")
    app = Services(settings, app=True)
    assert app.index.count() == 0  # the app has the index open (and its lock)
    data = str(settings.data_dir)

    def ingest_file(debriefs) -> str:
        path = tmp_path / "past.jsonl"
        path.write_text("\n".join(json.dumps(d.model_dump()) for d in debriefs), encoding="utf-8")
        r = run_cli("ingest", str(path), "--data-dir", data, "-q")
        assert r.returncode == 0, r.stderr
        return r.stderr

    def caught_up(check) -> bool:
        """The app syncs in the background after the next query; wait for it (at most 60 s)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            app.index.query("customers", k=1)  # a query notices the request
            thread = app.index._sync_thread
            if not (thread and thread.is_alive()) and check():
                return True
            time.sleep(0.2)
        return False

    said = ingest_file(_many_debriefs(4))
    shared = sum(5 for d in _many_debriefs(4) if d.shared)
    assert f"{shared} records will be indexed by the app (process" in said
    assert app.index.catching_up()  # topic ideas say new debriefs are on their way
    assert caught_up(lambda: app.index.count() == shared)
    assert not app.index.catching_up()
    assert len(app.index.query("customers compare prices on their phones", k=50)) == shared

    ingest_file(_many_debriefs(4, tag=" (revised)"))  # replaces every record
    assert caught_up(lambda: all("(revised)" in h["text"] for h in app.index.query("customers", k=50)))
    assert app.index.count() == shared

    app.index.collection.delete(ids=app.index.collection.get()["ids"][:3])  # entries lost somehow
    r = run_cli("reindex", "--data-dir", data, "-q")
    assert r.returncode == 0 and "brings it in line with SQL" in r.stderr
    assert caught_up(lambda: app.index.count() == shared)

    r = run_cli("suggest", "--senior", "CFO", "--junior", "Analyst", "--json", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), list)

    # the app stops before it catches up with an ingest: the next start does it
    ingest_file(_many_debriefs(6))
    app.close()
    app = Services(settings, app=True)
    assert caught_up(lambda: app.index.count() == sum(5 for d in _many_debriefs(6) if d.shared))
    app.close()


def test_a_command_catches_up_before_it_answers(make_settings, tmp_path):
    """Debriefs ingested while the app ran, and the app stopped before indexing them: the next
    `coach suggest` brings the index in line first, so its answer draws on them."""
    from coach.services import Services
    from tests.conftest import run_cli
    from tests.test_suggest import CORPUS

    settings = make_settings(backend="none")
    app = Services(settings, app=True)
    app.index.count()
    path = tmp_path / "past.jsonl"
    path.write_text("\n".join(d.model_dump_json() for d in CORPUS), encoding="utf-8")
    assert run_cli("ingest", str(path), "--data-dir", str(settings.data_dir), "-q").returncode == 0
    app.close()  # before any query: nothing indexed yet
    r = run_cli("suggest", "--senior", "Head of store operations at a fashion retailer",
                "--junior", "Marketing assistant who runs the brand's TikTok", "--json", "--data-dir", str(settings.data_dir))
    assert r.returncode == 0, r.stderr
    cards = __import__("json").loads(r.stdout)
    assert cards and "TikTok" in cards[0]["topic"] and cards[0]["evidence"]


def test_a_command_holding_the_index_makes_others_wait_their_turn(tmp_path):
    """Only the app takes over another process's indexing; a second command is refused clearly."""
    from coach import index_lock
    from tests.conftest import run_cli

    data = tmp_path / "data"
    other = index_lock.hold(data / "index")  # a command (this test process) is using it
    r = run_cli("ingest", str(DATA / "two_debriefs.jsonl"), "--data-dir", str(data), "-q")
    assert r.returncode == 2 and "in use by a command" in r.stderr and "wait for that command to finish" in r.stderr
    index_lock.release(other)
    assert run_cli("ingest", str(DATA / "two_debriefs.jsonl"), "--data-dir", str(data), "-q").returncode == 0


def test_suggestions_never_show_a_record_that_is_no_longer_approved(index, db):
    """Consent is checked when results are filled in from SQL too, not only by what is indexed."""
    from sqlalchemy import update

    from coach.store.models import Record

    to_index, _ = ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    index.index_records(db, to_index)
    with db.session() as s:  # rejected in SQL, its vector not (yet) deleted
        s.execute(update(Record).where(Record.id == to_index[0]).values(status="rejected"))
    ids = {int(h["id"][1:]) for h in index.query("TikTok", k=10)}
    assert to_index[0] not in ids and ids == set(to_index[1:])


def _suggestible_ids(db) -> set[str]:
    with db.engine.connect() as c:
        return {f"r{r[0]}" for r in c.exec_driver_sql(
            "SELECT r.id FROM records r JOIN debriefs d ON d.id = r.debrief_id WHERE d.shared AND r.status = 'approved'")}


def test_a_failed_chroma_write_is_caught_up_before_the_next_answer(tmp_path, db, monkeypatch):
    """Chroma refuses a chunk after its rows were committed (the fault is injected into a real
    Chroma write): the index is marked as behind SQL, and the next query brings it in line."""
    from coach import index_lock
    from coach.ingest import ingest_and_index

    index = Index(tmp_path / "index", None, db)
    real_write, calls = index.write, []

    def write_failing_once(rows, vectors, *rest):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("chroma write failed (injected by the test)")
        real_write(rows, vectors, *rest)

    monkeypatch.setattr(index, "write", write_failing_once)
    with pytest.raises(RuntimeError, match="injected"):
        ingest_and_index(db, index, _many_debriefs(80), chunk_records=100)
    assert index_lock.is_behind(tmp_path / "index")
    stored = _suggestible_ids(db)
    assert 0 < len(index.collection.get(include=[])["ids"]) < len(stored)  # the failed chunk is missing
    assert index.count() == len(stored)  # the query caught up first
    assert set(index.collection.get(include=[])["ids"]) == stored
    assert not index_lock.is_behind(tmp_path / "index")
    index.close()


def test_a_process_that_dies_mid_ingest_leaves_the_catch_up_to_the_next(tmp_path):
    """A real process death (os._exit) between a chunk's commit and its Chroma write: the next
    process to open the index indexes what SQL holds."""
    import subprocess
    import sys
    import textwrap

    from coach import index_lock

    db_url = f"sqlite:///{tmp_path / 'coach.db'}"
    script = textwrap.dedent(f"""
        import os
        from coach.index import Index
        from coach.ingest import ingest_and_index
        from coach.store.db import Database
        from tests.test_index import _many_debriefs
        db = Database({db_url!r})
        index = Index(__import__("pathlib").Path({str(tmp_path / "index")!r}), None, db)
        real, calls = index.write, []
        def write(rows, vectors, *rest):
            calls.append(1)
            if len(calls) == 3:
                os._exit(17)  # after the third chunk's commit, before Chroma gets it
            real(rows, vectors, *rest)
        index.write = write
        ingest_and_index(db, index, _many_debriefs(60), chunk_records=50)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       cwd=str(Path(__file__).resolve().parents[1]))
    assert r.returncode == 17, r.stderr
    assert index_lock.is_behind(tmp_path / "index")
    db = Database(db_url)
    index = Index(tmp_path / "index", None, db)
    stored = _suggestible_ids(db)
    assert len(index.collection.get(include=[])["ids"]) < len(stored)
    assert index.count() == len(stored) and set(index.collection.get(include=[])["ids"]) == stored
    assert not index_lock.is_behind(tmp_path / "index")
    index.close()


def test_the_app_backs_off_while_its_catch_up_keeps_failing(tmp_path, db, monkeypatch, caplog):
    """A catch-up that fails in the app's background thread is retried after 5 s, then 10 s...,
    not on every query, and logged in full once; a success resets the back-off."""
    from coach import index_lock

    index = Index(tmp_path / "index", None, db, background_sync=True)
    real_sync, calls = index.sync, []

    def broken_sync(db_):
        calls.append(1)
        raise RuntimeError("database unreachable (injected by the test)")

    def query_and_wait():
        index.count()
        if index._sync_thread is not None:
            index._sync_thread.join(timeout=30)

    monkeypatch.setattr(index, "sync", broken_sync)
    index_lock.request_sync(tmp_path / "index")
    for _ in range(5):
        query_and_wait()
    assert len(calls) == 1 and index._retry_delay == 5.0
    index._retry_at = 0.0  # as if 5 s had passed
    query_and_wait()
    assert len(calls) == 2 and index._retry_delay == 10.0
    assert sum(bool("trying again in" in r.getMessage() and r.exc_info) for r in caplog.records) == 1  # one traceback

    monkeypatch.setattr(index, "sync", real_sync)
    index._retry_at = 0.0
    query_and_wait()
    assert index._retry_delay == 0.0 and index_lock.synced_state(tmp_path / "index") == index_lock.sync_state(tmp_path / "index")
    index.close()


def test_an_unusable_lock_file_gets_its_own_clear_error(tmp_path):
    from tests.conftest import run_cli

    (tmp_path / "data" / "index" / "in-use.lock").mkdir(parents=True)  # a folder where the lock file goes
    r = run_cli("ingest", str(DATA / "two_debriefs.jsonl"), "--data-dir", str(tmp_path / "data"), "-q")
    assert r.returncode == 2, r.stderr
    assert "cannot open the index's lock file" in r.stderr and "Traceback" not in r.stderr
