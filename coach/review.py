"""Records for live debriefs, and the facilitator's review of them.

When an interview finishes, its transcript is extracted into records (status ``pending``). A
facilitator sees only debriefs whose participant confirmed and agreed to share; approving,
editing or rejecting an item records who and when. Approved items of shared debriefs are what
the index (and so topic suggestions) is built from.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Callable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from coach import extraction
from coach.extraction.records import Turn as XTurn
from coach.extraction.records import answered_slots, without_superseded
from coach.services import Services
from coach.store.models import Debrief, Pair, Record, utcnow

KIND_LABEL = {"learned": "Learned / gained", "broken_assumption": "Broken assumption", "action": "Action"}


class ReviewError(ValueError):
    pass


def record_row(r: Record) -> dict:
    return {"id": r.id, "debrief": r.debrief_id, "kind": r.kind, "text": r.text, "before": r.before,
            "after": r.after, "quote": r.quote, "turn_index": r.turn_index, "theme": r.theme, "depth": r.depth,
            "scope": r.scope, "status": r.status, "reviewed_by": r.reviewed_by,
            "reviewed_at": r.reviewed_at.isoformat() if r.reviewed_at else None, "extractor": r.extractor,
            "model": r.model, "prompt_id": r.prompt_id, "prompt_hash": r.prompt_hash}


class Records:
    def __init__(self, svc: Services):
        self.svc = svc

    # -- extraction of live debriefs -------------------------------------------------------

    def extract(self, debrief_id: str, extractor: str | None = None) -> int:
        """(Re-)extract a debrief's records; reviewed records are kept, pending ones replaced."""
        name = extractor or extraction.default_extractor(self.svc.settings)
        with self.svc.db.session() as s:
            d = s.get(Debrief, debrief_id)
            turns = [XTurn(t.speaker, t.text, t.meta) for t in d.turns]
            role, topic = d.role, d.pair.topic
        gateway = self.svc.gateway if name == "llm" else None
        try:
            ex = extraction.run(name, turns, role, topic=topic, gateway=gateway)
        except Exception:  # a model failure must not lose the debrief: fall back, retry later
            ex = extraction.run("offline", turns, role, topic=topic)
        with self.svc.db.session() as s:
            reviewed = {(r.kind, r.quote) for r in s.scalars(
                select(Record).where(Record.debrief_id == debrief_id, Record.status != "pending"))}
            s.execute(delete(Record).where(Record.debrief_id == debrief_id, Record.status == "pending"))
            new = [Record(debrief_id=debrief_id, kind=i.kind, text=i.text or "", before=i.before, after=i.after,
                          quote=i.quote, turn_index=i.turn_index, theme=i.theme, depth=i.depth, scope=i.scope,
                          extractor=ex.extractor, model=ex.model, prompt_id=ex.prompt_id,
                          prompt_hash=ex.prompt_hash, status="pending")
                   for i in ex.items if (i.kind, i.quote) not in reviewed]
            s.add_all(new)
        return len(new)

    def for_debrief(self, debrief_id: str) -> list[dict]:
        with self.svc.db.session() as s:
            return [record_row(r) for r in s.scalars(
                select(Record).where(Record.debrief_id == debrief_id).order_by(Record.turn_index, Record.id))]

    # -- the facilitator's queue -----------------------------------------------------------

    def queue(self, programme: str | None = None) -> list[dict]:
        """Debriefs whose participant confirmed and agreed to share (never the others)."""
        q = (select(Debrief).join(Debrief.pair)
             .where(Debrief.shared.is_(True), Debrief.confirmed_at.is_not(None), Debrief.source == "interview")
             .options(joinedload(Debrief.pair), joinedload(Debrief.records)).order_by(Debrief.updated_at.desc()))
        if programme:
            q = q.where(Pair.programme == programme)
        with self.svc.db.session() as s:
            out = []
            for d in s.scalars(q).unique():
                c = Counter(r.status for r in d.records)
                out.append({"id": d.id, "role": d.role, "topic": d.pair.topic, "programme": d.pair.programme,
                            "pending": c["pending"], "approved": c["approved"], "rejected": c["rejected"]})
            return out

    def transcript(self, debrief_id: str) -> list[tuple[int, str, str, dict]]:
        """(index, speaker, text, meta) of each turn of a shared debrief."""
        with self.svc.db.session() as s:
            d = self._shared(s, debrief_id)
            return [(t.idx, t.speaker, t.text, dict(t.meta or {})) for t in d.turns]

    @staticmethod
    def _shared(s, debrief_id: str) -> Debrief:
        d = s.get(Debrief, debrief_id)
        if d is None or not d.shared or d.confirmed_at is None:
            raise ReviewError("This debrief has not been shared with facilitators.")
        return d

    def review(self, record_id: int, action: str, reviewer: str, **edits) -> dict:
        """approve | reject | edit (edit also approves). Returns the record."""
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise ReviewError("Please enter your name as the reviewer.")
        if action not in ("approve", "reject", "edit"):
            raise ReviewError(f"Unknown review action {action!r}.")
        # SQL first, then the index; a failure in between is caught up later (Index.following_sql)
        with self.svc.index.following_sql() as change:
            with self.svc.db.session() as s:
                r = s.get(Record, record_id)
                if r is None:
                    raise ReviewError("No such record.")
                self._shared(s, r.debrief_id)
                if r.status == "withdrawn":
                    raise ReviewError("The participant removed this item from their summary; it cannot be reviewed.")
                if action == "edit":
                    for k in ("text", "before", "after"):
                        v = edits.get(k)
                        if v is not None and v.strip():
                            setattr(r, k, v.strip())
                r.status = "rejected" if action == "reject" else "approved"
                r.reviewed_by, r.reviewed_at = reviewer, utcnow()
                row = record_row(r)
            change.committed = True
            # keep the index in step with what may be suggested
            if row["status"] == "approved":
                self.svc.index.index_records(self.svc.db, [record_id])
            else:
                self.svc.index.delete([record_id])
        return row

    # -- programme views -------------------------------------------------------------------

    def approved(self, programme: str | None = None) -> list[dict]:
        q = (select(Record).join(Record.debrief).join(Debrief.pair)
             .where(Record.status == "approved", Debrief.shared.is_(True)).order_by(Record.id))
        if programme:
            q = q.where(Pair.programme == programme)
        with self.svc.db.session() as s:
            rows = []
            for r in s.scalars(q.options(joinedload(Record.debrief).joinedload(Debrief.pair))):
                row = record_row(r) | {"role": r.debrief.role, "topic": r.debrief.pair.topic,
                                       "programme": r.debrief.pair.programme}
                rows.append(row)
            return rows

    def export(self, folder: Path, fmt: str, programme: str | None = None) -> Path:
        rows = self.approved(programme)
        for r in rows:  # every row reads on its own: a broken assumption's text is "before -> after"
            if r["kind"] == "broken_assumption" and not r.get("text"):
                r["text"] = f"{r['before']} -> {r['after']}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"approved-records.{fmt}"
        if fmt == "json":
            path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
        elif fmt == "csv":
            cols = ["id", "programme", "topic", "role", "debrief", "kind", "text", "before", "after", "quote",
                    "theme", "depth", "scope", "reviewed_by", "reviewed_at"]
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
                w.writeheader()
                w.writerows(rows)
        else:
            raise ReviewError("Export format must be csv or json.")
        return path

    def dashboard(self, programme: str | None = None) -> dict:
        rows = self.approved(programme)
        by_theme_depth = Counter((r["theme"] or "other", r["depth"] or "awareness") for r in rows)
        assumptions = Counter((r["before"] or "").strip().rstrip(".") for r in rows if r["kind"] == "broken_assumption")
        with self.svc.db.session() as s:
            # pairs run in the app (past debriefs loaded with `coach ingest` were never planned here)
            ingested = select(Debrief.id).where(Debrief.pair_id == Pair.id, Debrief.source == "ingest").exists()
            q = select(func.coalesce(func.count(Pair.id), 0)).where(~ingested)
            if programme:
                q = q.where(Pair.programme == programme)
            planned = 2 * (s.scalar(q) or 0)
            dq = select(func.count(Debrief.id)).join(Debrief.pair).where(Debrief.status == "done",
                                                                         Debrief.source == "interview")
            if programme:
                dq = dq.where(Pair.programme == programme)
            done = s.scalar(dq) or 0
        return {"theme_depth": [{"theme": t, "depth": d, "items": n} for (t, d), n in sorted(by_theme_depth.items())],
                "assumptions": [{"belief before": b, "debriefs": n} for b, n in assumptions.most_common(10) if b],
                "progress": [{"debriefs": "planned", "count": planned}, {"debriefs": "done", "count": done}]}

    def reextract(self, programme: str | None, progress: Callable[[int, int], None] | None = None) -> int:
        with self.svc.db.session() as s:
            q = select(Debrief.id).join(Debrief.pair).where(Debrief.status == "done", Debrief.source == "interview")
            if programme:
                q = q.where(Pair.programme == programme)
            ids = list(s.scalars(q))
        n = 0
        for k, did in enumerate(ids):
            n += self.extract(did)
            if progress:
                progress(k + 1, len(ids))
        return n


SYNTHESIS_MATCH = 0.45  # MiniLM cosine at which a taught point and a learned item count as the same


def pair_synthesis(svc: Services, pair_id: str) -> dict:
    """Line up what the junior says they taught against what the senior says they learned.

    Taught points are the junior's sentences answering the "what did you teach" question; learned
    points are the senior's extracted learned items and broken assumptions (pending or approved:
    this view is for the facilitator of a pair whose both sides shared; never what a reviewer
    rejected or the senior withdrew from their summary). Returns overlap and gaps.
    """
    from coach.embeddings import match_pairs
    from coach.extraction.offline import units

    with svc.db.session() as s:
        pair = s.get(Pair, pair_id)
        sides = {d.role: d for d in pair.debriefs if d.source == "interview" and d.shared and d.confirmed_at}
        if set(sides) != {"senior", "junior"}:
            raise ReviewError("Both sides of the pair must have finished and shared their debrief.")
        jturns = [XTurn(t.speaker, t.text, t.meta) for t in sides["junior"].turns]
        # answers to the "what did you teach" question, its follow-ups and corrections, less the
        # answers a correction replaced
        taught_turns = {i for i, slot in answered_slots(jturns).items() if slot == "taught"}
        taught = [sent.text for sent, _ in units(without_superseded(jturns)) if sent.turn in taught_turns]
        learned = [r.text if r.kind == "learned" else f"{r.before} → {r.after}"
                   for r in sides["senior"].records if r.kind in ("learned", "broken_assumption")
                   and r.status not in ("rejected", "withdrawn")]
    if not taught or not learned:
        return {"overlap": [], "taught_not_learned": taught, "learned_not_taught": learned}
    pairs = match_pairs(taught, learned, SYNTHESIS_MATCH)
    used_t, used_l = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    overlap = [{"taught": taught[i], "learned": learned[j], "similarity": round(sim, 2)} for i, j, sim in pairs]
    return {"overlap": overlap,
            "taught_not_learned": [t for i, t in enumerate(taught) if i not in used_t],
            "learned_not_taught": [x for j, x in enumerate(learned) if j not in used_l]}
