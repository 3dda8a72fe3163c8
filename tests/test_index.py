"""The index (embedded Chroma and a real `chroma run` server), the outbox that feeds it from SQL,
and the offline embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coach.debrief_file import read_debriefs
from coach.embeddings import MiniLM, model_files
from coach.index import Index, Indexer, make_client
from coach.ingest import ingest
from coach.records import from_blob
from coach.store.db import Database
from coach.suggest import Corpus
from coach.themes import THEMES
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


@pytest.fixture(params=["persistent", pytest.param("http", marks=pytest.mark.slow)])  # http: a Chroma server
def index(request, tmp_path):
    url = request.getfixturevalue("chroma_server") if request.param == "http" else None
    idx = Index(make_client(tmp_path / "index", url))
    idx.reset()  # the http server is shared by tests: start empty
    return idx


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'coach.db'}")
    yield d
    d.dispose()


def stored_vectors(index: Index) -> dict[str, np.ndarray]:
    out = {}
    for p in index.programmes():
        got = index.collection(p).get(include=["embeddings"])
        out |= {i: np.array(e) for i, e in zip(got["ids"], got["embeddings"])}
    return out


def _suggestible_ids(db) -> set[str]:
    with db.engine.connect() as c:
        return {f"r{r[0]}" for r in c.exec_driver_sql(
            "SELECT r.id FROM records r JOIN debriefs d ON d.id = r.debrief_id WHERE d.shared AND r.status = 'approved'")}


def test_index_holds_only_approved_shared_records(index, db):
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    indexer = Indexer(db, index)
    assert indexer.drain() == 4 and indexer.pending() == 0  # every queued record looked at once
    hits = Corpus(db, index, indexer).query("What did seniors learn about TikTok?", k=5)
    assert len(hits) == 3  # d02 (not shared) is absent
    assert {h["debrief_id"] for h in hits} == {"d01"}
    assert "TikTok" in hits[0]["text"]
    assert hits[0]["topic"] == "How Gen Z discovers stores on TikTok"


def test_rebuild_from_sql_restores_the_index(index, db):
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    indexer = Indexer(db, index)
    indexer.drain()
    index.reset()  # index lost
    assert index.count() == 0
    assert indexer.rebuild() == 3 and index.count() == 3
    assert indexer.rebuild() == 3 and index.count() == 3  # twice: no duplicates


def test_reingest_replaces_index_entries(index, db):
    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    indexer = Indexer(db, index)
    ingest(db, debriefs)
    indexer.drain()
    first = set(stored_vectors(index))
    ingest(db, debriefs)
    indexer.drain()
    assert index.count() == 3 and first.isdisjoint(stored_vectors(index))


def test_each_programme_has_its_own_collection(index, db):
    """A programme's query is a plain search of its own collection; every programme's records
    are found by a query over all of them."""
    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    ingest(db, debriefs[:1], programme="retail")
    ingest(db, [d.model_copy(update={"id": "x01"}) for d in debriefs[:1]], programme="bank")
    Indexer(db, index).drain()
    assert index.programmes() == ["bank", "retail"] and index.count("retail") == index.count("bank") == 3
    v = MiniLM.shared().embed(["TikTok"])
    retail, = index.search(v, 10, {"retail"})
    both, = index.search(v, 10, None)
    assert len(retail) == 3 and len(both) == 6 and set(retail) < set(both)


def test_a_new_programme_joins_every_programme_searches(index, db, monkeypatch):
    """The list of programmes is reused between searches: a collection this process creates is in
    it at once; one another process creates (here: another Index on the same store) once the list
    is older than PROGRAMMES_TTL."""
    debriefs = read_debriefs(DATA / "two_debriefs.jsonl")
    indexer = Indexer(db, index)
    ingest(db, debriefs[:1], programme="retail")
    indexer.drain()
    v = MiniLM.shared().embed(["TikTok"])
    assert index.programmes() == ["retail"] and len(index.search(v, 10, None)[0]) == 3
    ingest(db, [d.model_copy(update={"id": "x01"}) for d in debriefs[:1]], programme="bank")
    indexer.drain()  # this process creates the bank's collection
    assert index.programmes() == ["bank", "retail"] and len(index.search(v, 10, None)[0]) == 6

    indexer.stop()  # hands the lease over
    other = Index(index.client)
    ingest(db, [d.model_copy(update={"id": "x02"}) for d in debriefs[:1]], programme="hospital")
    Indexer(db, other).drain()
    assert index.programmes() == ["bank", "retail"]  # not yet: the list is fresh
    monkeypatch.setattr(Index, "PROGRAMMES_TTL", 0.0)
    assert index.programmes() == ["bank", "hospital", "retail"] and len(index.search(v, 10, None)[0]) == 9


def test_bulk_embedding_matches_one_call_in_order():
    """embed_stream (chunks embedded side by side) returns each chunk's vectors, in order, equal to
    embedding the texts in one call."""
    m = MiniLM.shared()
    texts = [f"{s} ({i})" for i in range(30) for s in SENTENCES]
    chunks = [texts[:7], texts[7:8], [], texts[8:90], texts[90:]]
    streamed = list(m.embed_stream(chunks))
    assert [len(v) for v in streamed] == [len(c) for c in chunks]
    assert np.allclose(np.concatenate([v for v in streamed if len(v)]), m.embed(texts), atol=1e-5)


def test_the_index_holds_the_vector_derived_once_with_the_record(index, db):
    """coach ingest embeds each record's canonical text once, stores the vector (and the theme it
    gives) in SQL, and the index holds exactly that vector."""
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    Indexer(db, index).drain()
    with db.engine.connect() as c:
        rows = {f"r{r[0]}": r for r in c.exec_driver_sql("SELECT id, text, vector, theme FROM records")}
    got = stored_vectors(index)
    assert set(got) == _suggestible_ids(db)
    for rid, vec in got.items():
        assert np.allclose(vec, from_blob(rows[rid][2]), atol=1e-5)
        assert np.allclose(vec, MiniLM.shared().embed([rows[rid][1]])[0], atol=1e-5)
    assert {r[3] for r in rows.values()} <= set(THEMES)


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


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_chunked_ingest_indexes_what_a_rebuild_from_sql_would(index, db, store, request, new_york_time):
    """coach ingest drains each chunk as it goes; a rebuild reads everything back from SQL. Both
    give the same ids and vectors, on either database and whatever the server's time zone."""
    if store == "postgresql":
        db = Database(request.getfixturevalue("fresh_postgres"))
        request.addfinalizer(db.dispose)
    indexer = Indexer(db, index)
    debriefs = _many_debriefs(80)  # 400 records: several chunks on every thread
    shared = sum(5 for d in debriefs if d.shared)
    stored, drained = [], []
    n = ingest(db, debriefs, progress=stored.append, after_chunk=lambda: drained.append(indexer.drain()))
    assert n == shared == index.count() and indexer.pending() == 0
    assert len(drained) >= 4 and sum(drained) == 400 and sum(stored) == len(debriefs)
    by_ingest = stored_vectors(index)
    assert indexer.rebuild() == shared
    by_rebuild = stored_vectors(index)
    assert by_ingest.keys() == by_rebuild.keys()
    for rid, vec in by_ingest.items():
        assert np.allclose(vec, by_rebuild[rid], atol=1e-5)


def test_reingest_gives_new_record_ids_and_no_duplicates(index, db):
    """Record ids are cited as evidence and in the access log: a re-ingested debrief's records
    get fresh ids, never an id an earlier record had."""
    indexer = Indexer(db, index)
    ingest(db, _many_debriefs(30), after_chunk=indexer.drain)
    first = set(stored_vectors(index))
    ingest(db, _many_debriefs(30, tag=" (revised)"), after_chunk=indexer.drain)
    second = stored_vectors(index)
    assert len(first) == len(second) and first.isdisjoint(second)
    texts = [h["text"] for h in Corpus(db, index, indexer).query("customers", k=200)]
    assert len(texts) == len(second) and all("(revised)" in t for t in texts)
    with db.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM records").scalar() == 30 * 5
        assert c.exec_driver_sql("SELECT count(*) FROM turns").scalar() == 30 * 2


def test_a_failing_chunk_leaves_whole_chunks_stored_and_indexed(tmp_path, db):
    """A database error part-way (a real one: a SQLite trigger refuses one debrief) stops the
    ingest; what was committed is indexed, nothing else is in Chroma, and running the file
    again completes it without duplicates."""
    from sqlalchemy.exc import IntegrityError

    index = Index(make_client(tmp_path / "index", None))
    indexer = Indexer(db, index)
    debriefs = _many_debriefs(80)
    with db.engine.begin() as c:
        c.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON debriefs WHEN NEW.id = 'm70' "
                          "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END")
    with pytest.raises(IntegrityError, match="refused by test trigger"):
        ingest(db, debriefs, after_chunk=indexer.drain)
    with db.engine.connect() as c:
        stored = [r[0] for r in c.exec_driver_sql("SELECT id FROM debriefs")]
    assert 0 < len(stored) < 70 and set(stored) == {d.id for d in debriefs[: len(stored)]}  # whole chunks, in order
    assert set(stored_vectors(index)) == _suggestible_ids(db)  # indexed = committed, nothing more
    with db.engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER refuse")
    ingest(db, debriefs, after_chunk=indexer.drain)
    assert index.count() == sum(5 for d in debriefs if d.shared)


def test_a_failed_chroma_write_is_done_again_from_the_outbox(tmp_path, db, monkeypatch):
    """Chroma refuses a write after the rows were committed (the fault is injected into a real
    Chroma write): the outbox keeps the rows, and the next drain brings the index in line."""
    index = Index(make_client(tmp_path / "index", None))
    indexer = Indexer(db, index)
    real, calls = index.upsert, []

    def upsert_failing_once(*a):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("chroma write failed (injected by the test)")
        real(*a)

    monkeypatch.setattr(index, "upsert", upsert_failing_once)
    ingest(db, _many_debriefs(80))
    with pytest.raises(RuntimeError, match="injected"):
        indexer.drain(batch=100)
    assert indexer.pending() > 0 and index.count() < len(_suggestible_ids(db))  # the failed batch is missing
    assert Corpus(db, index, indexer).query("customers", k=5)  # a query applies a small backlog first ...
    indexer.drain()  # ... and the indexer the rest
    assert indexer.pending() == 0 and set(stored_vectors(index)) == _suggestible_ids(db)


@pytest.mark.slow  # runs coach as a subprocess
def test_a_process_that_dies_mid_ingest_leaves_the_rest_in_the_outbox(tmp_path):
    """A real process death (os._exit) between a chunk's commit and its indexing: the next
    process to drain the outbox indexes what SQL holds."""
    import subprocess
    import sys
    import textwrap

    db_url = f"sqlite:///{tmp_path / 'coach.db'}"
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from coach.index import Index, Indexer, make_client
        from coach.ingest import ingest
        from coach.store.db import Database
        from tests.test_index import _many_debriefs
        db = Database({db_url!r})
        indexer = Indexer(db, Index(make_client(Path({str(tmp_path / "index")!r}), None)))
        calls = []
        def after_chunk():
            calls.append(1)
            if len(calls) == 3:
                os._exit(17)  # after the third chunk's commit, before it is indexed
            indexer.drain()
        ingest(db, _many_debriefs(60), after_chunk=after_chunk, chunk_records=50)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       cwd=str(Path(__file__).resolve().parents[1]))
    assert r.returncode == 17, r.stderr
    db = Database(db_url)
    index = Index(make_client(tmp_path / "index", None))
    stored = _suggestible_ids(db)
    assert 0 < len(stored_vectors(index)) < len(stored)
    Indexer(db, index).drain()
    assert set(stored_vectors(index)) == stored


def test_suggestions_never_show_a_record_that_is_no_longer_approved(index, db):
    """Consent is checked when results are filled in from SQL too, not only by what is indexed."""
    from sqlalchemy import update

    from coach.store.models import Record

    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    indexer = Indexer(db, index)
    indexer.drain()
    ids = sorted(int(i[1:]) for i in stored_vectors(index))
    with db.session() as s:  # rejected in SQL behind the records module's back: no outbox row
        s.execute(update(Record).where(Record.id == ids[0]).values(status="rejected"))
    found = {int(h["id"][1:]) for h in Corpus(db, index, indexer).query("TikTok", k=10)}
    assert ids[0] not in found and found == set(ids[1:])


@pytest.mark.slow  # runs coach as a subprocess
def test_ingest_while_the_app_runs_leaves_the_indexing_to_the_app(make_settings, tmp_path):
    """The app holds the embedded index and indexes in the background; `coach ingest` (another
    process) stores the debriefs and their outbox rows, and the app indexes them: new records
    appear, replaced ones go. `coach reindex` queues everything again; `coach suggest` reads the
    index without writing. Rows the app did not get to are done by the next start."""
    import json
    import time

    from coach.services import Services
    from tests.conftest import run_cli

    settings = make_settings(backend="none")
    app = Services(settings, app=True)
    app.indexer.start()
    data = str(settings.data_dir)

    def ingest_file(debriefs) -> str:
        path = tmp_path / "past.jsonl"
        path.write_text("\n".join(json.dumps(d.model_dump()) for d in debriefs), encoding="utf-8")
        r = run_cli("ingest", str(path), "--data-dir", data, "-q")
        assert r.returncode == 0, r.stderr
        return r.stderr

    def caught_up(check) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.indexer.pending() == 0 and check():
                return True
            time.sleep(0.2)
        return False

    said = ingest_file(_many_debriefs(4))
    shared = sum(5 for d in _many_debriefs(4) if d.shared)
    assert f"the app (process {__import__('os').getpid()}) indexes their {shared} records in the background" in said
    assert caught_up(lambda: app.index.count() == shared)
    assert len(app.corpus.query("customers compare prices on their phones", k=50)) == shared

    ingest_file(_many_debriefs(4, tag=" (revised)"))  # replaces every record
    assert caught_up(lambda: all("(revised)" in h["text"] for h in app.corpus.query("customers", k=50)))
    assert app.index.count() == shared

    col = app.index.collection("default")
    col.delete(ids=col.get()["ids"][:3])  # entries lost somehow
    r = run_cli("reindex", "--data-dir", data, "-q")
    assert r.returncode == 0 and "in line with SQL" in r.stderr
    assert caught_up(lambda: app.index.count() == shared)

    r = run_cli("suggest", "--senior", "CFO", "--junior", "Analyst", "--json", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), list)

    # the app stops before it indexes an ingest: the next start does it
    app.indexer.stop()
    ingest_file(_many_debriefs(6))
    app.close()
    app = Services(settings, app=True)
    app.indexer.start()
    assert caught_up(lambda: app.index.count() == sum(5 for d in _many_debriefs(6) if d.shared))
    app.close()


def test_a_large_backlog_is_worked_through_in_the_background_and_said(make_settings):
    """A query does not wait for a large ingest to be indexed: it answers from what is indexed
    and says the index is catching up (the app shows it); a small backlog is applied first."""
    from coach.services import Services
    from coach.suggest import suggest

    svc = Services(make_settings(backend="none"))
    ingest(svc.db, _many_debriefs(60))  # 300 queued: more than a query applies itself
    suggest(svc.corpus, "Director", "Analyst", k=3)
    assert svc.corpus.catching_up and svc.indexer.pending() == 300
    svc.indexer.drain()
    suggest(svc.corpus, "Director", "Analyst", k=3)
    assert not svc.corpus.catching_up
    svc.close()


@pytest.mark.slow  # runs coach as a subprocess
def test_a_command_indexes_what_the_app_left_before_it_answers(make_settings, tmp_path):
    """Debriefs ingested while the app ran, and the app stopped before indexing them: the next
    `coach suggest` indexes them first, so its answer draws on them."""
    from coach.services import Services
    from tests.conftest import run_cli
    from tests.test_suggest import CORPUS

    settings = make_settings(backend="none")
    app = Services(settings, app=True)
    app.index.count()  # holds the index, indexes nothing
    path = tmp_path / "past.jsonl"
    path.write_text("\n".join(d.model_dump_json() for d in CORPUS), encoding="utf-8")
    assert run_cli("ingest", str(path), "--data-dir", str(settings.data_dir), "-q").returncode == 0
    app.close()
    r = run_cli("suggest", "--senior", "Head of store operations at a fashion retailer",
                "--junior", "Marketing assistant who runs the brand's TikTok", "--json", "--data-dir", str(settings.data_dir))
    assert r.returncode == 0, r.stderr
    cards = __import__("json").loads(r.stdout)
    assert cards and "TikTok" in cards[0]["topic"] and cards[0]["evidence"]


@pytest.mark.slow  # runs coach as a subprocess
def test_a_second_command_is_refused_clearly_while_one_holds_the_index(tmp_path):
    from coach.index import DirLock
    from tests.conftest import run_cli

    data = tmp_path / "data"
    other = DirLock(data / "index", "a command")  # a command (this test process) is using it
    r = run_cli("ingest", str(DATA / "two_debriefs.jsonl"), "--data-dir", str(data), "-q")
    assert r.returncode == 2 and "in use by a command" in r.stderr and "Traceback" not in r.stderr
    other.release()
    assert run_cli("ingest", str(DATA / "two_debriefs.jsonl"), "--data-dir", str(data), "-q").returncode == 0


def test_the_app_backs_off_while_indexing_keeps_failing(tmp_path, db, monkeypatch, caplog):
    """A drain that fails in the app's background thread is retried after 5 s, then 10 s ...,
    and logged in full once; a success resets the back-off; the rows wait in the outbox."""
    index = Index(make_client(tmp_path / "index", None))
    indexer = Indexer(db, index)
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    real = index.upsert

    def broken(*a):
        raise RuntimeError("chroma unreachable (injected by the test)")

    monkeypatch.setattr(index, "upsert", broken)
    indexer.drain_in_background()
    assert indexer.retry_delay == 5.0 and indexer.pending() == 4
    indexer.drain_in_background()
    assert indexer.retry_delay == 10.0
    assert sum(bool("trying again in" in r.getMessage() and r.exc_info) for r in caplog.records) == 1  # one traceback
    monkeypatch.setattr(index, "upsert", real)
    indexer.drain_in_background()
    assert indexer.retry_delay == 1.0 and indexer.pending() == 0 and index.count() == 3


def test_two_indexers_never_drain_at_once(tmp_path, db):
    """Several app instances share one database: the indexer's lease lets one drain at a time."""
    index = Index(make_client(tmp_path / "index", None))
    a, b = Indexer(db, index), Indexer(db, index)
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    assert a._take_lease() and not b._take_lease()
    assert b.drain() == 0 and b.pending() == 4  # b leaves the work to a
    assert a.drain() == 4
    a.stop()  # gives the lease up
    ingest(db, read_debriefs(DATA / "two_debriefs.jsonl"))
    assert b.drain() == 8  # the four new records, and the four they replaced


@pytest.mark.slow  # runs coach as a subprocess
def test_an_unusable_lock_file_gets_its_own_clear_error(tmp_path):
    from tests.conftest import run_cli

    (tmp_path / "data" / "index" / "in-use.lock").mkdir(parents=True)  # a folder where the lock file goes
    r = run_cli("ingest", str(DATA / "two_debriefs.jsonl"), "--data-dir", str(tmp_path / "data"), "-q")
    assert r.returncode == 2, r.stderr
    assert "cannot open the index's lock file" in r.stderr and "Traceback" not in r.stderr
