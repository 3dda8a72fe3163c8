"""Several coach instances behind nginx on loopback, as README's "Several instances" deploys them:
one PostgreSQL database, one Chroma server, N app processes, nginx in front (deploy/nginx-coach.conf).
Used by evals/load/run.py --instances and tests/test_instances.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx-coach.conf"


def free_port() -> int:
    from coach.local_server import free_port as fp

    return fp()


def wait_for(url: str, proc: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/auth/login", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{url} did not answer: {log.read_text(errors='replace')[-2000:]}")


def start_instance(folder: Path, database_url: str, chroma_url: str, **env) -> tuple[subprocess.Popen, str]:
    """One app process on a free loopback port, its own data dir (downloads, logs), the shared stores."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"app-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")], cwd=folder,
            env={**os.environ, "COACH_DATA_DIR": str(folder / "data"), "COACH_DATABASE_URL": database_url,
                 "COACH_CHROMA_URL": chroma_url, "COACH_TRUSTED_PROXIES": "127.0.0.1", "COACH_BACKEND": "none",
                 "COACH_LOCAL_AUTOSTART": "false", "GRADIO_SERVER_NAME": "127.0.0.1",
                 "GRADIO_SERVER_PORT": str(port), **env},
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_for(url, proc, log)
    return proc, url


def nginx_config(folder: Path, listen: int, upstreams: list[str]) -> Path:
    """A whole nginx.conf for a private nginx in ``folder`` around deploy/nginx-coach.conf."""
    servers = "\n".join(f"    server {u.removeprefix('http://')};" for u in upstreams)
    site = TEMPLATE.read_text().replace("{{listen}}", f"127.0.0.1:{listen}").replace("{{servers}}", servers)
    conf = folder / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 1024; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
""")
    return conf


@contextmanager
def behind_nginx(folder: Path, database_url: str, chroma_url: str, n: int = 2):
    """(proxy URL, [instance URLs]) while n instances run behind nginx; everything stopped after."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    procs: list[subprocess.Popen] = []
    try:
        urls = []
        for i in range(n):
            proc, url = start_instance(folder / f"instance-{i}", database_url, chroma_url)
            procs.append(proc)
            urls.append(url)
        port = free_port()
        conf = nginx_config(folder, port, urls)
        proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(folder), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        procs.append(proc)
        proxy = f"http://127.0.0.1:{port}"
        wait_for(proxy, proc, folder / "error.log")
        yield proxy, urls
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
