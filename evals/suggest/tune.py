"""How the thresholds of coach/suggest.py were measured: STRONG, CROSS_CHECK and NEAR_BEST over a
grid, then SHOW alone, on the development queries only (the held-out split is never read here).

    python evals/suggest/tune.py            # the grid's best settings by hit@3 + P@3, and the Pareto front
    python evals/suggest/tune.py --show     # SHOW alone

Each query's candidate pairs are scored once (coach.suggest.past_pairs); each setting then only
re-draws the line between "fits well", "weaker" and "not shown", so the grid is cheap. The
store and the scoring are those of evals/suggest/run_retrieval.py.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from run_retrieval import load_queries, score  # noqa: E402

import coach.suggest as S  # noqa: E402
from coach.config import load_settings  # noqa: E402
from coach.debrief_file import read_debriefs  # noqa: E402
from coach.ingest import ingest  # noqa: E402
from coach.services import Services  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--show", action="store_true", help="vary SHOW alone, the others as in coach/suggest.py")
    a = ap.parse_args()
    gold = HERE.parents[1] / "evals" / "extraction"
    every = read_debriefs(gold / "gold_dev.jsonl") + read_debriefs(gold / "gold_test.jsonl")
    queries = load_queries("dev")
    with tempfile.TemporaryDirectory() as d:
        svc = Services(load_settings(data_dir=Path(d), backend="none"))
        ingest(svc.db, every, after_chunk=svc.indexer.drain)
        pairs = {q["qid"]: S.past_pairs(svc.corpus, q["senior"], q["junior"]) for q in queries}
        real = S.past_pairs
        S.past_pairs = lambda corpus, senior, junior, *args, **kw: next(  # type: ignore[assignment]
            pairs[q["qid"]] for q in queries if q["senior"] == senior and q["junior"] == junior)
        results = []
        every_score = [p.score for q in queries for p in pairs[q["qid"]]]
        print(f"candidates' scores over the dev queries: mean {statistics.mean(every_score):.3f}, "
              f"sd within a query {statistics.mean(statistics.pstdev([p.score for p in pairs[q['qid']]]) for q in queries):.3f}")
        if a.show:  # the floor of what is shown at all, the others as shipped
            grid = [(S.SHOW, S.STRONG, S.CROSS_CHECK, S.NEAR_BEST)]
            grid = [(x / 100, S.STRONG, S.CROSS_CHECK, S.NEAR_BEST) for x in range(16, 30, 2)]
        else:
            grid = list(itertools.product([S.SHOW], [x / 100 for x in range(20, 34, 2)],
                                          [x / 100 for x in range(4, 24, 4)], [0.005, 0.01, 0.02, 0.03, 0.05, 1.0]))
        for show, strong, cross, near in grid:
            S.SHOW, S.STRONG, S.CROSS_CHECK, S.NEAR_BEST = show, strong, cross, near
            rows = [dict(score(q, S.suggest(svc.corpus, q["senior"], q["junior"], k=5)), part=q["part"])
                    for q in queries]

            def m(key, part=None, rows=rows):
                xs = [r[key] for r in rows if r[key] is not None and (part is None or r["part"] == part)]
                return statistics.mean(xs)
            results.append((show, strong, cross, near, m("hit3"), m("p3"), m("ndcg5"), m("strong"),
                            m("hit3", "new"), m("p3", "new"), m("hit3", "old"), m("p3", "old")))
        S.past_pairs = real
        svc.close()
    print("SHOW STRONG CROSS_CHECK NEAR_BEST | hit@3 P@3 nDCG@5 fitting-well/query | new: hit@3 P@3 | "
          "old: hit@3 P@3   (40 dev queries)")

    def line(r) -> str:
        return (f"{r[0]:.2f} {r[1]:.2f} {r[2]:.2f} {r[3]:.3f} | {r[4]:.2f} {r[5]:.2f} {r[6]:.2f} {r[7]:.1f} | "
                f"{r[8]:.2f} {r[9]:.2f} | {r[10]:.2f} {r[11]:.2f}")
    for r in sorted(results, key=lambda r: -(r[4] + r[5]))[: a.top]:  # best by hit@3 + P@3
        print(line(r))
    front = [r for r in results if not any((o[4] >= r[4] and o[5] > r[5]) or (o[4] > r[4] and o[5] >= r[5])
                                           for o in results)]
    print("Pareto front (hit@3, P@3):")
    for r in sorted(front, key=lambda r: -r[4])[: a.top]:
        print(line(r))


if __name__ == "__main__":
    main()
