"""How the line between "fits well" and "weaker" (coach.suggest.FitsWell) and SHOW were chosen.

    python evals/suggest/tune.py                 # in-sample: the grid's best rules over the 60 labelled queries
    python evals/suggest/tune.py --cv            # leave-queries-out cross-validation of each rule family
    python evals/suggest/tune.py --show          # SHOW alone, the rest as shipped
    python evals/suggest/tune.py --split dev     # the 40 development queries only (as first tuned)

Each query's candidate pairs are scored once (coach.suggest.past_pairs) and grouped into cards
once; each rule then only re-draws the line, so the grid is cheap. The store and the scoring are
those of evals/suggest/run_retrieval.py. The blind split (``test3``) is never read here.

``--cv``: the 60 queries are split into 10 folds (5 different shuffles); for each fold the rule
with the best mean of P@3 + 0.1 x hit@3 over the cards fitting well is chosen on the other 54
queries (the middle one of the ties) and scored on the fold's. The figures are pooled over every
held-out query: what a rule chosen this way does on queries it was not chosen on.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

from run_retrieval import load_queries, score  # noqa: E402

import coach.suggest as S  # noqa: E402
from coach.config import load_settings  # noqa: E402
from coach.debrief_file import read_debriefs  # noqa: E402
from coach.ingest import ingest  # noqa: E402
from coach.services import Services  # noqa: E402

# Rule families compared by --cv: which of FitsWell's fields vary (the others stay at their defaults).
STRONG = [x / 100 for x in range(20, 36)]
CROSS = [x / 100 for x in range(0, 25, 3)]
FAMILIES = {
    "score + cross-check + near best (as first tuned)": lambda: [
        S.FitsWell(s, c, n) for s, c, n in itertools.product(STRONG, CROSS, [0.0, 0.005, 0.01, 0.02, 0.03])],
    "score + cross-check, best card only, margin over the runner-up": lambda: [
        S.FitsWell(s, c, 0.0, margin=m) for s, c, m in itertools.product(STRONG, CROSS, [0.0, 0.005, 0.01, 0.02, 0.03])],
    "score + cross-check, best card only, topic ~ junior": lambda: [
        S.FitsWell(s, c, 0.0, junior_topic=j) for s, c, j in itertools.product(STRONG, CROSS, [x / 100 for x in range(0, 50, 4)])],
    "never fits well": lambda: [S.FitsWell(strong=9.0)],
}


def cards_of(svc, queries) -> dict[str, list]:
    """Each query's cards above SHOW, best first (as suggest() builds them)."""
    return {q["qid"]: S._cards(S.past_pairs(svc.corpus, q["senior"], q["junior"])) for q in queries}


def page(cards: list, rule, k: int = 5) -> list:
    """The page suggest() would show with this rule, as objects run_retrieval.score() reads."""
    return [SimpleNamespace(strength=c.tier, generic=False, evidence=sorted({r["debrief_id"] for r in c.rows}))
            for c in S._choose(cards, k, rule)]


def table(queries, cards, rules) -> dict:
    """Every rule's per-query scores."""
    return {rule: [score(q, page(cards[q["qid"]], rule)) for q in queries] for rule in rules}


def mean(rows: list[dict], key: str) -> float:
    xs = [r[key] for r in rows if r[key] is not None]
    return statistics.mean(xs) if xs else float("nan")


def objective(rows: list[dict]) -> float:
    """P@3, then (a tenth as much) hit@3 over the cards fitting well: of two rules as precise, the one
    that vouches for a fitting idea more often (nothing counted where no query has one)."""
    hit = mean(rows, "hit3_strong")
    return mean(rows, "p3") + 0.1 * (0.0 if hit != hit else hit)


def chosen(tab: dict, idx) -> object:
    """The rule that does best on these queries: the middle one of the ties (a plateau's middle)."""
    val = {rule: objective([rows[i] for i in idx]) for rule, rows in tab.items()}
    top = max(val.values())
    ties = [rule for rule in tab if val[rule] >= top - 1e-9]
    return ties[len(ties) // 2]


def cross_validate(tab: dict, n: int, folds: int = 10, shuffles: int = 5) -> tuple[list[dict], list]:
    held_out, picks = [], []
    for seed in range(shuffles):
        order = np.random.default_rng(seed).permutation(n)
        for f in range(folds):
            test = set(order[f::folds].tolist())
            rule = chosen(tab, [i for i in range(n) if i not in test])
            picks.append(rule)
            held_out += [tab[rule][i] for i in sorted(test)]
    return held_out, picks


def line(rows: list[dict]) -> str:
    return (f"P@3 {mean(rows, 'p3'):.2f} (lenient {mean(rows, 'p3_lenient'):.2f}), hit@3 {mean(rows, 'hit3'):.2f}, "
            f"nDCG@5 {mean(rows, 'ndcg5'):.2f}, hit@3 fitting well only {mean(rows, 'hit3_strong'):.2f}, "
            f"fitting well per query {mean(rows, 'strong'):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["dev", "all"], default="all")
    ap.add_argument("--cv", action="store_true", help="cross-validate each rule family")
    ap.add_argument("--show", action="store_true", help="vary SHOW alone, the rest as shipped")
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    gold = HERE.parents[1] / "evals" / "extraction"
    every = read_debriefs(gold / "gold_dev.jsonl") + read_debriefs(gold / "gold_test.jsonl")
    queries = load_queries(a.split)
    with tempfile.TemporaryDirectory() as d:
        svc = Services(load_settings(data_dir=Path(d), backend="none"))
        ingest(svc.db, every, after_chunk=svc.indexer.drain)
        if a.show:
            for show in [x / 100 for x in range(16, 30, 2)]:
                S.SHOW = show
                cards = cards_of(svc, queries)
                print(f"SHOW {show:.2f}: {line(table(queries, cards, [S.FITS_WELL])[S.FITS_WELL])}")
            svc.close()
            return
        cards = cards_of(svc, queries)
        svc.close()
    print(f"{len(queries)} queries ({a.split}); shipped {S.FITS_WELL}: "
          f"{line(table(queries, cards, [S.FITS_WELL])[S.FITS_WELL])}")
    for name, rules in FAMILIES.items():
        tab = table(queries, cards, rules())
        best = chosen(tab, range(len(queries)))
        print(f"\n{name}: {len(tab)} rules\n  in-sample best {best}\n    {line(tab[best])}")
        if a.cv:
            held_out, picks = cross_validate(tab, len(queries))
            print(f"  cross-validated (10 folds x 5 shuffles): {line(held_out)}")
            common = max(set(picks), key=picks.count)
            print(f"    rules chosen: {len(set(picks))} different; most often ({picks.count(common)}/{len(picks)}) {common}")
        else:
            ranked = sorted(tab, key=lambda r: -objective(tab[r]))[: a.top]
            for r in ranked:
                print(f"    {r}: {line(tab[r])}")


if __name__ == "__main__":
    main()
