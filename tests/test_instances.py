"""Several app instances behind nginx (deploy/nginx-coach.conf) on one PostgreSQL database and one
Chroma server, as README's "Several instances" deploys them: participants through the proxy lose
nothing, a sign-in throttled at one instance is throttled at the other, and a sign-out at one
ends the session at the other at once."""

from __future__ import annotations

import importlib.util
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from coach.config import load_settings
from coach.policy import OPERATOR
from coach.services import Services
from coach.store.models import Debrief
from tests.conftest import ROOT, _require

pytestmark = pytest.mark.slow
PASSWORD = "several instances 42"


def instances_module():
    spec = importlib.util.spec_from_file_location("instances", ROOT / "evals" / "load" / "instances.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def deployment(tmp_path, fresh_postgres, chroma_server):
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        _require("nginx", "Debian's nginx (scripts/test installs it)")
    svc = Services(load_settings(data_dir=tmp_path / "setup", database_url=fresh_postgres, chroma_url=chroma_server,
                                 backend="none"))
    codes = []
    for i in range(10):
        pair = svc.debriefs.create_pair(senior="Retail director", junior="Social media associate",
                                        topic=f"TikTok discovery {i}", programme="instances")
        user = svc.accounts.create_user(f"p{i}@example.org", "participant", password=PASSWORD)
        codes.append(svc.debriefs.open(pair.id, "senior", participant_id=user.id))
    with instances_module().behind_nginx(tmp_path / "deploy", fresh_postgres, chroma_server) as (proxy, urls):
        yield svc, codes, proxy, urls
    svc.close()


def interview(proxy: str, i: int, code: str, errors: list) -> None:
    from gradio_client import Client

    answers = ["I learned that TikTok is a search engine for young shoppers; she showed me her café search.",
               "Yes.", "I thought our website was how they found us, but now I see it is TikTok.", "Yes.",
               "I'll ask each store manager to post one short video a week, starting next month.", "Yes.",
               "They worked well because she used our own stores; I'd add a fifth session on ads."]
    try:
        r = httpx.post(f"{proxy}/auth/login", data={"username": f"p{i}@example.org", "password": PASSWORD},
                       timeout=120)
        c = Client(proxy + "/", verbose=False, headers={"Cookie": f"coach_session={r.cookies['coach_session']}"})
        c.predict(api_name="/on_load")
        for a in answers:
            c.predict(code, a, api_name="/send")
    except Exception as e:  # noqa: BLE001 (every error is reported by the assertion below)
        errors.append(f"{i}: {e!r}")


def test_participants_through_the_proxy_lose_nothing_and_sign_in_state_is_shared(deployment):
    svc, codes, proxy, (a, b) = deployment
    errors: list[str] = []
    threads = [threading.Thread(target=interview, args=(proxy, i, c, errors)) for i, c in enumerate(codes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with svc.db.session() as s:
        for code in codes:
            turns = s.get(Debrief, code).turns
            said = [t for t in turns if t.speaker == "participant"]
            assert len(said) == 7 and all(turns[k + 1].speaker == "coach" for k, t in enumerate(turns[:-1])
                                          if t.speaker == "participant")  # every message stored and answered
    assert svc.debriefs.view(OPERATOR, codes[0]).done

    # a sign-in throttled at one instance is throttled at the other (the attempts are in SQL)
    for _ in range(5):
        assert httpx.post(f"{a}/auth/login", data={"username": "p0@example.org", "password": "wrong guess!"}).status_code == 401
    r = httpx.post(f"{b}/auth/login", data={"username": "p0@example.org", "password": PASSWORD})
    assert r.status_code == 429 and "coach_session" not in r.cookies

    # a sign-out at one instance ends the session at the other at once
    cookie = httpx.post(f"{a}/auth/login", data={"username": "p1@example.org", "password": PASSWORD}).cookies["coach_session"]
    assert httpx.get(f"{b}/config", cookies={"coach_session": cookie}).status_code == 200
    r = httpx.post(f"{a}/auth/logout", cookies={"coach_session": cookie}, headers={"Origin": a})
    assert r.status_code == 303
    assert httpx.get(f"{b}/config", cookies={"coach_session": cookie}).status_code == 401
