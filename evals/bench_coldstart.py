"""Cold-start times: the app (fresh data dir -> HTTP 200) and the local model server (-> health).

    python evals/bench_coldstart.py [--runs 3]

Prints median and max over the runs. Each app run uses a new, empty COACH_DATA_DIR.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.config import bundled_gguf_path  # noqa: E402
from coach.local_server import LocalModelServer, free_port  # noqa: E402


def app_once() -> float:
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        env = {**os.environ, "COACH_DATA_DIR": str(Path(d) / "data"), "GRADIO_SERVER_PORT": str(port)}
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=d,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/auth/login", timeout=1).status_code == 200:
                        return time.perf_counter() - t0
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    raise SystemExit("app exited during start")
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(30)


def server_once() -> float:
    with tempfile.TemporaryDirectory() as d:
        srv = LocalModelServer(bundled_gguf_path(), log_dir=Path(d))
        t0 = time.perf_counter()
        srv.ensure_running()
        dt = time.perf_counter() - t0
        srv.stop()
        return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    for name, fn in (("app (python app.py -> sign-in page HTTP 200)", app_once), ("local model server (spawn -> /v1/models 200)", server_once)):
        times = [fn() for _ in range(a.runs)]
        print(f"{name}: median {statistics.median(times):.2f} s, max {max(times):.2f} s over {a.runs} runs")


if __name__ == "__main__":
    main()
