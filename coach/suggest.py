"""Topic suggestions for new pairs, from what earlier pairs discovered, with the evidence.

The index holds only approved records of debriefs whose participants agreed to share (see
coach.index), so no consent filter runs at query time; SQL checks consent and programme again for
everything shown. In the app every query is scoped to the asker's programme(s), and a participant's
own pairs are left out (their colleague's words are never shown back to them).

How an idea is found and ranked (measured with evals/suggest/run_retrieval.py; figures and what
was tried in evals/suggest/README.md):

1. The records nearest to the senior's description and to the junior's (two vectors, one search)
   name the candidate past *pairs* (at most ``CANDIDATE_PAIRS``).
2. Each candidate pair is scored as a whole, from all its records (both debriefs: a pair's two
   debriefs are one piece of evidence) and its topic and roles, against both descriptions::

       senior side = (topic ~ senior + best records ~ senior) / 2
       junior side = (topic ~ junior + best records ~ junior) / 2
       score       = (2 * senior side + 2 * junior side + 0.5 * senior role ~ senior) / 4.5

   "best records" is the mean of a pair's two closest records, so one record sharing one word
   ("bank") cannot carry a pair; the topic and the roles are matched too. The candidates are
   *ordered* by the same sum computed once the programme's mean topic is taken from every vector
   (:func:`topic_centre`: what all its topics share, "how younger people use a digital tool",
   would otherwise pull broad topics up for every query); the thresholds below read the plain
   sum, whose scale does not move with a programme's mix of topics.
3. Pairs whose topics say the same thing (``MERGE_SIMILAR_TOPICS``) become one card.
4. At most one card *fits well* (:class:`FitsWell`): the first, when its plain score reaches
   ``strong`` and both its sides reach ``cross_check``. Fewer cards vouched for rather than a
   runner-up: the first card fits far more often than the next ones. A card that does not fit
   well but reaches ``SHOW`` is offered as a weaker idea; below ``SHOW`` nothing is shown. The
   line was chosen by cross-validation over the 50 labelled queries (evals/suggest/tune.py --cv).

A card needs at least ``MIN_SUPPORT`` records. Each says, offline, why it fits this senior and this
junior, what the earlier senior found, and shows its evidence as short quotes with the earlier
pair's topic and roles, never names (:func:`redact`); debrief ids stay in the contract (CLI JSON,
exports). A capable model may rewrite a card's topic and why; a card citing anything outside its
evidence is discarded.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel
from sqlalchemy import select

from coach.embeddings import MiniLM
from coach.index import Index, Indexer
from coach.prompts import default_prompts_dir
from coach.records import (
    evidence_context,
    fill_pair_vectors,
    pair_outcomes,
    pair_records,
    pair_vectors_of,
    record_pairs,
    shared_debriefs_outside,
)
from coach.store.db import Database
from coach.store.models import Pair

MIN_SUPPORT = 2
CANDIDATES = 40  # records per query vector (senior, junior): enough to name CANDIDATE_PAIRS pairs (evals/suggest/README.md)
CANDIDATE_PAIRS = 30  # past pairs scored as a whole per query
MERGE_SIMILAR_TOPICS = 0.7
SHOW = 0.22  # a card that reaches this is offered (as a weaker idea unless it fits well); below: not shown


@dataclass(frozen=True)
class FitsWell:
    """The line between "fits well" and "weaker", chosen by cross-validation over the 50 labelled
    queries (evals/suggest/tune.py --cv; evals/suggest/README.md): a card fits well when it reaches
    ``strong``, both its senior side and its junior side reach ``cross_check`` (an idea close to one
    side only does not), its topic alone reaches ``junior_topic`` against the junior's strengths,
    it is within ``near_best`` of the best card's score, and the best card stands ``margin`` above
    the first card that is not within ``near_best`` (a page whose first ideas score alike vouches
    for none of them). ``near_best`` 0: the best card only. ``junior_topic`` and ``margin`` did
    no better under cross-validation, so they are 0 (off); tune.py compares them."""

    strong: float = 0.26
    cross_check: float = 0.06
    near_best: float = 0.0
    junior_topic: float = 0.0
    margin: float = 0.0


FITS_WELL = FitsWell()
ROLE_SIMILAR = 0.7  # "a related role" only when the two role descriptions are this similar and share a word
DIVERSITY = 0.05  # a card's score loses this much per unit of similarity to a card already chosen
QUOTES_PER_CARD = 6


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

    def nearest_pairs(self, vectors, n: int, programmes: Collection[str] | None) -> tuple[list[dict[int, float]],
                                                                                          dict[int, str]]:
        """As :meth:`nearest`, with only each record's pair (what picks the candidate pairs)."""
        if self.indexer is not None:
            self.catching_up = not self.indexer.fresh()
        sims = self.index.search(vectors, n, programmes)
        keep = set().union(*sims)
        return sims, (record_pairs(self.db, keep, programmes) if keep else {})

    def query(self, text: str, k: int = 20, programmes: Collection[str] | None = None) -> list[dict]:
        """The records nearest to a text, best first, with their context."""
        [hits], info = self.nearest(MiniLM.shared().embed([text]), k, programmes)
        return [dict(info[rid], id=f"r{rid}", distance=1.0 - sim)
                for rid, sim in sorted(hits.items(), key=lambda kv: -kv[1]) if rid in info]

    def enough_shared(self, programmes: Collection[str], exclude_pairs: Collection[str], minimum: int) -> bool:
        """Whether these programmes hold at least ``minimum`` shared debriefs outside the asker's
        own pairs: below that, a participant is shown no one's words (see coach.ui.topics)."""
        return minimum <= 0 or shared_debriefs_outside(self.db, programmes, exclude_pairs) >= minimum


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
    pair_id: str = ""
    quote: str = ""


@dataclass
class Quote:
    """One supporting record as a person reads it: its words (names replaced), and whose pair."""

    text: str
    kind: str
    role: str  # whose debrief it comes from: senior | junior
    topic: str  # the earlier pair's topic
    senior_role: str
    junior_role: str
    said: str = ""  # the participant's own words behind it, names replaced ("" for ingested records)
    debrief_id: str = ""  # for facilitators and exports only
    later: str = ""  # an action's status at its follow-up ("dropped"), when an approved, shared outcome says


@dataclass
class Suggestion:
    topic: str
    why: str
    evidence: list[str]  # debrief ids
    score: float
    generic: bool = False
    records: list[str] = field(default_factory=list)  # record ids behind the card
    written_by: str = "offline"
    strength: str = "strong"  # strong (fits well) | weaker | starter (generic)
    fit: str = ""  # why it fits this senior and this junior
    finding: str = ""  # what the earlier senior found
    quotes: list[Quote] = field(default_factory=list)
    pairs: int = 0  # earlier pairs behind it (a pair's two debriefs are one)

    def contract(self) -> dict:
        out: dict[str, Any] = {"topic": self.topic, "why": self.why, "evidence": self.evidence,
                               "score": round(self.score, 4), "strength": self.strength, "pairs": self.pairs}
        if self.generic:
            out["generic"] = True
        return out


def starter_topics(k: int, prompts_dir: Path | None = None, skip: int = 0) -> list[Suggestion]:
    data = yaml.safe_load(((prompts_dir or default_prompts_dir()) / "protocol" / "starter_topics.yaml").read_text())
    return [Suggestion(topic=t["topic"], why=f"Generic starter topic: {t['why']}", evidence=[], score=0.0,
                       generic=True, strength="starter") for t in data["topics"][skip:skip + k]]


# -- retrieval -----------------------------------------------------------------------------------

def retrieve(corpus: Corpus, senior: str, junior: str, n: int = CANDIDATES,
             programmes: Collection[str] | None = None) -> list[Evidence]:
    """Nearest records to the senior's context and to the junior's strengths (two plain queries,
    one call, no metadata filter). A record found by one query only gets, for the other, that
    query's lowest similarity among its results: an upper bound, since it ranked below them."""
    sims, info = corpus.nearest(MiniLM.shared().embed([senior, junior]), n, programmes)
    floor = [min(s.values()) if s else 0.0 for s in sims]
    return [Evidence(f"r{rid}", m["debrief_id"], m["kind"], m["text"], m["role"], m["topic"], m["created"],
                     sims[0].get(rid, floor[0]), sims[1].get(rid, floor[1]), m["before"], m["after"], m["pair_id"])
            for rid, m in info.items()]


_TEXT_CACHE: dict[str, np.ndarray] = {}
_TEXT_CACHE_MAX = 50_000


def topic_vectors(texts: list[str]) -> np.ndarray:
    """Topics and roles repeat across queries (a programme has few): embed each once per process."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    missing = list(dict.fromkeys(t for t in texts if t not in _TEXT_CACHE))
    if missing:
        if len(_TEXT_CACHE) + len(missing) > _TEXT_CACHE_MAX:
            _TEXT_CACHE.clear()
        _TEXT_CACHE.update(zip(missing, MiniLM.shared().embed(missing)))
    return np.stack([_TEXT_CACHE[t] for t in texts])


@dataclass
class PastPair:
    """An earlier pair as evidence: all its suggestible records, scored against the new pair."""

    pair_id: str
    topic: str
    senior_role: str
    junior_role: str
    rows: list[dict]
    vec: np.ndarray = field(default_factory=lambda: np.zeros(0))  # its topic's
    senior_side: float = 0.0
    junior_side: float = 0.0
    role_sim: float = 0.0  # its senior's role against the new senior
    topic_junior: float = 0.0  # its topic alone against the new junior
    score: float = 0.0  # how close it is to the new pair: what the thresholds read
    rank: float = 0.0  # what orders the candidates (the score once the programme's mean topic is taken away)
    junior_query: np.ndarray = field(default_factory=lambda: np.zeros(0))
    names: dict[str, str] = field(default_factory=dict)
    outcomes: list[dict] = field(default_factory=list)  # what became of its actions (records.pair_outcomes)

    @property
    def junior_role_sim(self) -> float:
        """Its junior's role against the new junior (for the card's text only: embedded when asked)."""
        return float(topic_vectors([self.junior_role])[0] @ self.junior_query)


def _top2(x: np.ndarray) -> float:
    """The mean of the two largest values (the value itself for one)."""
    if len(x) == 1:
        return float(x[0])
    a, b = np.partition(x, len(x) - 2)[-2:]
    return float(a + b) / 2


def past_pairs(corpus: Corpus, senior: str, junior: str, programmes: Collection[str] | None = None,
               exclude_pairs: Collection[str] = ()) -> list[PastPair]:
    """The candidate past pairs of a new pair, each scored as a whole (see the module's doc), in
    the order of their ``rank``."""
    qv = MiniLM.shared().embed([senior, junior])
    rows = _candidate_rows(corpus, qv, programmes, exclude_pairs)
    if not rows:
        return []
    rec = np.stack([r["vector"] for r in rows])
    sim = rec @ qv.T  # every record against (senior, junior) at once
    by_pair: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        r["sim_senior"], r["sim_junior"] = float(sim[i, 0]), float(sim[i, 1])
        by_pair[r["pair_id"]].append(i)
    pairs = []
    for pid, idx in by_pair.items():
        mine = [rows[i] for i in idx]
        pairs.append(PastPair(pid, mine[0]["topic"], mine[0]["senior"], mine[0]["junior"], mine, names=_names_of(mine)))
    vecs = _pair_vectors(corpus.db, pairs, [rows[idx[0]]["pair_vectors"] for idx in by_pair.values()])
    groups = list(by_pair.values())
    to_query = vecs @ qv.T  # topics and senior roles against (senior, junior)
    sides = _scores(sim, to_query, groups)
    centre = topic_centre(corpus.db, programmes)
    ranks = sides if centre is None else _scores(*_centred(rec, vecs, qv, centre), groups)
    outcomes = pair_outcomes(corpus.db, [p.pair_id for p in pairs])
    for i, p in enumerate(pairs):
        p.vec, p.junior_query = vecs[i], qv[1]
        p.senior_side, p.junior_side, p.role_sim, p.topic_junior, p.score = (float(x) for x in sides[:, i])
        p.outcomes = outcomes.get(p.pair_id, [])
        p.rank = float(ranks[4, i]) + OUTCOME_WEIGHT * outcome_value(p.outcomes)
    pairs.sort(key=lambda p: -p.rank)
    return pairs


# What became of a past pair's actions a month on (#22): a topic whose actions were done and changed
# decisions ranks a little above one whose actions were dropped. A nudge among near equals only:
# the thresholds keep reading the plain score, and a pair without follow-ups is unchanged.
OUTCOME_WEIGHT = 0.03
OUTCOME_VALUES = {"done": 1.0, "partly": 0.5, "not_yet": 0.0, "dropped": -1.0}


def outcome_value(outcomes: list[dict]) -> float:
    """-1 (every action dropped) .. 1 (done, and a decision changed), 0 without follow-ups."""
    if not outcomes:
        return 0.0
    done = sum(OUTCOME_VALUES.get(o.get("status") or "", 0.0) for o in outcomes) / len(outcomes)
    changed = 0.5 if any(o.get("decision_changed") for o in outcomes) else 0.0
    return max(-1.0, min(1.0, done + changed))


def _candidate_rows(corpus: Corpus, qv: np.ndarray, programmes, exclude_pairs) -> list[dict]:
    """Every record (with its vector) of the past pairs whose records are nearest to either
    description: at most CANDIDATE_PAIRS pairs, those with the nearest record first."""
    sims, pair_of = corpus.nearest_pairs(qv, CANDIDATES, programmes)
    best: dict[str, float] = {}
    for rid, pid in pair_of.items():
        if pid in exclude_pairs:
            continue
        s = max(sims[0].get(rid, -1.0), sims[1].get(rid, -1.0))
        if s > best.get(pid, -2.0):
            best[pid] = s
    chosen = sorted(best, key=lambda p: -best[p])[:CANDIDATE_PAIRS]
    return [r for r in pair_records(corpus.db, chosen, programmes) if r["vector"] is not None]


def _scores(sim: np.ndarray, to_query: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Per pair (columns): senior side, junior side, senior role ~ senior, topic ~ junior, score;
    from its records' similarities ``sim`` and its topic's and senior role's ``to_query``
    (topics first, then roles) against (senior, junior)."""
    n = len(groups)
    out = np.zeros((5, n))
    for i, idx in enumerate(groups):
        out[0, i] = (to_query[i, 0] + _top2(sim[idx, 0])) / 2
        out[1, i] = (to_query[i, 1] + _top2(sim[idx, 1])) / 2
        out[2, i], out[3, i] = to_query[n + i, 0], to_query[i, 1]
    out[4] = (2 * out[0] + 2 * out[1] + 0.5 * out[2]) / 4.5
    return out


def _centred(rec: np.ndarray, vecs: np.ndarray, qv: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The records' and the topics' and roles' similarities to (senior, junior) once the
    programme's mean topic is taken from every vector (see :func:`topic_centre`)."""
    def unit(x: np.ndarray) -> np.ndarray:
        x = x - centre
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    q = unit(qv)
    return unit(rec) @ q.T, unit(vecs) @ q.T


CENTRE_MIN_PAIRS = 30  # below this, a programme's mean topic is too close to each of its topics to take away
CENTRE_SAMPLE = 1000  # pairs read for the mean: plenty for a stable mean, and a bounded read at any size
CENTRE_TTL = 3600.0  # seconds a programme's mean topic is reused: it moves little as pairs are added
_CENTRES: dict[tuple[str, frozenset[str] | None], tuple[float, np.ndarray | None]] = {}


def topic_centre(db: Database, programmes: Collection[str] | None) -> np.ndarray | None:
    """The mean topic vector of the programmes' pairs (None below CENTRE_MIN_PAIRS), cached.

    Every topic of a reverse-mentoring programme says much the same thing ("how younger people
    use a digital tool"), so raw similarities are dominated by what all pairs share and a broad
    topic sits close to every query. Taken from every vector before ranking, the mean leaves
    what sets one pair's topic apart from the others' (evals/suggest/README.md). Only the order
    uses it: the thresholds read the plain similarities, whose scale does not move with a
    programme's mix of topics."""
    key = (str(db.engine.url), None if programmes is None else frozenset(programmes))
    now = time.monotonic()
    hit = _CENTRES.get(key)
    if hit is not None and now - hit[0] < CENTRE_TTL:
        return hit[1]
    _CENTRES[key] = (now, _mean_topic(db, programmes))
    return _CENTRES[key][1]


def _mean_topic(db: Database, programmes: Collection[str] | None) -> np.ndarray | None:
    """The mean of the topic vectors of at most CENTRE_SAMPLE of the programmes' pairs (a pair
    still without vectors gets them now, as candidates do)."""
    q = select(Pair.id, Pair.vectors).limit(CENTRE_SAMPLE)
    if programmes is not None:
        q = q.where(Pair.programme.in_(list(programmes)))
    with db.engine.connect() as conn:
        rows = conn.execute(q).all()
    missing = [pid for pid, blob in rows if not blob]
    if missing:
        fill_pair_vectors(db, missing)
        with db.engine.connect() as conn:
            rows = conn.execute(select(Pair.id, Pair.vectors).where(Pair.id.in_([pid for pid, _ in rows]))).all()
    topics = [v[0] for v in (pair_vectors_of(blob) for _, blob in rows) if v is not None]
    return np.mean(topics, axis=0) if len(topics) >= CENTRE_MIN_PAIRS else None


def _pair_vectors(db, pairs: list[PastPair], blobs: list[bytes | None]) -> np.ndarray:
    """The pairs' topic vectors, then their senior roles' (as stored with each pair; a pair
    without them yet gets them derived and stored now, once)."""
    missing = [p.pair_id for p, b in zip(pairs, blobs) if not b]
    if missing:
        fill_pair_vectors(db, missing)
        with db.engine.connect() as conn:
            got = dict(conn.execute(select(Pair.id, Pair.vectors).where(Pair.id.in_(missing))).all())
        blobs = [b or got.get(p.pair_id) for p, b in zip(pairs, blobs)]
    both = [pair_vectors_of(b) for b in blobs]
    if any(v is None for v in both):  # removed meanwhile: embed here
        return topic_vectors([p.topic for p in pairs] + [p.senior_role for p in pairs])
    return np.stack([v[0] for v in both if v] + [v[1] for v in both if v])


def _names_of(rows: list[dict]) -> dict[str, str]:
    """Names a pair's quotes may mention, with what replaces them."""
    out: dict[str, str] = {}
    for r in rows:
        out |= {n: lab for n, lab in pair_names(r).items() if n not in out}
    return out


def pair_names(r: dict) -> dict[str, str]:
    """The names of a record's pair (its Pair row, its debrief's participant) and their labels."""
    out = {}
    for name, label in ((r.get("senior_name"), SENIOR), (r.get("junior_name"), JUNIOR),
                        (r.get("participant_name"), SENIOR if r.get("role") == "senior" else JUNIOR)):
        if name and name.strip() and name.strip() not in out:
            out[name.strip()] = label
    return out


# -- cards ---------------------------------------------------------------------------------------

@dataclass
class _Card:
    lead: PastPair
    members: list[PastPair]
    tier: str = "weaker"

    @property
    def rows(self) -> list[dict]:
        return [r for p in self.members for r in p.rows]

    @property
    def score(self) -> float:
        """What orders the cards (and the card's score in the JSON: best first)."""
        return self.lead.rank

    def fits_well(self, best: float, runner_up: float, rule: FitsWell) -> bool:
        p = self.lead
        return (p.score >= rule.strong and min(p.senior_side, p.junior_side) >= rule.cross_check
                and p.topic_junior >= rule.junior_topic and p.rank >= best - rule.near_best
                and best - runner_up >= rule.margin)


def _runner_up(cards: list[_Card], rule: FitsWell) -> float:
    """The score of the first card not within ``near_best`` of the best (0 when there is none)."""
    best = cards[0].score
    return next((c.score for c in cards if c.score < best - rule.near_best), 0.0)


def _cards(pairs: list[PastPair]) -> list[_Card]:
    """Pairs above SHOW, best first; a pair whose topic says the same as a better one's joins its card."""
    cards: list[_Card] = []
    for p in pairs:
        if p.score < SHOW:
            continue
        for c in cards:
            if float(p.vec @ c.lead.vec) >= MERGE_SIMILAR_TOPICS:
                c.members.append(p)
                break
        else:
            cards.append(_Card(p, [p]))
    return [c for c in cards if len(c.rows) >= MIN_SUPPORT]


def _choose(cards: list[_Card], k: int, rule: FitsWell | None = None) -> list[_Card]:
    """Strong cards first, then weaker ones; within each, by score less a little for repeating a
    topic already chosen."""
    rule = rule or FITS_WELL
    chosen: list[_Card] = []
    if cards:
        best, second = cards[0].score, _runner_up(cards, rule)
        for c in cards:
            c.tier = "strong" if c.fits_well(best, second, rule) else "weaker"
    for tier in ("strong", "weaker"):
        pool = [c for c in cards if c.tier == tier]
        while pool and len(chosen) < k:
            def mmr(c: _Card) -> float:
                overlap = max((float(c.lead.vec @ x.lead.vec) for x in chosen), default=0.0)
                return c.score - DIVERSITY * max(overlap, 0.0)
            pick = max(pool, key=mmr)
            pool.remove(pick)
            chosen.append(pick)
    return chosen


def suggest(corpus: Corpus, senior: str, junior: str, k: int = 5, *, writer=None, now: float | None = None,
            prompts_dir: Path | None = None, programmes: Collection[str] | None = None,
            exclude_pairs: Collection[str] = (), fill: bool = False) -> list[Suggestion]:
    """Up to ``k`` topic ideas for a new pair, those that fit well first, then weaker ones, each with
    the ids of the debriefs behind it (from ``programmes`` only, when given; never from
    ``exclude_pairs``). Generic starter topics when nothing is close enough; with ``fill``, starter
    topics also make up the number asked for. ``now`` is accepted for callers of old; unused."""
    if not (senior or "").strip() or not (junior or "").strip():
        raise ValueError("Describe both the senior (role, context) and the junior (role, strengths).")
    chosen = _choose(_cards(past_pairs(corpus, senior, junior, programmes, exclude_pairs)), k)
    # the juniors' roles the cards' text compares (only those sharing a word: see related()), in one batch
    topic_vectors([c.lead.junior_role for c in chosen if _words(c.lead.junior_role) & _words(junior)])
    out = []
    for c in chosen:
        card = _suggestion(c, senior, junior)
        if writer is not None:
            ev = [_evidence(r) for r in sorted(c.rows, key=lambda r: -(r["sim_senior"] + r["sim_junior"]))]
            written = writer(card, ev)
            if written is not None and written is not card:
                keep = set(written.evidence)
                written.strength, written.fit, written.finding = card.strength, card.fit, card.finding
                written.quotes = [q for q in card.quotes if q.debrief_id in keep]
                written.pairs = len({r["pair_id"] for r in c.rows if r["debrief_id"] in keep})
                card = written
        out.append(card)
    if not out:
        return starter_topics(k, prompts_dir)
    if fill and len(out) < k:
        out += starter_topics(k - len(out), prompts_dir)
    return out


def _evidence(r: dict) -> Evidence:
    return Evidence(f"r{r['id']}", r["debrief_id"], r["kind"], r["text"], r["role"], r["topic"], r["created"],
                    r["sim_senior"], r["sim_junior"], r["before"], r["after"], r["pair_id"], r.get("quote") or "")


def _suggestion(c: _Card, senior: str, junior: str) -> Suggestion:
    rows = sorted(c.rows, key=lambda r: -(r["sim_senior"] + r["sim_junior"]))
    fit = fit_reason(c.lead, senior, junior, extra_pairs=len(c.members) - 1)
    finding = _finding(c)
    # an action quoted as evidence says what became of it, when its follow-up says (a dropped plan is no example)
    later = {o["action_record"]: o.get("status") or "" for m in c.members for o in m.outcomes if o.get("action_record")}
    quotes = [_quote(r, later.get(r["id"], "") if r["kind"] == "action" else "") for r in rows[:QUOTES_PER_CARD]]
    why = f"{fit} {finding}".strip()
    return Suggestion(topic=c.lead.topic, why=why, evidence=sorted({r["debrief_id"] for r in rows}), score=c.score,
                      records=sorted(f"r{r['id']}" for r in rows), strength=c.tier, fit=fit, finding=finding,
                      quotes=quotes, pairs=len(c.members))


def _quote(r: dict, later: str = "") -> Quote:
    names = pair_names(r)
    if r["kind"] == "broken_assumption" and r["before"] and r["after"]:
        text = f"Believed “{_clip(r['before'])}”; after the sessions: “{_clip(r['after'])}”"
    else:
        text = r["text"]
    said = (r.get("quote") or "").strip()
    return Quote(text=redact(text, names), kind=r["kind"], role=r["role"], topic=r["topic"],
                 senior_role=r["senior"], junior_role=r["junior"],
                 said=redact(said, names) if said and said != text else "", debrief_id=r["debrief_id"], later=later)


def _clip(s: str) -> str:
    return s.strip().rstrip(".").strip()


def _finding(c: _Card) -> str:
    """What an earlier senior found: their broken assumption closest to the new pair, or else what
    they learned (names replaced)."""
    rows = sorted(c.rows, key=lambda r: -(r["sim_senior"] + r["sim_junior"]))
    broken = [r for r in rows if r["kind"] == "broken_assumption" and r["role"] == "senior" and r["before"]
              and r["after"]]
    if broken:
        b = broken[0]
        return redact(f"The earlier senior believed “{_clip(b['before'])}”; after the sessions: “{_clip(b['after'])}”.",
                      pair_names(b))
    learned = [r for r in rows if r["kind"] == "learned" and r["role"] == "senior"]
    if learned:
        return redact(f"The earlier senior learned: “{_clip(learned[0]['text'])}”.", pair_names(learned[0]))
    other = [r for r in rows if r["kind"] != "action"] or rows
    who = "senior" if other[0]["role"] == "senior" else "junior"
    return redact(f"The earlier {who} recorded: “{_clip(other[0]['text'])}”.", pair_names(other[0]))


# -- why it fits this pair -----------------------------------------------------------------------

_STOP = frozenset("""a an the of and or to in on for with at by from as is are was were be been being it its this that
these those their they them our we you your i my me he she his her who whose which what how why when where not no do
does did have has had can will would should could about into than then so such more most less very just also only all
any some own new young younger old older people years year year-old aged age junior senior head director manager
assistant officer lead chief always never often still now has been who's over under up out one two three""".split())


@lru_cache(maxsize=20_000)
def _words(text: str) -> frozenset[str]:
    """A text's content words, lower-cased, with common endings cut (for matching, not showing)."""
    out = set()
    for w in re.findall(r"[a-z][a-z0-9'-]+", text.lower()):
        w = w.strip("'-")
        if len(w) < 3 or w in _STOP:
            continue
        for suffix in ("'s", "ies", "ing", "ers", "ed", "es", "er", "s"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 4:
                w = w[: -len(suffix)]
                break
        out.add(w)
    return frozenset(out)


def _clauses(text: str) -> list[str]:
    parts = re.split(r"[,;:()]|\s+-\s+|\bwho\b|\bwhose\b|\bbut\b|\. ", text)
    return [p.strip(" .") for p in parts if len(p.strip(" .")) > 2]


def _closest_clause(text: str, evidence_words: frozenset[str], after_role: float = 0.0) -> str:
    """The part of a description that shares the most words with the evidence ("" if none);
    ``after_role`` favours the parts after the first (a junior's strengths over their job title)."""
    best, hits = "", 0.0
    for i, c in enumerate(_clauses(text)):
        n = len(_words(c) & evidence_words)
        if n and n + (after_role if i else 0.0) > hits:
            best, hits = c, n + (after_role if i else 0.0)
    words = best.split()
    return " ".join(words[:12]) + (" …" if len(words) > 12 else "")


def fit_reason(p: PastPair, senior: str, junior: str, extra_pairs: int = 0) -> str:
    """One or two sentences: why an earlier pair's topic fits this senior and this junior, from
    the query's own words and the evidence (offline; no names)."""
    ev = frozenset().union(*(_words(t) for t in [p.topic, p.senior_role, p.junior_role] + [r["text"] for r in p.rows]))
    s_clause, j_clause = _closest_clause(senior, ev), _closest_clause(junior, ev, after_role=0.5)
    if related(p.role_sim, p.senior_role, senior):
        first = f"An earlier senior in a related role ({_short(p.senior_role)}) worked on it"
    else:
        first = f"An earlier pair ({_short(p.senior_role)} with {_short(p.junior_role)}) worked on it"
    first += f"; it speaks to this senior's “{s_clause}”" if s_clause else ""
    second = (f"It builds on what this junior does (“{j_clause}”)" if j_clause else
              "It is close to this junior's strengths")
    if _words(p.junior_role) & _words(junior) and related(p.junior_role_sim, p.junior_role, junior):
        second += f", as the earlier junior ({_short(p.junior_role)}) did"
    more = f" {extra_pairs + 1} earlier pairs worked on it." if extra_pairs else ""
    return f"{first}. {second}.{more}"


def related(similarity: float, role: str, other: str) -> bool:
    """Whether two roles are measurably similar: their descriptions' vectors at least ROLE_SIMILAR
    apart and a word in common beyond job-title words (callers test the words first: they cost no
    embedding) ("Retail director" and "Retail operations
    director" are; "Retail director" and "Finance director", at 0.64, are not)."""
    return similarity >= ROLE_SIMILAR and bool(_words(role) & _words(other))


def _short(role: str, words: int = 10) -> str:
    w = role.strip().rstrip(".").split()
    return " ".join(w[:words]) + (" …" if len(w) > words else "")


# -- no one recognisable -------------------------------------------------------------------------

SENIOR, JUNIOR, COLLEAGUE = "[the senior]", "[the junior]", "[a colleague]"

# Common given names across the languages participants write in. A capitalised word on this list
# is taken for a name wherever it stands; the ambiguous ones (also words, months or places) only
# before a verb people do (``_PERSON_VERBS``) or inside a sentence; any other capitalised word only
# before such a verb ("Okafor showed me") or after a title ("Dr Hale"). Checked on the gold set's
# transcripts (evals/README.md, "Suggestions").
_GIVEN_NAMES = frozenset("""
aaron abby abdul abdullah abena abigail abu ada adam adaeze adebayo adele adeola adrian adriana agnes ahmed aidan aiden
aisha akira akosua alan alba albert alberto alejandro aleksandra alex alexa alexander alexandra alexis alfie ali alice
alicia alina alisha alison alistair amal amanda amara amelia amina amir amira amit amy ana anders andre andrea andreas
andrew andy aneesh angela angus anika anita anja ann anna anne annie anton antonio anya aoife arjun arthur arun asha
ashley aziz bartek bea beatriz becky ben benjamin bernard beth bethany bilal bjorn blessing bogdan brandon brian
bridget bruno bukola caitlin callum cameron camila carla carlos carmen caroline cath catherine cecilia charlie charlotte
chen chidi chinedu chioma chloe chris christian christina christine chukwu ciara claire clara colin connor craig
dami damian dan dana daniel daniela daniele danny darius darren dave david deepa deepak dennis derek dev devi diana diego
dimitri dmitri dominic donna duncan dylan ebony eden edward efe eilidh elena eleanor eli elif elijah elisa eliza
elizabeth ella ellen ellie elsa emeka emil emily emma emre eric erin esther ethan eva evie ewa fatima fatma femi
fergus finn fiona florian francesca francesco freddie freya funmi gabriel gabriela gareth gary gemma george georgia
gerald gianni gillian giorgio giulia gordon graham greta gustav hamza hana hannah hans harriet harry harvey hassan
hayley heather hector helen helena henrik henry hiroshi holly hugo iain ian ibrahim ida ife ifeoma igor ikechukwu ilse
imogen ines ingrid irene iris isaac isabel isabella isla ismail ivan jacob jade jake james jamie jan jana jane janet
jasmine jason javier jay jayden jeff jennifer jenny jeremy jess jessica jim jo joan joanna joanne joe joel johan john
jon jonas jonathan jordan jorge jose josef joseph josh joshua juan julia julian julie justin kacper kai kamal kuba jakub mateus mateusz joao kara
karen karim karin kasia kate katie katarzyna kayla keith kemi ken kenji kevin khalid kieran kim kirsty kofi kwame
kyle lara laura lauren layla leah lee leila lena leo leon liam lily lina linda lisa liz lotte louis louise luca lucas
lucia lucy luis lukas luke lydia lynn mads magda magdalena maja malik mandy manuel marc marco marcus margaret maria
mariam marie marta martin mary maryam mateo matt matteo matthew maya megan mehmet mei mia michael michal michelle miguel
mike mila milan ming mira miriam mo mohamed mohammed molly monica morgan muhammad nadia naomi natalia natalie nathan
neha neil nia niamh nick nicola nicole nikhil nikita niklas nina noah noor nora nuno obinna oksana ola olena oliver
olivia omar oscar owen pablo paolo patrick paul paula pawel pedro peter petra phil philip piotr pooja priya rachel
rafael rahul raj rajesh ramon rania ravi rebecca reza rhys ricardo richard rik rita rob robert robin roisin
rory rosa ruby rui ruth ryan sadia saeed sahil sally sam samir samira samuel sandra sanjay sanne sara sarah sasha
scott sean sebastian shanice sharon shauna shreya simon sinead siobhan sofia sofie sonia sophia sophie stefan
stella stephen steve steven stuart sunita susan suzanne sven tariq tamara tanya tara teresa thomas tim timothy tobias
tom tomas tomasz tony tyler una uche usman valentina vanessa victor victoria vikram vinay vincent wei wendy will
william xavier yara yasmin yusuf yuki zainab zara zoe zofia zuzanna
""".split())
_AMBIGUOUS = frozenset("""ada alexa april art august bill dawn eden faith frank georgia grace guy hope jack jan jay
joy julia june may mark max milan pat ray rob rose ruby sky summer sue victoria will""".split())
_NOT_NAMES = frozenset("""i he she they we you it one who nobody somebody someone everyone everybody anyone anybody
this that these those there here what which my our your his her their mum dad mother father boss manager team
everything nothing something anything has had was is did does can could would should also""".split())
_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor)\.?"
_CAP = r"(?:O'|Mc|Mac)?[A-Z][a-z]+(?:-[A-Z][a-z]+)?"


_PERSON_VERBS = (r"showed|show|told|taught|explained|walked|reckons|laughed|admitted|insisted|messaged|reminded|"
                 r"convinced|persuaded|corrected|warned|said|asked|helped")
_WORD = re.compile(rf"(?<![\w\[])({_CAP})(?![\w\]])")
_LABELS = r"\[(?:the senior|the junior|a colleague)\]"


_MONTHS = frozenset("april august june may".split())


def _looks_like_name(word: str, before: str, after: str) -> bool:
    """Whether a capitalised word is a person's name, from the word and the text around it."""
    w = word.lower()
    if w in _NOT_NAMES:
        return False
    if w in _GIVEN_NAMES and w not in _AMBIGUOUS:
        return True
    by_verb = bool(re.match(rf"(?:['’]s\b|\s+(?:{_PERSON_VERBS})\b)", after))
    if w in _AMBIGUOUS:  # "Will", "Mark": a name before a verb people do, or inside a sentence (not a month)
        inside = bool(re.search(r"[a-z,]\s+$", before))
        return by_verb or (inside and w not in _MONTHS)
    return bool(re.match(rf"\s+(?:{_PERSON_VERBS})\b", after))


def redact(text: str, known: dict[str, str] | None = None) -> str:
    """Text with people's names replaced: the names in ``known`` (the pair's participants) by their
    label ("[the junior]"), any other name by "[a colleague]": a common given name, an ambiguous one
    ("Will", "May") or any capitalised word only where a person stands ("Okafor showed me"), a
    name after a title ("Dr Hale"). A surname right after a name goes with it."""
    if not text:
        return text
    for name, label in sorted((known or {}).items(), key=lambda kv: -len(kv[0])):
        for part in dict.fromkeys([name.strip()] + [w for w in name.split() if len(w) > 1]):
            text = re.sub(rf"(?<![\w\[]){re.escape(part)}(?![\w\]])", label, text)
    text = re.sub(rf"\b{_TITLES}\s+{_CAP}", COLLEAGUE, text)
    text = _WORD.sub(lambda m: COLLEAGUE if _looks_like_name(m.group(1), m.string[max(0, m.start() - 20):m.start()],
                                                             m.string[m.end():m.end() + 40]) else m.group(0), text)
    # a surname after a name, and a full name replaced word by word
    text = re.sub(rf"({_LABELS})\s+(?!(?:I|A|An|The)\b){_CAP}(?![\w\]])(?!\s*[:.!?]\s*$)", r"\1", text)
    return re.sub(rf"({_LABELS})(?:\s+{_LABELS})+", r"\1", text)


# -- what surprised similar seniors --------------------------------------------------------------

def surprises(corpus: Corpus, senior: str, k: int = 5, programmes: Collection[str] | None = None,
              exclude_pairs: Collection[str] = ()) -> list[dict]:
    """Senior view: what earlier seniors found surprising (their broken assumptions), those in the
    most similar roles and contexts first; ``related`` says whether the earlier senior's role is
    measurably similar (:func:`related`). Names replaced."""
    pairs = past_pairs(corpus, senior, senior, programmes, exclude_pairs)
    found = []
    for p in pairs:
        for r in p.rows:
            if r["kind"] == "broken_assumption" and r["role"] == "senior" and r["before"] and r["after"]:
                found.append((0.5 * p.role_sim + 0.5 * r["sim_senior"], p, r))
    found.sort(key=lambda x: -x[0])
    out = []
    for _, p, r in found[:k]:
        finding = f"Believed: {_clip(r['before'])} → Now: {r['after'].strip()}"
        out.append({"finding": redact(finding, p.names), "topic": p.topic, "senior_role": p.senior_role,
                    "related": related(p.role_sim, p.senior_role, senior), "evidence": [r["debrief_id"]]})
    return out


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
        lines = "\n".join(f"- [{e.debrief_id}] ({e.role}, {e.kind}) {redact(e.text)}" for e in evidence[:12])
        try:
            out = gateway.structured(prompt.messages(topic=card.topic, evidence=lines), Card,
                                     purpose="suggestions.card", prompt=prompt, max_tokens=300, temperature=0.2)
        except GatewayError:
            return None
        allowed = set(card.evidence)
        if not out.evidence or not set(out.evidence) <= allowed or not out.topic.strip() or not out.why.strip():
            return None  # a claim not backed by the retrieved records is never shown
        return Suggestion(topic=out.topic.strip(), why=redact(out.why.strip()), evidence=sorted(set(out.evidence)),
                          score=card.score, records=card.records, written_by="model")

    return write


# -- batches (facilitators) ----------------------------------------------------------------------

class BatchError(ValueError):
    pass


def read_batch(src: Path) -> list[dict]:
    """The rows of a batch CSV: columns senior, junior and optionally k, in any letter case and
    order, separated by commas or semicolons, values quoted or not. Checked before anything runs."""
    import csv

    try:
        raw = src.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise BatchError(f"{src.name}: cannot read it as UTF-8 text ({e})") from None
    lines = raw.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        table = [r for r in csv.reader(raw.splitlines(keepends=True), delimiter=delimiter) if any(c.strip() for c in r)]
    except csv.Error as e:
        raise BatchError(f"{src.name}: cannot read it as CSV ({e})") from None
    if not table:
        raise BatchError(f"{src.name}: needs a header row with the columns senior and junior")
    header = [h.strip().lower() for h in table[0]]
    if not {"senior", "junior"} <= set(header):
        raise BatchError(f"{src.name}: needs a header row with the columns senior and junior "
                         f"(found: {', '.join(h for h in header if h) or 'none'})")
    rows = []
    for n, r in enumerate(table[1:], start=2):
        if len(r) > len(header) and any(c.strip() for c in r[len(header):]):
            sep = "semicolon" if delimiter == ";" else "comma"
            raise BatchError(f"{src.name}:{n}: more values than columns; put double quotes around a value that "
                             f'contains a {sep} ("Nurse{delimiter} 23{delimiter} runs the ward\'s TikTok")')
        row = {h: (r[i].strip() if i < len(r) else "") for i, h in enumerate(header) if h}
        if not row.get("senior") or not row.get("junior"):
            raise BatchError(f"{src.name}:{n}: senior and junior must both be filled in")
        if row.get("k") and not row["k"].isdigit():
            raise BatchError(f"{src.name}:{n}: k must be a whole number")
        if row.get("k") and not 1 <= int(row["k"]) <= 10:
            raise BatchError(f"{src.name}:{n}: k must be between 1 and 10")
        rows.append(dict(row, line=n))
    if not rows:
        raise BatchError(f"{src.name}: no pairs under the header row")
    return rows


BATCH_COLUMNS = ["row", "senior", "junior", "rank", "fit", "topic", "why", "what the earlier senior found",
                 "evidence", "generic"]


def batch_results(corpus: Corpus, rows: list[dict], writer=None, default_k: int = 3,
                  programmes: Collection[str] | None = None, exclude_pairs: Collection[str] = ()) -> list[list]:
    """The ideas for every row, as the page gives them for one pair: the number asked for (the row's
    k, else ``default_k``), those that fit well first, then weaker ones, then starter topics."""
    out: list[list] = []
    for r in rows:
        k = int(r["k"]) if r.get("k") else default_k
        cards = suggest(corpus, r["senior"], r["junior"], k=k, writer=writer, programmes=programmes,
                        exclude_pairs=exclude_pairs, fill=True)
        for rank, c in enumerate(cards, 1):
            fit = {"strong": "fits well", "weaker": "weaker", "starter": "starter (generic)"}[c.strength]
            out.append([r["line"], r["senior"], r["junior"], rank, fit, c.topic, c.fit or c.why, c.finding,
                        " ".join(c.evidence), c.generic])
    return out


def write_batch(results: list[list], out: Path) -> Path:
    import csv

    from coach.review import csv_safe

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(BATCH_COLUMNS)
        for row in results:
            w.writerow([csv_safe(v) for v in row])
    tmp.replace(out)  # nothing half-written
    return out


def batch_suggest(corpus: Corpus, src: Path, out_dir: Path, writer=None, default_k: int = 3,
                  programmes: Collection[str] | None = None, exclude_pairs: Collection[str] = ()) -> Path:
    """CSV in (senior, junior[, k]) -> CSV out (row, senior, junior, rank, fit, topic, why, finding,
    evidence, generic). Checked first; nothing is written for a file with a bad row."""
    rows = read_batch(src)
    results = batch_results(corpus, rows, writer, default_k, programmes, exclude_pairs)
    return write_batch(results, out_dir / f"{src.stem}-suggestions.csv")


def cited(cards: Iterable[Suggestion]) -> list[str]:
    """The debrief ids behind cards (for the access log)."""
    return sorted({e for c in cards for e in c.evidence})
