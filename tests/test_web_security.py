"""The web server's defences, against a real server: a small Gradio app behind the gate
(coach.web.build_server), served by uvicorn as the app serves it (coach.web.uvicorn_config) on
a free loopback port, with a real SQLite database, driven over HTTP. And the account rules that
keep an admin from reading debriefs, on the same database."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace

import gradio as gr
import httpx
import pytest
import uvicorn
from sqlalchemy import func, select, update
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from coach.accounts import PENDING, AccessDenied, AccountError, Accounts
from coach.local_server import free_port
from coach.policy import OPERATOR, check_reviewer
from coach.store.db import Database
from coach.store.models import SignInAttempt, User, utcnow
from coach.web import MAX_FAILURES, MAX_FAILURES_PER_NAME, Throttle, build_server, uvicorn_config
from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # starts uvicorn servers and a command

PW = "correct horse 42"
PEOPLE = [("root", "admin", None), ("fay@example.org", "facilitator", "Pilot"),
          ("ann@example.org", "participant", None), ("carl@example.org", "participant", None),
          ("dan@example.org", "participant", None), ("erin@example.org", "participant", None)]


def small_app() -> gr.Blocks:
    def whoami(request: gr.Request) -> str:
        return f"Signed in as {request.username}"

    with gr.Blocks() as blocks:
        out = gr.Textbox(label="Who")
        gr.Button("Who am I").click(whoami, None, out, api_name="whoami")
    return blocks


@pytest.fixture
def site(make_settings):
    """start(**settings) -> a running server (url, accounts, db); every one started on the
    same data dir shares one database, as a restarted app or a second instance would."""
    running = []

    def start(**settings):
        s = make_settings(**settings)
        db = Database(s.sqlalchemy_url)
        accounts = Accounts(db, cache_seconds=0)
        for name, role, programme in PEOPLE:
            if accounts.find(name) is None:
                accounts.create_user(name, role, password=PW, programme=programme)
        port = free_port()
        server = uvicorn.Server(uvicorn_config(build_server(small_app(), accounts, trusted_proxies=s.trusted_proxy_list),
                                               "127.0.0.1", port))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread, db))
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port, accounts=accounts, db=db)

    yield start
    for server, thread, db in running:
        server.should_exit = True
        thread.join(15)
        db.dispose()


def sign_in(url: str, name: str, password: str = PW, **headers) -> httpx.Response:
    return httpx.post(f"{url}/auth/login", data={"username": name, "password": password, "next": "/"},
                      headers=headers)


def cookie_of(url: str, name: str) -> dict:
    r = sign_in(url, name)
    assert r.status_code == 303, r.text
    return {"coach_session": r.cookies["coach_session"]}


def signed_in(url: str, cookies: dict) -> bool:
    return httpx.get(f"{url}/config", cookies=cookies).status_code == 200


# -- 1. signing out -----------------------------------------------------------------------------


def test_sign_out_is_a_post_from_this_site_and_a_get_only_asks(site):
    s = site()
    cookies = cookie_of(s.url, "ann@example.org")
    page = httpx.get(f"{s.url}/auth/logout", cookies=cookies)  # the app's link, or any other site's
    assert page.status_code == 200 and '<form method="post" action="/auth/logout">' in page.text
    assert "Sign out</button>" in page.text and "set-cookie" not in page.headers
    assert signed_in(s.url, cookies)  # a GET signs nobody out
    r = httpx.post(f"{s.url}/auth/logout", cookies=cookies, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and signed_in(s.url, cookies)  # a form on another site cannot either
    r = httpx.post(f"{s.url}/auth/logout", cookies=cookies, headers={"Origin": s.url})
    assert r.status_code == 303 and r.headers["location"] == "/auth/login"
    assert 'coach_session=""' in r.headers["set-cookie"] and not signed_in(s.url, cookies)


# -- 2. forwarding headers ------------------------------------------------------------------------


def test_forwarded_for_is_believed_only_from_configured_proxies(site):
    s = site()  # COACH_TRUSTED_PROXIES unset: the client is the connection, whatever it claims
    for i in range(MAX_FAILURES):
        r = sign_in(s.url, "carl@example.org", "guess guess", **{"X-Forwarded-For": f"203.0.113.{i}"})
        assert r.status_code == 401
    r = sign_in(s.url, "carl@example.org", **{"X-Forwarded-For": "198.51.100.9"})
    assert r.status_code == 429  # a new claimed address is no new allowance

    p = site(trusted_proxies="127.0.0.1")  # behind a proxy on this machine, configured as such
    for _ in range(MAX_FAILURES):
        assert sign_in(p.url, "dan@example.org", "guess guess", **{"X-Forwarded-For": "203.0.113.7"}).status_code == 401
    assert sign_in(p.url, "dan@example.org", **{"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    r = sign_in(p.url, "dan@example.org", **{"X-Forwarded-For": "198.51.100.9"})
    assert r.status_code == 303  # the owner elsewhere is not locked out by the guesser's address


# -- 3. the throttle in SQL -----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, make_settings):
    return make_settings().sqlalchemy_url if request.param == "sqlite" else request.getfixturevalue("fresh_postgres")


def test_the_throttle_outlives_a_restart_and_is_shared_by_instances(db_url):
    db = Database(db_url)
    t = Throttle(db)
    assert all(t.attempt("ann", "10.0.0.1") for _ in range(MAX_FAILURES))
    assert not t.attempt("ann", "10.0.0.1")
    again = Database(db_url)  # a restarted process, or another instance on the same database
    assert not Throttle(again).attempt("ann", "10.0.0.1")
    assert Throttle(again).attempt("ann", "10.0.0.2") and Throttle(again).attempt("bob", "10.0.0.1")
    # the per-name ceiling holds across instances too
    used = MAX_FAILURES + 1
    for i in range(MAX_FAILURES_PER_NAME - used):
        assert (t if i % 2 else Throttle(again)).attempt("ann", f"192.0.2.{i}")
    assert not Throttle(again).attempt("ann", "198.51.100.1") and not t.attempt("ann", "198.51.100.2")
    # a success clears the name's count, not the count of an address that was guessing
    t.clear("ann", "10.0.0.2")
    assert Throttle(again).attempt("ann", "198.51.100.1") and not t.attempt("ann", "10.0.0.1")
    # rows older than the window go, and with them the wait
    with db.session() as s:
        s.execute(update(SignInAttempt).values(at=utcnow() - timedelta(minutes=16)))
    assert t.attempt("ann", "10.0.0.1")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SignInAttempt)) == 1
    again.dispose()
    db.dispose()


def test_guesses_at_one_instance_leave_the_name_throttled_at_another(site):
    a, b = site(), site()  # one database
    for _ in range(MAX_FAILURES):
        assert sign_in(a.url, "erin@example.org", "guess guess").status_code == 401
    assert sign_in(b.url, "erin@example.org").status_code == 429


def test_parallel_guesses_get_no_more_tries(db_url):
    db = Database(db_url)
    t = Throttle(db)
    with ThreadPoolExecutor(16) as pool:
        allowed = sum(pool.map(lambda _: t.attempt("ann", "10.0.0.1"), range(24)))
    # never more than the limit; on PostgreSQL a burst may get fewer (each attempt counts the
    # others it sees, refused ones included, before those are removed), never a later one more
    assert allowed <= MAX_FAILURES
    while t.attempt("ann", "10.0.0.1"):
        allowed += 1
    assert allowed == MAX_FAILURES
    db.dispose()


# -- 4. cross-origin reads ----------------------------------------------------------------------


def test_no_other_origin_may_read_a_signed_in_response(site):
    s = site()
    cookies = cookie_of(s.url, "ann@example.org")
    other_port = f"http://127.0.0.1:{s.port + 1}"
    for origin, host in ((other_port, None), ("http://localhost:9999", None), ("https://evil.example", "coach.example.org")):
        headers = {"Origin": origin} | ({"Host": host} if host else {})
        for path in ("/", "/config", "/gradio_api/info", "/auth/login", "/account/password"):
            r = httpx.get(s.url + path, cookies=cookies, headers=headers)
            assert r.status_code == 200, (path, r.status_code)
            assert "access-control-allow-origin" not in r.headers, (origin, path)
            assert "access-control-allow-credentials" not in r.headers, (origin, path)
        r = httpx.options(s.url + "/config", headers=headers | {"Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in r.headers
    # the app's own page still works without them: same-origin needs no CORS header
    assert "Signed in as ann@example.org" in httpx.post(
        f"{s.url}/gradio_api/run/whoami", json={"data": []}, cookies=cookies).text


# -- 5. WebSocket upgrades ----------------------------------------------------------------------


class Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_websocket_upgrades_are_refused_without_a_traceback(site):
    s = site()
    errors = Errors()
    logging.getLogger("uvicorn.error").addHandler(errors)
    try:
        cookie = cookie_of(s.url, "ann@example.org")["coach_session"]
        for headers in ({}, {"Cookie": f"coach_session={cookie}"}):
            for path in ("/gradio_api/queue/join", "/", "/auth/login"):
                with pytest.raises(InvalidStatus) as refused:
                    connect(f"ws://127.0.0.1:{s.port}{path}", additional_headers=headers, open_timeout=10)
                assert refused.value.response.status_code == 403, path
        time.sleep(0.2)
        assert [r.getMessage() for r in errors.records] == []
        assert signed_in(s.url, {"coach_session": cookie})  # the server carries on
    finally:
        logging.getLogger("uvicorn.error").removeHandler(errors)


# -- 6. text that cannot be encoded -------------------------------------------------------------


def broken_form(url: str, fields: dict[str, str], cookies: dict | None = None) -> httpx.Response:
    """A multipart form in charset unicode_escape, which Starlette decodes as asked: "\\ud800"
    arrives as a lone surrogate, a str with no UTF-8 form."""
    body = "".join(f'--b0undary\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items()) + "--b0undary--\r\n"
    return httpx.post(url, content=body.encode("ascii"), cookies=cookies,
                      headers={"Content-Type": "multipart/form-data; boundary=b0undary; charset=unicode_escape"})


def test_broken_text_in_a_form_gets_a_clear_answer_and_stores_nothing(site):
    s = site()
    for fields in ({"username": "ann@example.org\\ud800", "password": PW},
                   {"username": "ann@example.org", "password": PW + "\\udc00"}):
        r = broken_form(f"{s.url}/auth/login", fields)
        assert r.status_code == 400 and "cannot be read" in r.text and "coach_session" not in r.cookies
    r = broken_form(f"{s.url}/auth/login", {"username": "ann@example.org", "password": PW, "next": "/x\\ud800"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # a broken destination: home
    with s.db.session() as db:
        assert s.db.engine.dialect.name == "sqlite"
        assert db.scalar(select(func.count()).select_from(SignInAttempt)) == 0  # nothing broken stored

    gil = s.accounts.create_user("gil@example.org", "participant")
    token = s.accounts.invite(gil.id)
    bad = "a long enough password \\ud800"
    r = broken_form(f"{s.url}/auth/invite/{token}", {"password": bad, "password2": bad})
    assert r.status_code == 400 and "cannot be read" in r.text
    assert s.accounts.invitation_user(token).id == gil.id  # the link still works
    assert s.accounts.find("gil@example.org").password_hash is None

    cookies = cookie_of(s.url, "ann@example.org")
    r = broken_form(f"{s.url}/account/password", {"current": PW + "\\ud800", "password": "a fresh passphrase",
                                                  "password2": "a fresh passphrase"}, cookies)
    assert r.status_code == 400 and "cannot be read" in r.text

    # the account layer refuses such text too, whoever calls it
    with pytest.raises(AccountError, match="cannot be stored"):
        s.accounts.create_user("hal@example.org", "facilitator", programme="Pilot\ud800")
    with pytest.raises(AccountError, match="cannot be stored"):
        s.accounts.accept(token, "a long enough password \ud800")
    assert s.accounts.find("hal@example.org") is None and s.accounts.sign_in("ann@example.org\ud800", PW) is None


# -- 7. an admin cannot make themselves a reader ------------------------------------------------


@pytest.fixture
def acc(make_settings):
    db = Database(make_settings().sqlalchemy_url)
    accounts = Accounts(db, cache_seconds=0)
    for name, role, programme in PEOPLE + [("oscar@example.org", "facilitator", "Other")]:
        accounts.create_user(name, role, password=PW, programme=programme)
    yield accounts
    db.dispose()


def test_an_admin_cannot_send_a_password_link_for_an_account_with_a_password(acc):
    admin = acc.actor("root")
    fay, ann = acc.find("fay@example.org"), acc.find("ann@example.org")
    session = acc.sign_in("fay@example.org", PW)
    for u in (fay, ann):
        with pytest.raises(AccountError, match="python -m coach user reset"):
            acc.reinvite(admin, u.id)
        with pytest.raises(AccountError, match="python -m coach user reset"):
            acc.invite(u.id, admin)  # the low-level call refuses a signed-in person too
    assert acc.session_actor(session) is not None and acc.sign_in("fay@example.org", PW)
    new = acc.create_user("new@example.org", "participant")
    assert acc.reinvite(admin, new.id)[0] == "new@example.org"  # a lost first link: fine

    # the operator's reset ends every sign-in and the old password at once
    with pytest.raises(AccessDenied):
        acc.reset(admin, fay.id)
    username, token = acc.reset(OPERATOR, fay.id)
    assert username == "fay@example.org" and acc.session_actor(session) is None
    assert acc.sign_in("fay@example.org", PW) is None
    with pytest.raises(AccountError, match="python -m coach user reset"):
        acc.reinvite(admin, fay.id)  # reset, yet still no admin's link
    acc.accept(token, "a brand new passphrase")
    assert acc.sign_in("fay@example.org", "a brand new passphrase")


def test_the_operator_resets_a_password_from_the_command_line(acc, make_settings):
    data = str(make_settings().data_dir)
    session = acc.sign_in("fay@example.org", PW)
    r = run_cli("user", "invite", "fay@example.org", "--data-dir", data)
    assert r.returncode == 2 and "user reset fay@example.org" in r.stderr
    assert acc.session_actor(session) is not None
    r = run_cli("user", "reset", "fay@example.org", "--data-dir", data)
    assert r.returncode == 0 and "/auth/invite/" in r.stdout, r.stderr
    assert acc.session_actor(session) is None and acc.sign_in("fay@example.org", PW) is None


def test_an_admins_facilitator_for_an_existing_programme_reads_nothing_until_approved(acc):
    admin, fay, oscar = acc.actor("root"), acc.actor("fay@example.org"), acc.actor("oscar@example.org")
    # (a) a second facilitator for Fay's programme, created by the admin, who holds its link
    gus = acc.create_user("gus@example.org", "facilitator", programme="Pilot", created_by=admin)
    token = acc.invite(gus.id, admin)
    assert acc.find("gus@example.org").review_pending
    with pytest.raises(AccountError, match="not chosen a password"):
        acc.approve_facilitator(fay, gus.id)  # the link might still be in the admin's hands
    acc.accept(token, "gus's own passphrase")
    session = acc.sign_in("gus@example.org", "gus's own passphrase")
    for actor in (acc.session_actor(session), acc.actor("gus@example.org")):
        assert actor.role == PENDING and actor.programme is None  # what every page and check sees
        with pytest.raises(AccessDenied):
            check_reviewer(actor, "Pilot")
        with pytest.raises(AccessDenied):
            actor.require("facilitator")  # every facilitator page and call
        with pytest.raises(AccessDenied):
            acc.awaiting_approval(actor)
        assert acc.programmes_of(actor) == set()
    for who in (admin, oscar, acc.actor("gus@example.org")):  # not the admin, another programme, himself
        with pytest.raises(AccessDenied):
            acc.approve_facilitator(who, gus.id)
    assert [u.username for u in acc.awaiting_approval(fay)] == ["gus@example.org"]
    assert acc.awaiting_approval(oscar) == []
    acc.approve_facilitator(fay, gus.id)
    check_reviewer(acc.session_actor(session), "Pilot")  # now he reviews, signed in as he was
    assert acc.awaiting_approval(fay) == []

    # a new programme's first facilitator has nothing to read yet: no approval needed
    hal = acc.create_user("hal@example.org", "facilitator", programme="New", created_by=admin)
    assert not acc.find("hal@example.org").review_pending and hal.programme == "New"
    # closing the programme's facilitators does not open the door: the operator approves then
    for u in ("fay@example.org", "gus@example.org"):
        acc.set_active(admin, acc.find(u).id, False)
    ivy = acc.create_user("ivy@example.org", "facilitator", programme="Pilot", created_by=admin)
    assert acc.find("ivy@example.org").review_pending
    acc.accept(acc.invite(ivy.id, admin), "ivy's own passphrase")
    acc.approve_facilitator(OPERATOR, ivy.id)
    check_reviewer(acc.actor("ivy@example.org"), "Pilot")

    # (b) a new link for an existing programme's facilitator who never chose a password: the
    # admin could use it themselves, so the account waits for approval again
    jo = acc.create_user("jo@example.org", "facilitator", programme="Pilot")  # the operator's, unused link
    assert not acc.find("jo@example.org").review_pending
    acc.reinvite(admin, jo.id)
    assert acc.find("jo@example.org").review_pending and acc.actor("jo@example.org").role == PENDING
    with acc.db.session() as s:  # what the People table shows
        assert s.scalar(select(User.review_pending).where(User.username == "jo@example.org"))
