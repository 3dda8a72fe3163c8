"""Load test: N concurrent participants through full interviews via gradio_client (loopback only).

    python evals/load/run.py --n 10,50,100
    python evals/load/run.py --n 100 --instances 2 --database-url postgresql+psycopg://u:p@127.0.0.1/db

With --instances, the participants go through nginx to that many app processes on the given
PostgreSQL database (emptied first) and a Chroma server started here (evals/load/instances.py,
deploy/nginx-coach.conf); the database's contents are checked afterwards the same way.

Starts the app (offline backend) on 127.0.0.1 with a fresh data dir, creates N pairs and N
participant accounts, and has N clients sign in and answer every question of their senior debrief
at the same time, through the app's own Gradio API. Bounded: each client sends at most 12 messages, the whole run stops after
--max-seconds. Reports errors, turn latency p50/p95 and whether every transcript in the store is
complete (every message sent is stored, each followed by a coach reply).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach.config import load_settings  # noqa: E402
from coach.local_server import free_port  # noqa: E402
from coach.services import Services  # noqa: E402
from coach.store.models import Debrief  # noqa: E402

ANSWERS = [  # "Yes." agrees when the coach checks back what it will record
    "I learned that TikTok is a search engine for young shoppers; she showed me her café search.", "Yes.",
    "I thought our website was how they found us, but now I see it is TikTok.", "Yes.",
    "I'll ask each store manager to post one short video a week, starting next month.", "Yes.",
    "They worked well because she used our own stores; I'd add a fifth session on ads.",
]
MAX_MESSAGES = 12
PASSWORD = "load test password"


def start_app(data: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "COACH_DATA_DIR": str(data), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "COACH_BACKEND": "none"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=data.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/auth/login", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("app did not start")


def sign_in(url: str, code: str, cookies: dict, sign_in_ms: list, errors: list) -> None:
    t0 = time.perf_counter()
    try:
        r = httpx.post(f"{url}/auth/login", data={"username": f"p{code}@example.org", "password": PASSWORD},
                       timeout=120)
        cookies[code] = r.cookies["coach_session"]
        sign_in_ms.append((time.perf_counter() - t0) * 1000)
    except Exception as e:
        errors.append(f"{code}: sign-in: {e!r}")


def participant(url: str, code: str, cookie: str, deadline: float, latencies: list, errors: list, sent: dict,
                is_done) -> None:
    from gradio_client import Client

    stage = "connect"
    try:
        # a browser waits for the page as long as it takes; gradio_client's own timeout is a few seconds
        c = Client(url + "/", verbose=False, headers={"Cookie": f"coach_session={cookie}"},
                   httpx_kwargs={"timeout": 120})
        stage = "open"
        c.predict(api_name="/on_load")  # signed in: the participant's one debrief opens
        stage = "send"
        n = 0
        for n in range(MAX_MESSAGES):
            if time.monotonic() > deadline:
                errors.append(f"{code}: run time exceeded")
                return
            text = ANSWERS[n % len(ANSWERS)]
            t0 = time.perf_counter()
            c.predict(code, text, api_name="/send")
            latencies.append((time.perf_counter() - t0) * 1000)
            sent[code] = sent.get(code, 0) + 1
            if is_done(code):
                return
    except Exception as e:  # counted, not raised: the run reports every error
        errors.append(f"{code}: {stage}: {e!r}")


def run_threads(targets) -> float:
    threads = [threading.Thread(target=fn, args=args) for fn, args in targets]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="10,50,100")
    ap.add_argument("--max-seconds", type=float, default=600)
    ap.add_argument("--instances", type=int, default=1, help="app processes behind nginx (needs --database-url)")
    ap.add_argument("--database-url", help="PostgreSQL URL for --instances (EMPTIED first)")
    a = ap.parse_args()
    if a.instances > 1 and not a.database_url:
        raise SystemExit("--instances needs --database-url (a PostgreSQL database this run may empty)")
    for n in [int(x) for x in a.n.split(",")]:
        with tempfile.TemporaryDirectory() as d, stores(Path(d), a) as (db_url, chroma_url):
            data = Path(d) / "data"
            svc = Services(load_settings(data_dir=data, backend="none", database_url=db_url, chroma_url=chroma_url))
            deb, acc = svc.debriefs, svc.accounts
            codes = []
            for i in range(n):
                pair = deb.create_pair(senior="Retail director", junior="Social media associate",
                                       topic=f"TikTok discovery {i}")
                did = deb.open(pair.id, "senior")
                user = acc.create_user(f"p{did}@example.org", "participant", password=PASSWORD)
                codes.append(deb.open(pair.id, "senior", participant_id=user.id))
            with serving(Path(d), data, a, db_url, chroma_url) as url:
                lat, errors, sent = [], [], {}
                deadline = time.monotonic() + a.max_seconds

                def is_done(code, _svc=svc):
                    with _svc.db.session() as s:
                        return s.get(Debrief, code).status == "done"

                # Everyone signs in at once first (argon2 is deliberately slow: a sign-in storm is
                # its own figure), then everyone runs the interview at once.
                cookies, sign_in_ms = {}, []
                run_threads([(sign_in, (url, c, cookies, sign_in_ms, errors)) for c in codes])
                wall = run_threads([(participant, (url, c, cookies[c], deadline, lat, errors, sent, is_done))
                                    for c in codes if c in cookies])
            report(n, svc, codes, sent, lat, sign_in_ms, errors, wall, a.instances)


def report(n, svc, codes, sent, lat, sign_in_ms, errors, wall, instances) -> None:
    """Check every transcript in the store and print the figures."""
    complete = 0
    with svc.db.session() as s:
        for c in codes:
            d = s.get(Debrief, c)
            said = [t for t in d.turns if t.speaker == "participant"]
            replies_ok = all(d.turns[i + 1].speaker == "coach" for i, t in enumerate(d.turns[:-1])
                             if t.speaker == "participant")
            complete += (len(said) == sent.get(c, 0) and replies_ok and d.turns[-1].speaker == "coach"
                         and d.status == "done")
    svc.close()
    p95 = sorted(lat)[int(0.95 * (len(lat) - 1))] if lat else float("nan")
    si95 = sorted(sign_in_ms)[int(0.95 * (len(sign_in_ms) - 1))] if sign_in_ms else float("nan")
    where = f" on {instances} instances behind nginx" if instances > 1 else ""
    print(f"N={n:3d}{where}: sign-in p50 {statistics.median(sign_in_ms) if sign_in_ms else float('nan'):.0f} ms "
          f"p95 {si95:.0f} ms; errors {len(errors)}, turns {len(lat)}, turn latency p50 "
          f"{statistics.median(lat) if lat else float('nan'):.0f} ms p95 {p95:.0f} ms, "
          f"complete transcripts {complete}/{n}, wall {wall:.0f} s")
    for e in errors[:5]:
        print("   ", e[:200])


@contextmanager
def stores(folder: Path, a):
    """(database URL, Chroma URL): the defaults (None, None), or an emptied PostgreSQL database and
    a Chroma server of this run's own for --instances."""
    if a.instances <= 1:
        yield None, None
        return
    from sqlalchemy import create_engine, text

    eng = create_engine(a.database_url)
    with eng.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
    eng.dispose()
    port = free_port()
    chroma = subprocess.Popen(["chroma", "run", "--path", str(folder / "chroma"), "--host", "127.0.0.1", "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield a.database_url, url
    finally:
        chroma.terminate()
        chroma.wait(30)


@contextmanager
def serving(folder: Path, data: Path, a, db_url, chroma_url):
    """The URL participants use: the one app, or nginx in front of --instances apps."""
    if a.instances <= 1:
        proc, url = start_app(data)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(30)
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from instances import behind_nginx

    with behind_nginx(folder / "deploy", db_url, chroma_url, a.instances) as (proxy, _):
        yield proxy


if __name__ == "__main__":
    main()
