"""User text stays plain text (esc), and deleted data leaves no copy: SQLite overwrites deleted rows
and empties its write-ahead log after a deletion, served files live in an owner-only folder of the
data dir, are swept, and are purged when a participant deletes what they hold. (The app end to
end, in a real browser and through its API: tests/test_privacy_browser.py.)"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

from markdown_it import MarkdownIt

from coach.store.db import Database
from coach.store.models import Debrief, Pair, Turn
from coach.ui import common
from coach.ui.common import code, esc, purge, sweep, use_private_temp_dir

MARKUP = ("[this short guide](http://127.0.0.1:9/guide) **bold** _it_ ![t](http://127.0.0.1:9/t.png) "
          "<img src=x onerror=alert(1)> `code` # heading | a | b | ~~gone~~ <http://x.org> a@b.org "
          "\\*escaped\\* &amp; 1. first $$x^2$$ {{value}} ${value}")


def test_esc_leaves_nothing_markdown_or_html_can_read_as_markup():
    out = esc(MARKUP)
    bare = re.sub(r"&#\d+;", "", out.replace("<span>", "").replace("</span>", ""))
    for c in "[]()*_`#|~<>!:@\\{}&$":
        assert c not in bare, c
    html = MarkdownIt("commonmark").enable("strikethrough").enable("table").render(f"* {out}")
    assert "<a" not in html and "<img" not in html and "<strong" not in html and "<em" not in html
    assert "<code" not in html and "<h1" not in html and "<del" not in html and "<s>" not in html
    assert "$$" not in out  # each $ in an element of its own: no LaTeX delimiter reaches the page
    # what a reader sees (character references decoded) is the text as typed
    import html as h

    assert h.unescape(out.replace("<span>", "").replace("</span>", "")) == MARKUP
    assert esc("line one\nline two") == "line one line two"
    assert esc(None) == ""
    assert code("a_b@example.org") == "<code>a&#95;b&#64;example.org</code>"


def _debrief(db: Database, phrase: str) -> str:
    with db.session() as s:
        s.add(Pair(id="p-1", senior="Director", junior="Associate", topic="TikTok"))
        s.add(Debrief(id="d-1", pair_id="p-1", role="senior"))
        s.flush()
        s.add_all(Turn(debrief_id="d-1", idx=i, speaker="participant", text=f"{phrase} number {i}") for i in range(40))
    return "d-1"


def _holds(folder: Path, needle: bytes) -> list[str]:
    return [str(f) for f in folder.rglob("*") if f.is_file() and needle in f.read_bytes()]


def test_a_deleted_debrief_leaves_no_bytes_in_the_database_files_and_says_so(tmp_path):
    phrase = "the purple walrus of Lisbon"
    db = Database(f"sqlite:///{tmp_path / 'coach.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    erased: list[set[str]] = []
    db.on_erase.append(erased.append)
    did = _debrief(db, phrase)
    assert _holds(tmp_path, phrase.encode())  # in the write-ahead log or the database file
    with db.session() as s:
        s.delete(s.get(Debrief, did))  # the turns go with it (cascade)
    assert erased == [{did}]
    assert not (tmp_path / "coach.db-wal").exists() or (tmp_path / "coach.db-wal").stat().st_size == 0
    assert _holds(tmp_path, phrase.encode()) == []
    with db.session() as s:
        assert s.get(Pair, "p-1") is not None  # the rest is untouched
    db.dispose()


def test_gradio_serves_from_an_owner_only_folder_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    folder = use_private_temp_dir(tmp_path / "data")
    assert os.environ["GRADIO_TEMP_DIR"] == str(folder) and folder.is_relative_to(tmp_path / "data")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "exports").stat().st_mode) == 0o700
    import gradio.utils

    assert gradio.utils.get_upload_folder() == str(folder)


def test_downloads_are_swept_after_ten_minutes_and_purged_when_their_owner_deletes(tmp_path, monkeypatch):
    served, scratch = tmp_path / "served", tmp_path / "scratch"
    mine = served / "abc123" / "my-coach-data.json"
    export = served / "def456" / "approved-records.csv"
    other = scratch / "tmp1" / "approved-records.json"
    for f, body in ((mine, '{"username": "ann@example.org", "debriefs": [{"debrief": "d-7"}]}'),
                    (export, "id,debrief,text\n1,d-7,the walrus\n2,d-8,a seal\n"),
                    (other, '[{"debrief": "d-8"}]')):
        f.parent.mkdir(parents=True)
        f.write_text(body)
    assert purge([served, scratch], {"d-7", "ann@example.org"}) == 2
    assert not mine.exists() and not export.exists() and other.exists()
    assert not (served / "abc123").exists()  # emptied folders go too
    assert sweep([served, scratch]) == 0  # made just now: kept
    now = time.time()
    monkeypatch.setattr(common.time, "time", lambda: now + common.SCRATCH_MINUTES * 60 + 1)
    assert sweep([served, scratch]) == 1 and not other.exists()
    assert served.is_dir() and scratch.is_dir()  # the folders themselves stay
