"""Retrieval eval for topic suggestions: hit@3 and nDCG@5 over new-pair queries.

    python evals/suggest/run_retrieval.py [--k 5]
    python evals/suggest/run_retrieval.py --scoped   # the same, asked within a programme (below)

Past debriefs: the 44 gold debriefs the queries were labelled against (dev01-dev30 and
test01-test14 in evals/extraction/gold_*.jsonl; later gold lines are left out, since no query
marks them relevant or not) ingested with their gold records, all shared. Queries: evals/suggest/queries.jsonl, each a new pair with the past debriefs
that should support a good suggestion ("relevant", written by hand).

- hit@3: share of queries where at least one of the top 3 suggestions cites a relevant debrief.
- nDCG@5: the debrief ids cited by the suggestions, in order (card rank, then the card's
  evidence), deduplicated, cut at 5; binary relevance; ideal = all relevant ids first.

``--scoped``: the other gold debriefs are ingested too, into a second programme, and every
query is asked within the first programme, as the app asks: the figures should match the plain
run's (the other programme's debriefs crowd the index but must neither show nor push the
programme's own out).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach.config import load_settings  # noqa: E402
from coach.debrief_file import read_debriefs  # noqa: E402
from coach.ingest import ingest  # noqa: E402
from coach.services import Services  # noqa: E402
from coach.suggest import suggest  # noqa: E402


def ndcg(ranked: list[str], relevant: set[str], n: int = 5) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:n]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), n)))
    return dcg / ideal if ideal else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--scoped", action="store_true", help="ask within a programme, beside another programme's debriefs")
    a = ap.parse_args()
    gold = ROOT / "evals" / "extraction"
    labelled = {f"dev{i:02d}" for i in range(1, 31)} | {f"test{i:02d}" for i in range(1, 15)}
    every = read_debriefs(gold / "gold_dev.jsonl") + read_debriefs(gold / "gold_test.jsonl")
    debriefs = [d for d in every if d.id in labelled]
    others = [d for d in every if d.id not in labelled] if a.scoped else []
    queries = [json.loads(line) for line in (Path(__file__).with_name("queries.jsonl")).read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as d:
        svc = Services(load_settings(data_dir=Path(d), backend="none"))
        ids = ingest(svc.db, debriefs, after_chunk=svc.indexer.drain)
        other_ids = ingest(svc.db, others, programme="other", after_chunk=svc.indexer.drain)
        scope = {"default"} if a.scoped else None
        hits, ndcgs = [], []
        for q in queries:
            cards = suggest(svc.corpus, q["senior"], q["junior"], k=a.k, programmes=scope)
            assert not (scope and {e for c in cards for e in c.evidence} & {d.id for d in others})
            rel = set(q["relevant"])
            hits.append(any(set(c.evidence) & rel for c in cards[:3]))
            ranked = list(dict.fromkeys(e for c in cards for e in c.evidence))
            ndcgs.append(ndcg(ranked, rel))
            if a.verbose:
                print(q["qid"], "hit" if hits[-1] else "MISS", round(ndcgs[-1], 2), [c.topic for c in cards[:3]])
        svc.close()
    where = f" within a programme of {ids} records beside another of {other_ids}" if a.scoped else ""
    print(f"offline suggestions over {len(queries)} queries{where}, {ids + other_ids} records: "
          f"hit@3 {statistics.mean(hits):.2f}, nDCG@5 {statistics.mean(ndcgs):.2f}")


if __name__ == "__main__":
    main()
