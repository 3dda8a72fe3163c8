"""The facilitator's review desk: the queue of shared debriefs, a debrief's transcript and
items, decisions, the programme dashboard, exports and the pair synthesis.

A facilitator sees only debriefs of their programme whose participant confirmed and agreed to
share; every opening, decision and export is written to the access log. Record writes go
through coach.records.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import joinedload

from coach.extraction.records import Turn as XTurn
from coach.extraction.records import answered_slots, normalise, without_superseded
from coach.policy import OPERATOR, Actor, check_reviewer
from coach.records import INDEXED_KINDS, Records, ReviewError, app_pairs, shared_debrief
from coach.store.db import Database
from coach.store.models import Debrief, Pair, Record

Audit = Callable[[Actor, str, str, str | None], None]  # (actor, action, target, detail)

SYNTHESIS_MATCH = 0.45  # MiniLM cosine at which a taught point and a learned item count as the same
# Spreadsheets run a cell that starts with one of these as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def outcome_columns(row: dict) -> dict:
    """An outcome's action (in the participant's words), status and decision changed, as columns."""
    d = (row.get("detail") or {}) if row.get("kind") == "outcome" else {}
    return {"action": d.get("action"), "status": d.get("status"), "decision_changed": d.get("decision_changed")}


def csv_safe(value):
    """A cell a spreadsheet shows as text: a leading quote before a formula-like start."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


class Review:
    def __init__(self, db: Database, records: Records, audit: Audit, risk=None):
        """``risk`` (coach.risk.PairsAtRisk), if given, adds the pairs by status to the dashboard."""
        self.db, self.records, self.audit, self.risk = db, records, audit, risk

    def _programme(self, actor: Actor) -> str | None:
        """The programme a reviewer sees (None: every programme, for the operator only)."""
        if actor is OPERATOR:
            return None
        actor.require("facilitator")
        return actor.programme or ""

    def queue(self, actor: Actor) -> list[dict]:
        """Debriefs of the actor's programme whose participant confirmed and agreed to share, and
        shared ingested ones holding records back for review (suspected injections, coach.ingest)."""
        programme = self._programme(actor)
        held = select(Record.id).where(Record.debrief_id == Debrief.id, Record.status == "pending").exists()
        q = (select(Debrief).join(Debrief.pair)
             .where(Debrief.shared.is_(True), or_(and_(Debrief.confirmed_at.is_not(None), Debrief.source.in_(("interview", "followup"))),
                                                  and_(Debrief.source == "ingest", held)))
             .options(joinedload(Debrief.pair), joinedload(Debrief.records)).order_by(Debrief.updated_at.desc()))
        if programme is not None:
            q = q.where(Pair.programme == programme)
        with self.db.session() as s:
            out = []
            for d in s.scalars(q).unique():
                c = Counter(r.status for r in d.records)
                name = getattr(d.pair, f"{d.role}_name") or (d.participant.display_name if d.participant else None)
                out.append({"id": d.id, "role": d.role, "topic": d.pair.topic, "programme": d.pair.programme,
                            "pending": c["pending"], "approved": c["approved"], "rejected": c["rejected"],
                            "suspect": sum(bool(r.suspect) and r.status == "pending" for r in d.records),
                            "source": d.source, "name": name, "pair": d.pair_id,
                            "shared_at": d.confirmed_at or d.updated_at})
            return out

    def open(self, actor: Actor, debrief_id: str) -> tuple[list[tuple[int, str, str, dict]], list[dict]]:
        """(transcript turns (index, speaker, text, meta), reviewable items) of a shared debrief;
        logged. Items the participant withdrew from their summary are not shown."""
        turns, items = self.read(actor, debrief_id)
        self.audit(actor, "review.open", f"debrief:{debrief_id}", f"{len(items)} records and the transcript")
        return turns, items

    def items(self, actor: Actor, debrief_id: str) -> list[dict]:
        return self.read(actor, debrief_id)[1]

    def read(self, actor: Actor, debrief_id: str):
        """(turns, items) of a shared debrief of the actor's programme, not logged (open() logs)."""
        with self.db.session() as s:
            d = shared_debrief(s, debrief_id)
            check_reviewer(actor, d.pair.programme)
            turns = [(t.idx, t.speaker, t.text, dict(t.meta or {})) for t in d.turns]
        items = [r for r in self.records.for_debrief(debrief_id) if r["status"] != "withdrawn"]
        return turns, items

    def decide_all(self, actor: Actor, debrief_id: str) -> int:
        """Approve every item of this debrief still waiting (after reading it); logged each."""
        pending = [r["id"] for r in self.items(actor, debrief_id) if r["status"] == "pending"]
        for rid in pending:
            self.decide(actor, debrief_id, rid, "approve")
        return len(pending)

    def decide(self, actor: Actor, debrief_id: str, record_id: int, action: str, **edits) -> dict:
        """approve | reject | edit | undo one item of this debrief; logged."""
        if record_id not in {r["id"] for r in self.items(actor, debrief_id)}:
            raise ReviewError("That item is not part of this debrief.")
        row = self.records.review(actor, record_id, action, **edits)
        self.audit(actor, f"review.{action}", f"record:{row['id']}", f"debrief:{debrief_id}")
        return row

    # -- programme views -------------------------------------------------------------------

    def export(self, actor: Actor, folder: Path, fmt: str) -> Path:
        """Approved records of shared debriefs of the actor's programme, as CSV or JSON."""
        if fmt not in ("csv", "json"):
            raise ReviewError("Export format must be csv or json.")
        programme = self._programme(actor)
        # with the follow-ups' outcomes: each names the action it is about, its status and any decision
        rows = [r | outcome_columns(r) for r in self.records.approved(programme, (*INDEXED_KINDS, "outcome"))]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"approved-records.{fmt}"
        if fmt == "json":
            path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
        else:
            cols = ["id", "programme", "topic", "role", "debrief", "kind", "text", "before", "after", "quote",
                    "theme", "depth", "scope", "reviewed_by", "reviewed_at", "suspect", "action", "status",
                    "decision_changed"]
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
                w.writeheader()
                w.writerows({k: csv_safe(v) for k, v in r.items()} for r in rows)
        self.audit(actor, f"export.{fmt}", f"programme:{programme}", "approved records")
        return path

    def dashboard(self, actor: Actor) -> dict:
        """The programme at a glance: approved items by theme and depth, the broken assumptions
        earlier seniors shared most (similar wordings grouped), and how far the round is."""
        programme = self._programme(actor)
        rows = self.records.approved(programme)
        by_theme_depth = Counter((r["theme"] or "other", r["depth"] or "awareness") for r in rows
                                 if r["kind"] in INDEXED_KINDS)
        beliefs = [r["before"].strip().rstrip(".") for r in rows if r["kind"] == "broken_assumption" and r["before"]]
        self.audit(actor, "dashboard", f"programme:{programme}", "aggregates and frequent broken assumptions")
        return {"theme_depth": [{"theme": t, "depth": d, "items": n} for (t, d), n in sorted(by_theme_depth.items())],
                "assumptions": [{"belief before (most typical wording)": w, "debriefs": n}
                                for w, n in group_by_meaning(beliefs)[:10]],
                "progress": self._progress(programme) + self._by_status(actor)}

    def _progress(self, programme: str | None) -> list[dict]:
        """Counts of the round, each saying what it counts (pairs run in the app, not ingested)."""
        with self.db.session() as s:
            pairs = app_pairs(s, programme)
            debriefs = [d for p in pairs for d in p.debriefs if d.source == "interview"]
            return [{"what": "pairs", "count": len(pairs)},
                    {"what": "sessions planned", "count": sum(p.sessions or 0 for p in pairs)},
                    {"what": "debriefs expected (2 a pair)", "count": 2 * len(pairs)},
                    {"what": "debriefs finished", "count": sum(d.status == "done" for d in debriefs)},
                    {"what": "debriefs shared", "count": sum(bool(d.shared and d.confirmed_at) for d in debriefs)}]

    def _by_status(self, actor: Actor) -> list[dict]:
        """Pairs by status (ok / at risk; closed ones not counted), as coach.risk assesses them."""
        if self.risk is None:
            return []
        counts = self.risk.counts(self.risk.overview(actor))
        return [{"what": f"pairs {status}", "count": counts[status]} for status in ("ok", "at risk")]

    def synthesis(self, actor: Actor, debrief_id: str) -> dict:
        """The pair synthesis for the pair of a debrief under review (both sides must have
        shared); logged."""
        with self.db.session() as s:
            d = shared_debrief(s, debrief_id)
            check_reviewer(actor, d.pair.programme)
            pair_id = d.pair_id
        out = pair_synthesis(self.db, pair_id)
        self.audit(actor, "review.synthesis", f"pair:{pair_id}", "both debriefs' taught points and learned items")
        return out


def attempt_spans(turns: list[tuple[int, str, str, dict]]) -> dict[int, list[str]]:
    """Per transcript turn, the words read as an attempt to instruct the software (either layer
    of the guard: coach.cues and coach.extraction.injection), for the reviewer to see: nothing of
    them became a record."""
    from coach.cues import injection_spans
    from coach.extraction.injection import Layer

    xturns = without_superseded([XTurn(sp, tx, meta) for _, sp, tx, meta in turns])
    layer = Layer(xturns)
    out: dict[int, list[str]] = {}
    for k, (idx, _, _, _) in enumerate(turns):
        if not xturns[k].is_participant_words or not xturns[k].text:
            continue
        text = normalise(xturns[k].text)
        found = [text[a:b] for a, b in injection_spans(text)] + [text[s.start:s.end] for s in layer.spans_in(k)]
        if found:
            out[idx] = found
    return out


GROUP_SIMILARITY = 0.6  # MiniLM cosine at which two stated beliefs count as the same belief


def group_by_meaning(texts: list[str]) -> list[tuple[str, int]]:
    """(most typical wording, how many) per group of texts that say the same thing, largest first:
    each text joins the first group whose first member it is close to; a group is shown by the
    member nearest to all the others."""
    if not texts:
        return []
    from coach.embeddings import MiniLM

    vecs = MiniLM.shared().embed(texts)
    groups: list[list[int]] = []
    for i, v in enumerate(vecs):
        home = next((g for g in groups if float(vecs[g[0]] @ v) >= GROUP_SIMILARITY), None)
        if home is None:
            groups.append([i])
        else:
            home.append(i)
    out = []
    for g in groups:
        centre = max(g, key=lambda i: sum(float(vecs[i] @ vecs[j]) for j in g))
        out.append((texts[centre], len(g)))
    return sorted(out, key=lambda x: -x[1])


def _shared_sides(pair: Pair) -> dict[str, Debrief]:
    return {d.role: d for d in pair.debriefs if d.source == "interview" and d.shared and d.confirmed_at}


def synthesis_fingerprint(pair: Pair) -> str | None:
    """A digest of everything :func:`pair_synthesis` reads (the junior's turns, the senior's
    records with their status, the match threshold), in a session; None when the pair has no
    synthesis. Cheap: no model runs, so a kept synthesis is reused until this changes."""
    import hashlib

    sides = _shared_sides(pair)
    if set(sides) != {"senior", "junior"}:
        return None
    h = hashlib.sha256(f"{SYNTHESIS_MATCH}".encode())
    for t in sides["junior"].turns:
        h.update(json.dumps([t.idx, t.speaker, t.text, t.meta], sort_keys=True, default=str).encode())
    for r in sorted(sides["senior"].records, key=lambda r: r.id):
        h.update(json.dumps([r.id, r.kind, r.status, r.text]).encode())
    return h.hexdigest()


def pair_synthesis(db: Database, pair_id: str) -> dict:
    """Line up what the junior says they taught against what the senior says they learned.

    Taught points are the junior's sentences answering the "what did you teach" question; learned
    points are the senior's extracted learned items and broken assumptions (pending or approved:
    this view is for the facilitator of a pair whose both sides shared; never what a reviewer
    rejected or the senior withdrew from their summary). Returns overlap and gaps.
    """
    from coach.embeddings import match_pairs
    from coach.extraction.offline import units

    with db.session() as s:
        pair = s.get(Pair, pair_id)
        if pair is None:
            raise ReviewError("No such pair.")
        sides = _shared_sides(pair)
        if set(sides) != {"senior", "junior"}:
            raise ReviewError("Both sides of the pair must have finished and shared their debrief.")
        jturns = [XTurn(t.speaker, t.text, t.meta) for t in sides["junior"].turns]
        # answers to the "what did you teach" question, its follow-ups and corrections, less the
        # answers a correction replaced
        taught_turns = {i for i, slot in answered_slots(jturns).items() if slot == "taught"}
        taught = [sent.text for sent, _ in units(without_superseded(jturns)) if sent.turn in taught_turns]
        learned = [r.text for r in sides["senior"].records if r.kind in ("learned", "broken_assumption")
                   and r.status not in ("rejected", "withdrawn")]
    if not taught or not learned:
        return {"overlap": [], "taught_not_learned": taught, "learned_not_taught": learned}
    pairs = match_pairs(taught, learned, SYNTHESIS_MATCH)
    used_t, used_l = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    overlap = [{"taught": taught[i], "learned": learned[j], "similarity": round(sim, 2)} for i, j, sim in pairs]
    return {"overlap": overlap,
            "taught_not_learned": [t for i, t in enumerate(taught) if i not in used_t],
            "learned_not_taught": [x for j, x in enumerate(learned) if j not in used_l]}
