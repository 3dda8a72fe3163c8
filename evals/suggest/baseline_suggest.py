"""BASELINE: coach/suggest.py as it was before issue #18 (commit 6ecf063), kept verbatim below this line so
evals/suggest/run_retrieval.py can measure "before" and "after" in one run. Not used by the app.

Topic suggestions for new pairs, from what earlier pairs discovered, with the evidence.

The index holds only approved records of debriefs whose participants agreed to share (see
coach.index), so no consent filter runs at query time. A suggestion is a past pair topic whose
records are close to the new senior's context and the new junior's strengths:

    score = 0.45 * relevance to the senior  + 0.35 * relevance to the junior
          + 0.15 * share of broken assumptions  + 0.05 * recency

In the app every query is scoped to the asker's programme(s): each programme has its own
collection in the index, so a scoped query is a plain nearest-neighbour search on it.

A topic needs at least ``MIN_SUPPORT`` records (never one record mentioned once); near-duplicate
topics are merged and the list is diversified (maximal marginal relevance). Cards are written
from the evidence offline, or by a capable model whose card must cite only the group's ids.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel

from coach.embeddings import MiniLM
from coach.index import Index, Indexer
from coach.prompts import default_prompts_dir
from coach.records import Assumption, evidence_context
from coach.store.db import Database

MIN_SUPPORT = 2
CANDIDATES = 60  # per query (senior, junior): 60 records at most; measured in evals/suggest/bench.py
MERGE_SIMILAR_TOPICS = 0.7
DIVERSITY = 0.7  # MMR: weight of relevance against similarity to topics already chosen
YEAR = 365 * 24 * 3600


class Corpus:
    """What suggestions draw on: the index's nearest records, read back from SQL (the system of
    record), where consent and programme are checked again for what is shown."""

    def __init__(self, db: Database, index: Index, indexer: Indexer | None = None):
        self.db, self.index, self.indexer = db, index, indexer
        self.catching_up = False  # the last query may have missed records still being indexed

    def nearest(self, vectors, n: int, programmes: Collection[str] | None) -> tuple[list[dict[int, float]], dict]:
        if self.indexer is not None:
            self.catching_up = not self.indexer.fresh()
        sims = self.index.search(vectors, n, programmes)
        keep = set().union(*sims)
        return sims, (evidence_context(self.db, keep, programmes) if keep else {})

    def query(self, text: str, k: int = 20, programmes: Collection[str] | None = None) -> list[dict]:
        """The records nearest to a text, best first, with their context."""
        [hits], info = self.nearest(MiniLM.shared().embed([text]), k, programmes)
        return [dict(info[rid], id=f"r{rid}", distance=1.0 - sim)
                for rid, sim in sorted(hits.items(), key=lambda kv: -kv[1]) if rid in info]


@dataclass
class Evidence:
    record_id: str
    debrief_id: str
    kind: str
    text: str
    role: str
    topic: str
    created: int
    sim_senior: float
    sim_junior: float
    before: str | None = None
    after: str | None = None


@dataclass
class Suggestion:
    topic: str
    why: str
    evidence: list[str]  # debrief ids
    score: float
    generic: bool = False
    records: list[str] = field(default_factory=list)  # record ids behind the card
    written_by: str = "offline"

    def contract(self) -> dict:
        out = {"topic": self.topic, "why": self.why, "evidence": self.evidence, "score": round(self.score, 4)}
        if self.generic:
            out["generic"] = True
        return out


def starter_topics(k: int, prompts_dir: Path | None = None) -> list[Suggestion]:
    data = yaml.safe_load(((prompts_dir or default_prompts_dir()) / "protocol" / "starter_topics.yaml").read_text())
    return [Suggestion(topic=t["topic"], why=f"Generic starter topic: {t['why']}",
                       evidence=[], score=0.0, generic=True) for t in data["topics"][:k]]


def retrieve(corpus: Corpus, senior: str, junior: str, n: int = CANDIDATES,
             programmes: Collection[str] | None = None) -> list[Evidence]:
    """Nearest records to the senior's context and to the junior's strengths (two plain queries,
    one call, no metadata filter). A record found by one query only gets, for the other, that
    query's lowest similarity among its results: an upper bound, since it ranked below them."""
    sims, info = corpus.nearest(MiniLM.shared().embed([senior, junior]), n, programmes)
    floor = [min(s.values()) if s else 0.0 for s in sims]
    return [Evidence(f"r{rid}", m["debrief_id"], m["kind"], m["text"], m["role"], m["topic"], m["created"],
                     sims[0].get(rid, floor[0]), sims[1].get(rid, floor[1]), m["before"], m["after"])
            for rid, m in info.items()]


_TOPIC_CACHE: dict[str, np.ndarray] = {}
_TOPIC_CACHE_MAX = 50_000


def topic_vectors(topics: list[str]) -> np.ndarray:
    """Topic names repeat across queries (a programme has few): embed each once per process."""
    missing = [t for t in topics if t not in _TOPIC_CACHE]
    if missing:
        if len(_TOPIC_CACHE) + len(missing) > _TOPIC_CACHE_MAX:
            _TOPIC_CACHE.clear()
        _TOPIC_CACHE.update(zip(missing, MiniLM.shared().embed(missing)))
    return np.stack([_TOPIC_CACHE[t] for t in topics])


def _group(evidence: list[Evidence]) -> list[dict]:
    by_topic: dict[str, list[Evidence]] = defaultdict(list)
    for e in evidence:
        by_topic[e.topic].append(e)
    topics = list(by_topic)
    if not topics:
        return []
    vecs = topic_vectors(topics)
    groups: list[dict] = []
    for t, v in zip(topics, vecs):  # merge near-duplicate topic names ("TikTok for retail" twice)
        for g in groups:
            if float(v @ g["vec"]) >= MERGE_SIMILAR_TOPICS:
                g["evidence"] += by_topic[t]
                break
        else:
            groups.append({"topic": t, "vec": v, "evidence": list(by_topic[t])})
    return groups


def _score(g: dict, now: float) -> float:
    ev = g["evidence"]
    top = lambda xs: float(np.mean(sorted(xs, reverse=True)[:3]))  # noqa: E731
    senior = top([e.sim_senior for e in ev])
    junior = top([e.sim_junior for e in ev])
    broken = sum(e.kind == "broken_assumption" for e in ev) / len(ev)
    newest = max(e.created for e in ev)
    recency = math.exp(-max(now - newest, 0) / YEAR)
    return 0.45 * senior + 0.35 * junior + 0.15 * broken + 0.05 * recency


def _why(g: dict) -> str:
    """How the evidence supports the topic, in counts and findings (never names)."""
    ev = g["evidence"]
    debriefs = {e.debrief_id for e in ev}
    broken = [e for e in ev if e.kind == "broken_assumption" and e.role == "senior"]
    if broken:
        b = max(broken, key=lambda e: e.sim_senior)
        n = len({e.debrief_id for e in broken})
        lead = f"{n} earlier senior{'s' if n > 1 else ''} in related roles changed their view" if n > 1 else \
            "An earlier senior in a related role changed their view"
        return f"{lead}: {Assumption(b.before or '', b.after or '').sentence()}. Evidence from {len(debriefs)} debrief{'s' if len(debriefs) > 1 else ''}."
    learned = max(ev, key=lambda e: e.sim_senior)
    return (f"{len(debriefs)} earlier debrief{'s' if len(debriefs) > 1 else ''} recorded findings such as "
            f"“{learned.text.rstrip('.')}”.")


def suggest(corpus: Corpus, senior: str, junior: str, k: int = 5, *, writer=None, now: float | None = None,
            prompts_dir: Path | None = None, programmes: Collection[str] | None = None) -> list[Suggestion]:
    """Ranked, diverse topic suggestions with the ids of the debriefs that support them (from
    ``programmes`` only, when given)."""
    if not (senior or "").strip() or not (junior or "").strip():
        raise ValueError("Describe both the senior (role, context) and the junior (role, strengths).")
    evidence = retrieve(corpus, senior, junior, programmes=programmes)
    if not evidence:
        return starter_topics(k, prompts_dir)
    now = now or time.time()
    groups = [g for g in _group(evidence) if len(g["evidence"]) >= MIN_SUPPORT]
    for g in groups:
        g["score"] = _score(g, now)
    chosen: list[dict] = []
    while groups and len(chosen) < k:  # maximal marginal relevance over topic vectors
        def mmr(g):
            overlap = max((float(g["vec"] @ c["vec"]) for c in chosen), default=0.0)
            return DIVERSITY * g["score"] - (1 - DIVERSITY) * overlap
        best = max(groups, key=mmr)
        groups.remove(best)
        chosen.append(best)
    out = []
    for g in chosen:
        ids = sorted({e.debrief_id for e in g["evidence"]})
        card = Suggestion(topic=g["topic"], why=_why(g), evidence=ids, score=g["score"],
                          records=sorted(e.record_id for e in g["evidence"]))
        if writer is not None:
            card = writer(card, g["evidence"]) or card
        out.append(card)
    if len(out) < k and not out:
        return starter_topics(k, prompts_dir)
    return out


def surprises(corpus: Corpus, senior: str, k: int = 5, programmes: Collection[str] | None = None) -> list[dict]:
    """Senior view: what earlier seniors in similar roles found surprising (broken assumptions)."""
    ev = [e for e in retrieve(corpus, senior, senior, n=CANDIDATES, programmes=programmes)
          if e.kind == "broken_assumption" and e.role == "senior"]
    ev.sort(key=lambda e: -e.sim_senior)
    return [{"finding": Assumption(e.before or "", e.after or "").labelled(), "topic": e.topic,
             "evidence": [e.debrief_id]} for e in ev[:k]]


def similar_pairs(corpus: Corpus, senior: str, junior: str, topic: str, k: int = 5, exclude: str | None = None,
                  programmes: Collection[str] | None = None) -> list[dict]:
    """Past pairs closest to a pair: by their records' similarity to its topic and people."""
    ev = retrieve(corpus, f"{senior}. {topic}", f"{junior}. {topic}", programmes=programmes)
    by_debrief: dict[str, list[Evidence]] = defaultdict(list)
    for e in ev:
        by_debrief[e.debrief_id].append(e)
    rows: list[dict[str, Any]] = []
    for did, es in by_debrief.items():
        if did == exclude:
            continue
        rows.append({"debrief": did, "topic": es[0].topic, "role": es[0].role,
                     "similarity": round(float(np.mean([(e.sim_senior + e.sim_junior) / 2 for e in es])), 3)})
    rows.sort(key=lambda r: -r["similarity"])
    return rows[:k]


# -- model-written cards -------------------------------------------------------------------------

class Card(BaseModel):
    topic: str
    why: str
    evidence: list[str]


def model_writer(gateway, prompts_dir: Path | None = None):
    """A card writer using the model; a card citing anything outside its evidence is discarded."""
    from coach.gateway import GatewayError
    from coach.prompts import load_prompt

    prompt = load_prompt("suggest_card", prompts_dir)

    def write(card: Suggestion, evidence: list[Evidence]) -> Suggestion | None:
        lines = "\n".join(f"- [{e.debrief_id}] ({e.role}, {e.kind}) {e.text}" for e in evidence[:12])
        try:
            out = gateway.structured(prompt.messages(topic=card.topic, evidence=lines), Card,
                                     purpose="suggestions.card", prompt=prompt, max_tokens=300, temperature=0.2)
        except GatewayError:
            return None
        allowed = set(card.evidence)
        if not out.evidence or not set(out.evidence) <= allowed or not out.topic.strip() or not out.why.strip():
            return None  # a claim not backed by the retrieved records is never shown
        return Suggestion(topic=out.topic.strip(), why=out.why.strip(), evidence=sorted(set(out.evidence)),
                          score=card.score, records=card.records, written_by="model")

    return write


# -- batches (facilitators) ----------------------------------------------------------------------

class BatchError(ValueError):
    pass


def batch_suggest(corpus: Corpus, src: Path, out_dir: Path, writer=None, default_k: int = 3,
                  programmes: Collection[str] | None = None) -> Path:
    """CSV in (senior, junior[, k]) -> CSV out (row, rank, topic, why, evidence). Checked first."""
    import csv

    from coach.review import csv_safe

    try:
        rows = list(csv.DictReader(src.open(encoding="utf-8-sig", newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BatchError(f"{src.name}: cannot read it as CSV ({e})") from None
    if not rows or not {"senior", "junior"} <= set(rows[0]):
        raise BatchError(f"{src.name}: needs a header row with the columns senior and junior")
    for n, r in enumerate(rows, start=2):
        if None in r:  # csv puts values beyond the header's columns under None
            raise BatchError(f"{src.name}:{n}: more values than columns; put double quotes around a value that "
                             'contains a comma ("Nurse, 23, runs the ward\'s TikTok")')
        if not (r.get("senior") or "").strip() or not (r.get("junior") or "").strip():
            raise BatchError(f"{src.name}:{n}: senior and junior must both be filled in")
        if (r.get("k") or "").strip() and not r["k"].strip().isdigit():
            raise BatchError(f"{src.name}:{n}: k must be a whole number")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{src.stem}-suggestions.csv"
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "senior", "junior", "rank", "topic", "why", "evidence", "generic"])
        for n, r in enumerate(rows, start=2):
            k = int(r["k"]) if (r.get("k") or "").strip() else default_k
            for rank, c in enumerate(suggest(corpus, r["senior"], r["junior"], k=k, writer=writer,
                                             programmes=programmes), 1):
                w.writerow([csv_safe(v) for v in (n, r["senior"], r["junior"], rank, c.topic, c.why,
                                                  " ".join(c.evidence), c.generic)])
    tmp.replace(out)  # nothing half-written
    return out
