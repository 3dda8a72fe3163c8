"""What ordering candidates without the programme's mean topic adds per query: suggest() with and
without it, query by query, interleaved in one process on one store (a loaded machine moves
both alike), CPU time and wall time.

    python evals/suggest/bench.py --sizes 10000 --store DIR     # make the store once
    python evals/suggest/centre_cost.py --store DIR

The mean itself is read once an hour per programme (coach.suggest.topic_centre), here before
the timed queries, as the bench's untimed first query does.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import bench  # noqa: E402

import coach.suggest as S  # noqa: E402
from coach.config import load_settings  # noqa: E402
from coach.services import Services  # noqa: E402
from coach.store.models import DEFAULT_PROGRAMME  # noqa: E402


def timed(svc, query, scope) -> tuple[float, float]:
    t0, w0 = time.process_time(), time.perf_counter()
    S.suggest(svc.corpus, *query, k=5, programmes=scope)
    return (time.process_time() - t0) * 1000, (time.perf_counter() - w0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--queries", type=int, default=50)
    a = ap.parse_args()
    svc = Services(load_settings(data_dir=a.store, backend="none"))
    rng = random.Random(7)
    queries = [(f"{rng.choice(bench.ROLES)} at a {rng.choice(['retailer', 'bank', 'hospital', 'factory'])}",
                f"Junior who knows {rng.choice(bench.TOOLS)} and {rng.choice(bench.TOOLS)}") for _ in range(a.queries)]
    centre = S.topic_centre
    for scope in (None, {DEFAULT_PROGRAMME}):
        S.suggest(svc.corpus, *queries[0], programmes=scope)  # the mean read once, untimed
        got: dict[str, list[tuple[float, float]]] = {"centred": [], "plain": []}
        for q in queries * 2:
            for mode in got:
                S.topic_centre = centre if mode == "centred" else (lambda db, programmes: None)
                got[mode].append(timed(svc, q, scope))
        S.topic_centre = centre
        med = {m: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for m, v in got.items()}
        diff = statistics.median(c1 - c0 for (c1, _), (c0, _) in zip(got["centred"], got["plain"]))
        print(f"{'every programme' if scope is None else 'the 89% programme'}: CPU p50 {med['centred'][0]:.1f} ms "
              f"centred, {med['plain'][0]:.1f} plain (difference p50 {diff:.2f} ms); wall p50 {med['centred'][1]:.1f} "
              f"against {med['plain'][1]:.1f} ms")
    svc.close()


if __name__ == "__main__":
    main()
