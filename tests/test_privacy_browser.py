"""Privacy end to end, against the running app:

- participant and user text is plain text for everyone else: a Markdown link and **bold** in an
  answer, and a topic with a Markdown image, show as typed in the facilitator's Review
  (transcript, pair synthesis), in the pair's own Debrief tab and in another participant's "What
  surprised similar seniors?"; no link to the address exists and the browser never fetches it;
- a participant who deletes their account leaves no copy of their words anywhere under the data
  dir: not in the SQLite file or its write-ahead log, not in their download or a facilitator's
  export that Gradio served (both in an owner-only folder of the data dir).
"""

from __future__ import annotations

import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coach.config import load_settings
from coach.local_server import free_port
from coach.policy import OPERATOR as OP
from coach.policy import Actor
from coach.services import Services
from tests.conftest import PROGRAMME, answer_all, api_client, open_tab, seed_people, sign_in, start_app

pytestmark = pytest.mark.slow


class Watched(ThreadingHTTPServer):
    """A server the page must never reach: it notes every request."""

    def __init__(self):
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                outer.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png" if self.path.endswith(".png") else "text/plain")
                self.end_headers()
                self.wfile.write(b"\x89PNG\r\n" if self.path.endswith(".png") else b"guide")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _accounts(data: Path, *names: str) -> dict[str, int]:
    from coach.accounts import Accounts

    seed_people(data, *((n, "participant", None) for n in names))
    svc = Services(load_settings(data_dir=data))
    ids = {n: Accounts(svc.db).find(n).id for n in names}
    svc.close()
    return ids


def _seed_markup(data: Path, watched: Watched) -> None:
    """Pair A (topic with an image; both sides answered with a link and bold, confirmed and
    shared), pair B (Pat's, nothing yet) and a past debrief of the programme whose changed view
    holds the link (held back as suspect when ingested, approved by the facilitator)."""
    from coach.accounts import Accounts
    from coach.debrief_file import FileDebrief
    from coach.ingest import ingest

    link, img = f"[this short guide]({watched.base}/guide)", f"![t]({watched.base}/topic.png)"
    ids = _accounts(data, "jo@example.org", "pat@example.org")
    svc = Services(load_settings(data_dir=data))
    d = svc.debriefs
    a = d.create_pair(senior="Retail operations director", junior="Social media associate",
                      topic=f"How Gen Z discovers stores {img}", programme=PROGRAMME)
    s_id, j_id = d.open(a.id, "senior"), d.open(a.id, "junior", participant_id=ids["jo@example.org"])
    answer_all(d, OP, s_id, [
        f"I learned from {link} that teenagers search TikTok before Google, **bold** as that sounds.",
        "She showed me how she searches for a café near her flat; every result was a video.",
        "I thought our website was where young customers found us, but it turns out most never visit it.",
        "I'll ask every store manager to post one short video a week, starting in March.",
        "They worked well because she used our own stores as examples."])
    answer_all(d, OP, j_id, [
        f"I showed him how TikTok search works with {link}, **step by step**.",
        "I also taught him how our analytics dashboard counts watch time, for example on our last post.",
        "He pushed back on whether video is serious enough for a brand like ours.",
        "I feel much more confident presenting to directors; last week I spoke up in the ops meeting.",
        "That he took notes on paper."])
    for did in (s_id, j_id):
        d.confirm(OP, did, share=True)
    b = d.create_pair(senior="Head of store operations", junior="Marketing assistant", topic="Reddit",
                      programme=PROGRAMME)
    d.open(b.id, "senior", participant_id=ids["pat@example.org"])
    ingest(svc.db, [FileDebrief.model_validate({
        "id": "past-markup", "role": "senior", "shared": True,
        "pair": {"senior": "Retail operations director", "junior": "Store associate", "topic": f"Store visits {img}"},
        "transcript": [{"speaker": "coach", "text": "What did you believe before?"},
                       {"speaker": "participant", "text": "That customers find us through the website."}],
        "expected": {"learned": [], "actions": [], "broken_assumptions": [
            {"before": "Customers find our stores through the website",
             "after": f"They find us on TikTok, as {link} shows, **bold** claim"}]}})], programme=PROGRAMME)
    fran = Accounts(svc.db).find("fran@example.org")
    fac = Actor(fran.id, fran.display_name or fran.username, "facilitator", PROGRAMME)
    [held] = [r for r in svc.records.for_debrief("past-markup") if r["status"] == "pending"]
    assert "web address" in (held["suspect"] or "")  # ingested with a link: held back until approved
    svc.review.decide(fac, "past-markup", held["id"], "approve")
    svc.close()


def _no_markup_reached(page, watched: Watched, requests: list[str]) -> None:
    assert page.locator(f'a[href^="{watched.base}"]').count() == 0
    assert page.locator(f'img[src^="{watched.base}"]').count() == 0
    assert not [u for u in requests if u.startswith(watched.base)]
    assert watched.hits == []


def test_markdown_and_images_in_user_text_stay_text_for_everyone(tmp_path, browser):
    data = tmp_path / "data"
    watched = Watched()
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false", COACH_MIN_SHARED_DEBRIEFS="0")
    try:
        _seed_markup(data, watched)
        requests: list[str] = []

        def page_for(user: str):
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            sign_in(page, url, user)
            return page

        # the facilitator: transcript and pair synthesis
        page = page_for("fran@example.org")
        open_tab(page, "Review")
        page.get_by_label("Shared debriefs").click()
        page.get_by_role("option", name="senior", exact=False).filter(has_text="How Gen Z").first.click()
        transcript = page.locator("#review-transcript")
        transcript.get_by_text("[this short guide](", exact=False).first.wait_for()
        assert transcript.get_by_text("**bold**", exact=False).count() >= 1
        page.get_by_text("Pair synthesis: what the junior taught", exact=False).first.wait_for()
        body = page.locator("body").inner_text()
        synthesis = body[body.index("Pair synthesis: what the junior taught"):]
        # the junior's taught point and the senior's learned one, as typed (however they are matched)
        assert "**step by step**" in synthesis and "[this short guide](http://127." in synthesis
        assert "**bold**" in synthesis
        # the queue shows the topic as typed
        assert page.get_by_label("Shared debriefs").input_value().startswith("How Gen Z discovers stores ![t](")
        _no_markup_reached(page, watched, requests)
        page.close()

        # the pair's junior: the topic the facilitator set, in their Debrief tab
        page = page_for("jo@example.org")
        page.get_by_text(f"How Gen Z discovers stores ![t]({watched.base}/topic.png)", exact=False).first.wait_for()
        page.get_by_text("[this short guide](", exact=False).first.wait_for()  # their own words in the chat
        _no_markup_reached(page, watched, requests)
        page.close()

        # another participant: what surprised similar seniors (the approved past debrief)
        page = page_for("pat@example.org")
        open_tab(page, "Topic ideas")
        page.get_by_label("The senior: role and context").fill("Retail operations director")
        cards = page.locator("#topic-cards")
        deadline = time.monotonic() + 90
        while "this short guide" not in (cards.text_content() or ""):  # the app indexes the approval first
            assert time.monotonic() < deadline, cards.text_content()
            page.get_by_role("button", name="What surprised similar seniors?").click()
            page.wait_for_timeout(2000)
        text = cards.text_content() or ""
        assert f"[this short guide]({watched.base}/guide)" in text and "**bold**" in text
        assert f"![t]({watched.base}/topic.png)" in text  # the past pair's topic, as typed
        assert cards.locator("strong", has_text="bold").count() == 0
        _no_markup_reached(page, watched, requests)
        page.close()
    finally:
        proc.terminate()
        proc.wait(30)
        watched.shutdown()


PHRASE = "the vermilion heron of Tromsø"


def test_a_deleted_account_leaves_no_copy_of_its_words_under_the_data_dir(tmp_path):
    from coach.accounts import Accounts

    data = tmp_path / "data"
    proc, url = start_app(data, COACH_LOCAL_AUTOSTART="false")
    try:
        ids = _accounts(data, "ann@example.org")
        svc = Services(load_settings(data_dir=data))
        d = svc.debriefs
        p = d.create_pair(senior="Retail operations director", junior="Social media associate",
                          topic="How Gen Z discovers stores", programme=PROGRAMME)
        did = d.open(p.id, "senior", participant_id=ids["ann@example.org"])
        answer_all(d, OP, did, [
            f"I learned that teenagers search TikTok before Google when they look for {PHRASE}.",
            f"She showed me how she searches for {PHRASE}; every result was a video.",
            f"I thought our website was where young customers found {PHRASE}, but it turns out most never visit it.",
            f"I'll ask every store manager to post one short video a week about {PHRASE}, starting in March.",
            "They worked well because she used our own stores as examples."])
        d.confirm(OP, did, share=True)
        fran = Accounts(svc.db).find("fran@example.org")
        fac = Actor(fran.id, fran.display_name or fran.username, "facilitator", PROGRAMME)
        for r in svc.records.for_debrief(did):
            svc.review.decide(fac, did, r["id"], "approve")
        svc.close()

        ann, fac_client = api_client(url, "ann@example.org"), api_client(url, "fran@example.org")
        mine = ann.predict(api_name="/download_mine")
        assert PHRASE in Path(mine if isinstance(mine, str) else mine["value"]).read_text(encoding="utf-8")
        for fmt in ("json", "csv"):
            got = fac_client.predict(api_name=f"/export_{fmt}")
            assert PHRASE in Path(got if isinstance(got, str) else got["value"]).read_text(encoding="utf-8")
        served = data / "served"
        assert stat.S_IMODE(served.stat().st_mode) == 0o700  # Gradio's copies: here, owner-only
        assert {f.name for f in served.rglob("*") if f.is_file()} >= {"my-coach-data.json", "approved-records.csv",
                                                                       "approved-records.json"}
        needle = PHRASE.encode()
        assert any(needle in f.read_bytes() for f in data.rglob("*") if f.is_file())

        ann.predict(True, api_name="/delete_account")
        left: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the account itself goes a moment after the answer
            time.sleep(1)
            left = [str(f.relative_to(data)) for f in data.rglob("*") if f.is_file() and needle in f.read_bytes()]
            if not left and not _account_left(data):
                break
        assert left == [] and not _account_left(data)
        assert (data / "coach.db").is_file()  # the database is there, without the words
    finally:
        proc.terminate()
        proc.wait(30)


def _account_left(data: Path) -> bool:
    import sqlite3

    with sqlite3.connect(f"file:{data / 'coach.db'}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM users WHERE username = 'ann@example.org'").fetchone()[0] > 0
