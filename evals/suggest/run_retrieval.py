"""Retrieval eval for topic suggestions: hit@3, graded nDCG@5 and precision@3 over new-pair queries.

    python evals/suggest/run_retrieval.py                  # the 40 labelled development queries
    python evals/suggest/run_retrieval.py --verbose        # and each query's cards
    python evals/suggest/run_retrieval.py --scoped         # asked within a programme (below)
    python evals/suggest/run_retrieval.py --system before  # the code as it was before issue #18
    python evals/suggest/run_retrieval.py --split all      # the 60 labelled queries (old + new + the former held-out)
    python evals/suggest/run_retrieval.py --split test3    # the blind queries: run ONCE, at the end

Past debriefs: all 180 gold debriefs (evals/extraction/gold_dev.jsonl and gold_test.jsonl)
ingested with their gold (``expected``) records, all shared, in one programme.

Queries and labels:
- ``old``: evals/suggest/queries.jsonl (30 new pairs), graded by evals/suggest/labels.jsonl against
  all 180 debriefs ("fits" and "partly"; the queries' own hand-written "relevant" lists of 44 debriefs
  are not used any more);
- ``new``: evals/suggest/queries_new_dev.jsonl (10 queries with their labels on the line);
- ``test``: evals/suggest/queries_new_test.jsonl (10, held out until it was run once on 2026-12-06;
  development data since: ``--split test`` scores it, ``--split all`` scores the 50 together);
- ``test2``: evals/suggest/queries_new_test2.jsonl (t21..t30, written blind, run once on 2026-12-07;
  development data since);
- ``test3``: evals/suggest/queries_new_test3.jsonl (t31..t40, blind: never read while developing;
  ``--split test3`` scores it, once, at the end).

Systems: ``after`` is coach.suggest as it is; ``before`` is evals/suggest/baseline_suggest.py, a
verbatim copy of coach/suggest.py before issue #18, run over the same store. ``--system both``
scores both in one run (so the held-out split is run once for both).

Scoring, per query (a card's "evidence" is its list of debrief ids, as in the CLI's JSON):
- a card *fits* when its evidence includes a "fits" debrief; a card citing only "partly" debriefs
  does not fit (strict; ``lenient`` counts it as half a fit);
- the cards *shown as fitting well* are those the page puts above its line ("N ideas fit well";
  cards with ``strength == "strong"``); the baseline had no line, so all its cards count;
- hit@3: one of the first 3 cards shown (those fitting well first, then the weaker ones, as on
  the page) fits. Queries with no "fits" debrief are left out (nothing can be hit). Also given
  over the cards fitting well alone ("fitting well only");
- precision@3: how often the page's "fits well" is right: fitting cards among the first
  min(3, n) of the n cards shown as fitting well, divided by min(3, n): showing fewer cards is
  not penalised, calling a weak one a good fit is. With no card shown as fitting well: 0 when
  the query has a "fits" debrief (a miss), 1 when it has none (rightly nothing vouched for).
  Also given over the first three cards shown whatever their strength ("first three shown");
- nDCG@5: the debrief ids cited by every card shown (fitting well first, then the weaker ones), in
  order and deduplicated, cut at 5; gain 2 for "fits", 1 for "partly"; ideal = the labels sorted.
  A query with no label at all is left out.

``--scoped``: a copy of every gold debrief (ids prefixed ``x-``) is ingested into a second
programme, and every query is asked within the first, as the app asks: the figures should match
the plain run's (the other programme's debriefs crowd the index but must neither show nor push
the programme's own out; the runner asserts that no card cites the copy).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach.config import load_settings  # noqa: E402
from coach.debrief_file import read_debriefs  # noqa: E402
from coach.ingest import ingest  # noqa: E402
from coach.services import Services  # noqa: E402

HERE = Path(__file__).resolve().parent


def load_queries(split: str) -> list[dict]:
    """The labelled queries of a split, each with its "fits" and "partly" debriefs."""
    def lines(name):
        return [json.loads(x) for x in (HERE / name).read_text().splitlines() if x.strip()]

    out: list[dict] = []
    if split in ("dev", "all"):
        labels = {x["qid"]: x for x in lines("labels.jsonl")}
        for q in lines("queries.jsonl"):
            lab = labels[q["qid"]]
            out.append({"qid": q["qid"], "part": "old", "senior": q["senior"], "junior": q["junior"],
                        "fits": lab["fits"], "partly": lab["partly"]})
        out += [dict(q, part="new") for q in lines("queries_new_dev.jsonl")]
    if split in ("test", "all"):
        out += [dict(q, part="test") for q in lines("queries_new_test.jsonl")]
    if split in ("test2", "all"):  # the second blind set: scored once (2026-12-07), read since
        out += [dict(q, part="test2") for q in lines("queries_new_test2.jsonl")]
    if split == "test3":  # the blind set: scored once, at the end, never while developing
        out += [dict(q, part="test3") for q in lines("queries_new_test3.jsonl")]
    return out


def baseline():
    spec = importlib.util.spec_from_file_location("baseline_suggest", HERE / "baseline_suggest.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["baseline_suggest"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def ndcg(ranked: list[str], gain: dict[str, int], n: int = 5) -> float:
    dcg = sum(gain.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:n]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gain.values(), reverse=True)[:n]))
    return dcg / ideal if ideal else 0.0


def score(q: dict, cards: list) -> dict:
    fits, partly = set(q["fits"]), set(q["partly"]) - set(q["fits"])
    strong = [c for c in cards if getattr(c, "strength", "strong") == "strong" and not c.generic]
    shown = strong + [c for c in cards if c not in strong and not c.generic]

    def fit(c) -> bool:
        return bool(set(c.evidence) & fits)

    def half(c) -> float:
        return 1.0 if fit(c) else 0.5 if set(c.evidence) & partly else 0.0

    def precision(cs, weigh) -> float:
        if not cs:
            return 0.0 if fits else 1.0
        return sum(weigh(c) for c in cs[:3]) / len(cs[:3])
    gain = {d: 1 for d in partly} | {d: 2 for d in fits}
    ranked = list(dict.fromkeys(e for c in shown for e in c.evidence))
    return {"hit3": any(fit(c) for c in shown[:3]) if fits else None,
            "hit3_strong": any(fit(c) for c in strong[:3]) if fits else None,
            "p3": precision(strong, fit), "p3_lenient": precision(strong, half),
            "p3_shown": precision(shown, fit),
            "ndcg5": ndcg(ranked, gain) if gain else None, "strong": len(strong), "shown": len(shown)}


def summary(rows: list[dict]) -> str:
    def m(key):
        xs = [r[key] for r in rows if r[key] is not None]
        return statistics.mean(xs) if xs else float("nan")
    return (f"hit@3 {m('hit3'):.2f}, nDCG@5 {m('ndcg5'):.2f}, P@3 {m('p3'):.2f} "
            f"(lenient {m('p3_lenient'):.2f}); fitting well only: hit@3 {m('hit3_strong'):.2f}; "
            f"first three shown: P@3 {m('p3_shown'):.2f}; ideas fitting well {m('strong'):.1f}, "
            f"shown {m('shown'):.1f} per query")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--split", choices=["dev", "test", "test2", "all", "test3"], default="dev",
                    help="dev: old + new (40); test, test2: the former held-out 10 each; all: the 60; "
                         "test3: the blind set, run ONCE")
    ap.add_argument("--system", choices=["after", "before", "both"], default="after")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--scoped", action="store_true", help="ask within a programme, beside another programme's copies")
    a = ap.parse_args()
    gold = ROOT / "evals" / "extraction"
    every = read_debriefs(gold / "gold_dev.jsonl") + read_debriefs(gold / "gold_test.jsonl")
    others = [d.model_copy(update={"id": "x-" + d.id}) for d in every] if a.scoped else []
    queries = load_queries(a.split)
    systems = ["before", "after"] if a.system == "both" else [a.system]
    with tempfile.TemporaryDirectory() as d:
        svc = Services(load_settings(data_dir=Path(d), backend="none"))
        ids = ingest(svc.db, every, after_chunk=svc.indexer.drain)
        other_ids = ingest(svc.db, others, programme="other", after_chunk=svc.indexer.drain)
        scope = {"default"} if a.scoped else None
        for system in systems:
            suggest = baseline().suggest if system == "before" else __import__("coach.suggest").suggest.suggest
            rows, lat, tops = [], [], []
            for q in queries:
                t0 = time.perf_counter()
                cards = suggest(svc.corpus, q["senior"], q["junior"], k=a.k, programmes=scope)
                lat.append((time.perf_counter() - t0) * 1000)
                assert not (scope and any(e.startswith("x-") for c in cards for e in c.evidence))
                r = score(q, cards)
                rows.append(dict(r, part=q["part"]))
                tops.append({c.topic for c in cards[:3] if not c.generic})
                if a.verbose:
                    fits = set(q["fits"])
                    print(q["qid"], {None: "-", True: "hit", False: "MISS"}[r["hit3"]], f"P@3 {r['p3']:.2f}",
                          f"nDCG {r['ndcg5'] if r['ndcg5'] is None else round(r['ndcg5'], 2)}")
                    for c in cards:
                        tag = "+" if set(c.evidence) & fits else "~" if set(c.evidence) & set(q["partly"]) else " "
                        print(f"   {tag} {getattr(c, 'strength', '-'):6} {c.score:.3f} {c.topic[:60]} {c.evidence}")
            where = f" within a programme of {ids} records beside another of {other_ids}" if a.scoped else ""
            print(f"[{system}] offline suggestions over {len(queries)} queries ({a.split}){where}, "
                  f"{ids + other_ids} records: {summary(rows)}")
            for part in sorted({r["part"] for r in rows}):
                sub = [r for r in rows if r["part"] == part]
                print(f"[{system}]   {part} ({len(sub)} queries): {summary(sub)}")
            common = Counter(t for ts in tops for t in ts).most_common(1)
            if common:
                print(f"[{system}]   the topic most often among the first three: “{common[0][0]}”, for "
                      f"{common[0][1]} of {len(queries)} queries")
            warm = []
            for q in queries:  # again, with every topic and role embedded once already (as in a running app)
                t0 = time.perf_counter()
                suggest(svc.corpus, q["senior"], q["junior"], k=a.k, programmes=scope)
                warm.append((time.perf_counter() - t0) * 1000)
            print(f"[{system}]   latency per query p50 {statistics.median(lat):.1f} ms first pass, "
                  f"{statistics.median(warm):.1f} ms second pass")
        svc.close()


if __name__ == "__main__":
    main()
