"""The web server: sign-in pages and a gate in front of everything, with the Gradio app inside.

Every path except the sign-in pages (``/auth/...``) needs a valid session cookie: the Gradio
page, its config, its API and queue, uploaded and generated files. Anonymous requests get 401
(a browser asking for a page is sent to the sign-in form instead). Gradio itself is mounted
with an ``auth_dependency`` too, so its handlers see ``request.username``. No other site may
read a response (no CORS header leaves the server), and WebSocket upgrades are refused: the app
uses none.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import quote, urlsplit

import gradio as gr
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import delete, func, select, update
from starlette.concurrency import run_in_threadpool

from coach.accounts import AccountError, Accounts, Actor, readable
from coach.store.db import Database
from coach.store.models import SignInAttempt, utcnow

log = logging.getLogger("coach")

COOKIE = "coach_session"
PUBLIC_PREFIX = "/auth/"
MAX_FAILURES, FAILURE_WINDOW = 5, 15 * 60  # per sign-in name and address: then wait out the window
MAX_FAILURES_PER_NAME = 50  # per sign-in name from all addresses together (distributed guessing)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>coach: {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f5f5f7; margin: 0; }}
main {{ max-width: 380px; margin: 12vh auto; background: #fff; padding: 2em; border-radius: 10px;
        box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.4em; margin-top: 0; }} label {{ display: block; margin: 1em 0 .3em; }}
input {{ width: 100%; box-sizing: border-box; padding: .6em; font-size: 1em; }}
button {{ margin-top: 1.4em; width: 100%; padding: .7em; font-size: 1em; background: #4f46e5; color: #fff;
          border: 0; border-radius: 6px; cursor: pointer; }}
.error {{ color: #b91c1c; }} .note {{ color: #555; font-size: .9em; }}
</style></head><body><main><h1>{title}</h1>{body}</main></body></html>"""


# In the Gradio page: when a request is refused because the sign-in ended, say so (Gradio alone
# shows a generic error) and keep the page, so unsent text stays in its box.
EXPIRED_JS = """<script>
(() => {
  const show = () => {
    if (document.getElementById("coach-expired")) return;
    const d = document.createElement("div");
    d.id = "coach-expired";
    d.setAttribute("role", "alert");
    d.style.cssText = "position:fixed;left:50%;top:16px;transform:translateX(-50%);z-index:10000;" +
      "background:#fff7ed;border:1px solid #f59e0b;padding:12px 18px;border-radius:8px;max-width:90vw;font:15px system-ui";
    const next = encodeURIComponent(location.pathname + location.search);
    d.innerHTML = "Your sign-in has ended. Anything you typed but did not send is still in its box: " +
      "copy it if you like, then <a href='/auth/login?next=" + next + "'>sign in again</a>.";
    document.body.appendChild(d);
  };
  const fetch0 = window.fetch;
  window.fetch = async (...args) => {
    const r = await fetch0(...args);
    if (r.status === 401) show();
    return r;
  };
})();
</script>"""


# Gradio's chat log scrolls but cannot take keyboard focus, and its date picker's button has no
# name: make the one focusable and name both, for keyboard and screen-reader users.
A11Y_JS = """<script>
(() => {
  const mend = () => {
    document.querySelectorAll(".bubble-wrap:not([tabindex])").forEach(el => {
      el.setAttribute("tabindex", "0");
      el.setAttribute("aria-label", "The conversation so far");
    });
    document.querySelectorAll(".timebox button.calendar:not([aria-label])").forEach(el =>
      el.setAttribute("aria-label", "Choose a date"));
    // an empty plot's placeholder carries an aria-label without a role: give it one
    document.querySelectorAll(".empty[aria-label]:not([role])").forEach(el => el.setAttribute("role", "img"));
  };
  new MutationObserver(mend).observe(document.documentElement, {childList: true, subtree: true});
})();
</script>"""

# What screen readers hear when an event ends (Gradio announces "common.complete" untranslated).
STATUS_WORDS = gr.I18n(en={"common.complete": "Done", "common.error": "Something went wrong"})


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store"})


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would make a convincing phishing link. (And only
    text a Location header can carry.)"""
    target = target or "/"
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target and readable(target)
    return target if ok else "/"


BROKEN_TEXT = "What you typed contains a character that cannot be read (a broken one); please type it again."


class Throttle:
    """Sign-in attempts that did not succeed, per window, in SQL: a restart forgets none, and
    every app instance on the database shares them.

    At most MAX_FAILURES per (name, client address), so guessing from one place cannot lock the
    owner out from another, and MAX_FAILURES_PER_NAME per name from everywhere, which bounds
    distributed guessing. An attempt is counted before the password is checked, so a burst of
    parallel guesses gets no more tries than a sequence; a success clears the name's counts
    (but not another address's). Rows older than the window are pruned as attempts come in."""

    def __init__(self, db: Database):
        self.db = db

    def attempt(self, name: str, address: str = "") -> bool:
        """Count an attempt; False when the name (from this address, or at all) has used up its
        tries for this window."""
        name, address = name[:200], address[:100]  # longer names are no one's: they may share a count
        now = utcnow()
        since = now - timedelta(seconds=FAILURE_WINDOW)
        with self.db.session() as s:
            s.execute(delete(SignInAttempt).where(SignInAttempt.at < since))
            row = SignInAttempt(name=name, address=address, at=now, counts_for_name=True)
            s.add(row)
        # Counted after the attempt is committed, so each of several parallel attempts sees at
        # least those committed before it: the last of them sees them all, and at most the
        # allowed number get through (on every database, without locks).
        with self.db.session() as s:
            recent = select(func.count()).select_from(SignInAttempt).where(
                SignInAttempt.name == name, SignInAttempt.at >= since)
            here = s.scalar(recent.where(SignInAttempt.address == address)) or 0
            everywhere = s.scalar(recent.where(SignInAttempt.counts_for_name.is_(True))) or 0
            if here <= MAX_FAILURES and everywhere <= MAX_FAILURES_PER_NAME:
                return True
            # a refused attempt is not kept: hammering does not push the end of the wait back
            s.execute(delete(SignInAttempt).where(SignInAttempt.id == row.id))
            return False

    def clear(self, name: str, address: str = "") -> None:
        name, address = name[:200], address[:100]
        with self.db.session() as s:
            s.execute(delete(SignInAttempt).where(SignInAttempt.name == name, SignInAttempt.address == address))
            s.execute(update(SignInAttempt).where(SignInAttempt.name == name).values(counts_for_name=False))


def _same_site(request: Request) -> bool:
    """Refuse form posts from other sites (login CSRF): browsers send Origin with every POST."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # no header: not a browser form from another site
    return urlsplit(origin).netloc == request.headers.get("host", "")


class Gate:
    """ASGI middleware: resolves the session cookie to an :class:`Actor` or refuses the request."""

    def __init__(self, app, accounts: Accounts):
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            # The app uses none, and Starlette's Request cannot even read their scope (a 500
            # with a traceback in the log): refuse them before the handshake (uvicorn sends 403).
            await receive()  # websocket.connect
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http" or scope["path"].startswith(PUBLIC_PREFIX):
            return await self.app(scope, receive, send)
        request = Request(scope)
        # off the event loop: a database wait must never stall every other request
        actor = await run_in_threadpool(self.accounts.session_actor, request.cookies.get(COOKIE))
        if actor is None:
            wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
            if wants_page and not scope["path"].startswith("/gradio_api"):
                query = scope["query_string"].decode("utf-8", "replace")  # any bytes may arrive
                nxt = scope["path"] + (f"?{query}" if query else "")
                response: Response = RedirectResponse(f"/auth/login?next={quote(nxt)}", status_code=303)
            else:
                response = JSONResponse({"error": "Not signed in"}, status_code=401)
            return await response(scope, receive, send)
        scope.setdefault("state", {})["actor"] = actor
        return await self.app(scope, receive, send)


class SameOriginOnly:
    """ASGI middleware: no response says another origin may read it. Gradio answers any origin
    on localhost with its own Origin and ``Allow-Credentials`` (and, on other host names, any
    origin at all), so a page on another local port could read a signed-in user's pages. This
    app's own pages need no CORS header: they are same-origin."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_without_cors(message):
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message.get("headers", [])
                                      if not k.lower().startswith(b"access-control-")]
            await send(message)

        return await self.app(scope, receive, send_without_cors)


def _client(request: Request) -> str:
    """The client's address: the connection's, or what a trusted proxy says (uvicorn resolves
    X-Forwarded-For only from COACH_TRUSTED_PROXIES: see :func:`uvicorn_config`)."""
    return request.client.host if request.client else ""


def _actor_of(request: Request) -> str | None:
    actor = request.scope.get("state", {}).get("actor")
    return actor.username if isinstance(actor, Actor) else None


def build_server(blocks: gr.Blocks, accounts: Accounts, *, secure_cookie: bool = False, css: str = "",
                 theme=None, trusted_proxies: Sequence[str] | None = None, report=None) -> FastAPI:
    """The gate, the sign-in pages and the Gradio app. ``trusted_proxies``: addresses whose
    X-Forwarded-For is believed (default: COACH_TRUSTED_PROXIES); :func:`serve` runs uvicorn
    with them, so the throttle and the server agree on who the client is."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    if trusted_proxies is None:
        from coach.config import load_settings

        trusted_proxies = load_settings().trusted_proxy_list
    app.state.trusted_proxies = list(trusted_proxies)
    throttle = Throttle(accounts.db)

    def set_cookie(resp, token: str):
        resp.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=secure_cookie, path="/",
                        max_age=int(accounts.max_age.total_seconds()))

    def login_form(next_: str, error: str = "", name: str = "", status: int = 200) -> HTMLResponse:
        err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        return _page("Sign in", f"""{err}<form method="post" action="/auth/login">
<input type="hidden" name="next" value="{html.escape(next_)}">
<label for="username">Sign-in name</label><input id="username" name="username" autocomplete="username"
 value="{html.escape(name)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit">Sign in</button></form>
<p class="note">New here? Use the invitation link you were sent to choose a password.</p>""", status)

    @app.get("/auth/login")
    def login_page(next: str = "/"):
        return login_form(_safe_next(next))

    @app.post("/auth/login")
    def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
        name = (username or "").strip().lower()
        if not _same_site(request):
            return login_form("/", "Please sign in from this site's own page.", "", 403)
        if not (readable(name) and readable(password)):  # nothing to count or look up: no such account
            return login_form(_safe_next(next), BROKEN_TEXT, "", 400)
        address = _client(request)
        if not throttle.attempt(name, address):
            return login_form(_safe_next(next), "Too many failed attempts. Please wait 15 minutes.", name, 429)
        token = accounts.sign_in(name, password)
        if token is None:
            return login_form(_safe_next(next), "Wrong sign-in name or password.", name, 401)
        throttle.clear(name, address)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        set_cookie(resp, token)
        return resp

    # Signing out changes state, so it is a POST from this site: a link or an image on any
    # other site (a GET) must not sign anyone out. A GET, as the app's "Sign out" link sends,
    # shows the button.
    @app.get("/auth/logout")
    def logout_page():
        return _page("Sign out", """<form method="post" action="/auth/logout">
<p>Sign out of coach in this browser?</p><button type="submit">Sign out</button></form>
<p class="note"><a href="/">Back to coach</a></p>""")

    @app.post("/auth/logout")
    def logout(request: Request):
        if not _same_site(request):
            return _page("Sign out", '<p>Please sign out from this site\'s own page: <a href="/auth/logout">'
                         "sign out</a>.</p>", 403)
        accounts.sign_out(request.cookies.get(COOKIE))
        resp = RedirectResponse("/auth/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    def invite_form(token: str, username: str, error: str = "", status: int = 200) -> HTMLResponse:
        err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        return _page("Choose your password", f"""{err}
<p>Your sign-in name is <b>{html.escape(username)}</b>.</p>
<form method="post" action="/auth/invite/{html.escape(token)}">
<label for="password">New password (at least 10 characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
<label for="password2">The same password again</label>
<input id="password2" name="password2" type="password" autocomplete="new-password" required>
<button type="submit">Set password and sign in</button></form>
<p class="note">This link works once.</p>""", status)

    def used_link() -> HTMLResponse:
        return _page("Link not valid", "<p>This invitation link has been used or has expired. If you already "
                     'chose a password, <a href="/auth/login">sign in</a>; otherwise ask whoever sent it '
                     "(your facilitator or administrator) for a new link.</p>", 404)

    @app.get("/auth/invite/{token}")
    def invite_page(token: str):
        u = accounts.invitation_user(token) if readable(token) else None
        return invite_form(token, u.username) if u else used_link()

    @app.post("/auth/invite/{token}")
    def invite_accept(request: Request, token: str, password: str = Form(""), password2: str = Form("")):
        if not _same_site(request):
            return _page("Link not valid", "<p>Please open the invitation link itself.</p>", 403)
        u = accounts.invitation_user(token) if readable(token) else None
        if u is None:
            return used_link()
        if not (readable(password) and readable(password2)):
            return invite_form(token, u.username, BROKEN_TEXT, 400)
        if password != password2:
            return invite_form(token, u.username, "The two passwords differ.", 400)
        try:
            accounts.accept(token, password)
        except AccountError as e:
            return invite_form(token, u.username, str(e), 400)
        resp = RedirectResponse("/", status_code=303)
        session = accounts.sign_in(u.username, password)
        if session:  # just chosen, so it signs in; if not (closed meanwhile), the sign-in page asks again
            set_cookie(resp, session)
        return resp

    def password_form(error: str = "", status: int = 200) -> HTMLResponse:
        err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        return _page("Change your password", f"""{err}<form method="post" action="/account/password">
<label for="current">Current password</label>
<input id="current" name="current" type="password" autocomplete="current-password" required>
<label for="password">New password (at least 10 characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
<label for="password2">The same password again</label>
<input id="password2" name="password2" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button></form>
<p class="note">Any other browser signed in to your account is signed out. <a href="/">Back</a></p>""", status)

    # behind the gate (not under /auth/): only a signed-in user reaches these
    @app.get("/account/password")
    def password_page():
        return password_form()

    @app.post("/account/password")
    def password_change(request: Request, current: str = Form(""), password: str = Form(""),
                        password2: str = Form("")):
        actor = request.scope.get("state", {}).get("actor")
        if not isinstance(actor, Actor) or not _same_site(request):
            return password_form("Please use this site's own page.", 403)
        if not all(readable(t) for t in (current, password, password2)):
            return password_form(BROKEN_TEXT, 400)
        address = _client(request)
        if not throttle.attempt(actor.username, address):  # the current password is a guess too
            return password_form("Too many failed attempts. Please wait 15 minutes.", 429)
        if password != password2:
            return password_form("The two new passwords differ.", 400)
        try:
            token = accounts.change_password(actor.id, current, password)
        except AccountError as e:
            return password_form(str(e), 400)
        throttle.clear(actor.username, address)
        resp = _page("Password changed", '<p>Your password has been changed. <a href="/">Back to coach</a></p>')
        if token:
            set_cookie(resp, token)
        return resp

    @app.middleware("http")
    async def headers(request: Request, call_next):
        resp = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        # invitation tokens never reach other sites in Referer; same-site posts keep their Origin
        # header (with no-referrer, browsers send "Origin: null", which the CSRF check refuses)
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp

    if report is not None:
        add_report_routes(app, report)
    gr.mount_gradio_app(app, blocks, path="/", auth_dependency=_actor_of, footer_links=[], css=css, theme=theme,
                        head=EXPIRED_JS + A11Y_JS, i18n=STATUS_WORDS)
    app.add_middleware(Gate, accounts=accounts)
    app.add_middleware(SameOriginOnly)  # outermost: covers the gate's own answers too
    return app


def add_report_routes(app: FastAPI, report) -> None:
    """The impact report (coach.report) as a printable page and a PDF, for a facilitator (their
    programme) or an admin (the installation, aggregates only); the gate has signed them in."""
    from coach.report import report_html, report_pdf

    def reader(request: Request) -> Actor | None:
        actor = request.scope.get("state", {}).get("actor")
        return actor if isinstance(actor, Actor) and actor.role in ("facilitator", "admin") else None

    @app.get("/report")
    def report_page(request: Request):
        actor = reader(request)
        if actor is None:
            return _page("Not available", "<p>The report is for facilitators and administrators.</p>", 403)
        return HTMLResponse(report_html(report.build(actor), printable_link=True))

    @app.get("/report.pdf")
    def report_file(request: Request):
        actor = reader(request)
        if actor is None:
            return _page("Not available", "<p>The report is for facilitators and administrators.</p>", 403)
        return Response(report_pdf(report.build(actor)), media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="impact-report.pdf"'})


def first_admin_link(accounts: Accounts, base_url: str) -> str | None:
    """On an installation without an admin, an invitation for the account ``admin``."""
    if accounts.has_admin():
        return None
    u = accounts.find("admin") or accounts.create_user("admin", "admin", display_name="Administrator")
    return f"{base_url}/auth/invite/{accounts.invite(u.id)}"


def uvicorn_config(app: FastAPI, host: str, port: int):
    """How the app is served. Forwarding headers are believed only from the proxies given to
    :func:`build_server`: uvicorn's own default trusts 127.0.0.1 (or FORWARDED_ALLOW_IPS), which
    lets any local client, or anyone through a local proxy that passes the header on, claim a
    fresh address for every guess at a password."""
    import uvicorn

    proxies = list(getattr(app.state, "trusted_proxies", []))
    return uvicorn.Config(app, host=host, port=port, log_level=os.environ.get("COACH_LOG_LEVEL", "warning").lower(),
                          timeout_graceful_shutdown=5, proxy_headers=bool(proxies), forwarded_allow_ips=proxies)


def serve(app: FastAPI, host: str, port: int) -> None:
    import uvicorn

    uvicorn.Server(uvicorn_config(app, host, port)).run()
