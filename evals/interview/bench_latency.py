"""Turn latency: participant message -> first visible coach token, offline and local-model mode.

    python evals/interview/bench_latency.py [--turns 40]

Goes through the same path as the app (Debriefs.say: store the turn, run the interview, phrase
with the model if on, store the reply), on a fresh SQLite store. Local-model mode turns on the
bundled model for the interview step (off by default: see evals/README.md) after warming it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach.config import load_settings  # noqa: E402
from coach.policy import OPERATOR  # noqa: E402
from coach.services import Services  # noqa: E402

ANSWERS = [
    "Good.",
    "I learned that TikTok is a search engine for young shoppers; she showed me her café search.",
    "I changed my mind about how people find us.",
    "I thought our website was how they found us, but now I see it is TikTok.",
    "Videos.",
    "I'll ask each store manager to post one short video a week, starting next month.",
    "They worked well because she used our own stores; I'd add a fifth session on ads.",
]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def bench(mode: str, turns: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        extra = {"backend": "none"} if mode == "offline" else {"backend": "local", "interview_model": "on"}
        svc = Services(load_settings(data_dir=Path(d), **extra))
        if mode != "offline":
            svc.gateway.local_server.ensure_running()
        deb = svc.debriefs
        out = []
        while len(out) < turns:
            p = deb.create_pair(senior="Retail director", junior="Social media associate", topic="TikTok discovery")
            did = deb.open(p.id, "senior")
            for a in ANSWERS:
                t0 = time.perf_counter()
                gen = deb.say(OPERATOR, did, a)
                next(gen)
                out.append((time.perf_counter() - t0) * 1000)
                for _ in gen:
                    pass
                if deb.view(OPERATOR, did).done or len(out) >= turns:
                    break
        svc.close()
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=40)
    a = ap.parse_args()
    for mode in ("offline", "local-model"):
        xs = bench(mode, a.turns)
        print(f"{mode:12} first visible text: p50 {statistics.median(xs):7.1f} ms   p95 {pct(xs, 0.95):7.1f} ms   ({len(xs)} turns)")


if __name__ == "__main__":
    main()
