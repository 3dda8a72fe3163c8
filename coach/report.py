"""The impact report: what a programme (its facilitator) or the whole installation (an admin)
achieved, in aggregates a sponsor can read, as a printable page and a PDF.

No individual can be singled out: every breakdown counts the distinct participants behind each
of its rows, and a row with fewer than ``report_min_group`` (never below 3) is merged into
"other", or left out when "other" is still too small (the report says so, without the number
left out, so it cannot be worked back from a total). Content comes only from records a
facilitator approved, of debriefs (and follow-ups) whose participant agreed to share; quotes
only from those the programme's facilitator chose as highlights, never with a name, and never in
the installation's report. Activity counts (pairs, sessions, debriefs, follow-ups) are counts of
events, shown as they are. Every report is written to the access log.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from coach.policy import OPERATOR, Actor
from coach.records import STATUS_WORDS, app_pairs
from coach.store.db import Database
from coach.store.models import Debrief, Pair, PairSession, Record, User
from coach.suggest import pair_names, redact
from coach.themes import DEPTHS

FLOOR = 3  # the smallest group any setting may allow
OUTCOME_ORDER = ("done", "partly", "not_yet", "dropped")
QUOTABLE = ("learned", "broken_assumption", "taught", "outcome")
Audit = Callable[[Actor, str, str, str | None], None]


@dataclass
class Breakdown:
    title: str
    rows: list[tuple[str, int]] = field(default_factory=list)  # (label, items)
    note: str = ""  # what was merged or left out, and why

    def total(self) -> int:
        return sum(n for _, n in self.rows)


def suppress(title: str, groups: dict[str, tuple[int, set]], minimum: int, order: tuple[str, ...] = ()) -> Breakdown:
    """Rows of at least ``minimum`` participants; smaller ones merged into "other", which is
    itself left out when still too small."""
    def key(label: str):
        return (order.index(label), 0) if label in order else (len(order), -groups[label][0])

    out = Breakdown(title)
    small_n, merged = 0, 0
    small_people: set = set()
    for label in sorted(groups, key=key):
        n, people = groups[label]
        if len(people) >= minimum:
            out.rows.append((label, n))
        else:
            small_n, small_people, merged = small_n + n, small_people | people, merged + 1
    if merged and len(small_people) >= minimum:
        out.rows.append(("other", small_n))
        out.note = f"{merged} smaller group{'s' if merged > 1 else ''} merged into “other”."
    elif merged:
        out.note = f"Some items are not shown: they come from fewer than {minimum} participants."
    return out


@dataclass
class Report:
    scope: str  # the programme, or "all programmes"
    made_at: datetime
    minimum: int
    activity: list[tuple[str, int]]
    breakdowns: list[Breakdown]
    decisions: Breakdown
    highlights: list[dict]  # {"kind", "role", "quote"}
    method: list[str]


class ImpactReport:
    def __init__(self, db: Database, settings, audit: Audit, risk=None, followups=None):
        self.db, self.settings, self.audit, self.risk, self.followups = db, settings, audit, risk, followups

    @property
    def minimum(self) -> int:
        return max(FLOOR, int(self.settings.report_min_group))

    def _programme(self, actor: Actor) -> str | None:
        """A facilitator's programme; None (every programme) for an admin or the operator."""
        if actor is OPERATOR or actor.role == "admin":
            return None
        actor.require("facilitator")
        return actor.programme or ""

    def build(self, actor: Actor, now: datetime | None = None) -> Report:
        programme = self._programme(actor)
        now = now or datetime.now(UTC)
        with self.db.session() as s:
            pairs = app_pairs(s, programme)
            records = self._records(s, [p.id for p in pairs])
            activity = self._activity(s, pairs)
        m = self.minimum
        breakdowns = [
            suppress("Broken assumptions by theme", self._group(records, "broken_assumption", "theme"), m),
            suppress("Broken assumptions by depth", self._group(records, "broken_assumption", "depth"), m, DEPTHS),
            suppress("Actions by outcome", self._outcomes(records), m, tuple(STATUS_WORDS[s] for s in OUTCOME_ORDER)),
            suppress("What juniors gained, by theme", self._group(records, ("learned", "taught"), "theme", "junior"), m),
            suppress("Pair health", self._health(actor, pairs), m, ("ok", "at risk", "closed")),
        ]
        changed = [r for r in records if r["kind"] == "outcome" and (r["detail"] or {}).get("decision_changed")]
        people = {r["who"] for r in changed}
        decisions = suppress("Decisions changed", {"decisions changed": (len(changed), people)}, m)
        highlights = [] if programme is None else self._highlights(programme, records)
        self.audit(actor, "report",
                   f"programme:{programme if programme is not None else '*'}", "impact report (aggregates)")
        return Report(scope=programme if programme is not None else "all programmes", made_at=now, minimum=m,
                      activity=activity, breakdowns=breakdowns, decisions=decisions, highlights=highlights,
                      method=self._method(programme, m))

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def _records(s, pair_ids: list[str]) -> list[dict]:
        """Approved records of shared, confirmed debriefs and follow-ups of these pairs, each with
        who it comes from (a participant, or the debrief when the account is gone)."""
        if not pair_ids:
            return []
        # the pair's and the participant's names come along: a chosen quote is shown without them
        q = (select(Record, Debrief, Pair.senior_name, Pair.junior_name, User.display_name)
             .join(Debrief, Debrief.id == Record.debrief_id).join(Pair, Pair.id == Debrief.pair_id)
             .outerjoin(User, User.id == Debrief.participant_id)
             .where(Debrief.pair_id.in_(pair_ids), Debrief.shared.is_(True), Debrief.confirmed_at.is_not(None),
                    Record.status == "approved"))
        out = []
        for r, d, senior_name, junior_name, participant_name in s.execute(q).all():
            who = d.participant_id if d.participant_id is not None else f"{d.pair_id}:{d.role}"
            out.append({"id": r.id, "kind": r.kind, "theme": r.theme or "other", "depth": r.depth or "awareness",
                        "detail": r.detail, "quote": r.quote, "role": d.role, "who": who,
                        "senior_name": senior_name, "junior_name": junior_name, "participant_name": participant_name})
        return out

    @staticmethod
    def _activity(s, pairs: list[Pair]) -> list[tuple[str, int]]:
        ids = [p.id for p in pairs]
        debriefs = [d for p in pairs for d in p.debriefs]
        held = s.scalar(select(func.count(PairSession.id)).where(PairSession.pair_id.in_(ids))) if ids else 0
        return [("pairs", len(pairs)), ("sessions held", int(held or 0)),
                ("debriefs completed", sum(d.source == "interview" and d.status == "done" for d in debriefs)),
                ("follow-ups completed", sum(d.source == "followup" and d.status == "done" for d in debriefs))]

    @staticmethod
    def _group(records: list[dict], kinds, by: str, role: str | None = None) -> dict[str, tuple[int, set]]:
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        groups: dict[str, tuple[int, set]] = defaultdict(lambda: (0, set()))
        for r in records:
            if r["kind"] in kinds and (role is None or r["role"] == role):
                n, people = groups[r[by]]
                groups[r[by]] = (n + 1, people | {r["who"]})
        return dict(groups)

    @staticmethod
    def _outcomes(records: list[dict]) -> dict[str, tuple[int, set]]:
        groups: dict[str, tuple[int, set]] = {}
        for r in records:
            status = (r["detail"] or {}).get("status")
            if r["kind"] == "outcome" and status in STATUS_WORDS:
                n, people = groups.get(STATUS_WORDS[status], (0, set()))
                groups[STATUS_WORDS[status]] = (n + 1, people | {r["who"]})
        return groups

    def _health(self, actor: Actor, pairs: list[Pair]) -> dict[str, tuple[int, set]]:
        """Pairs by status (coach.risk), each pair counting its two participants."""
        if self.risk is None:
            return {}
        viewer = actor if actor.role == "facilitator" else OPERATOR
        mine = {p.id: p for p in pairs}
        groups: dict[str, tuple[int, set]] = {}
        for row in self.risk.overview(viewer, logged=False):
            if row["pair"] not in mine:
                continue
            people = {d.participant_id or f"{d.pair_id}:{d.role}" for d in mine[row["pair"]].debriefs
                      if d.source == "interview"}
            n, seen = groups.get(row["status"], (0, set()))
            groups[row["status"]] = (n + 1, seen | people)
        return groups

    def _highlights(self, programme: str, records: list[dict]) -> list[dict]:
        """The quotes the facilitator chose that are still approved and shared (consent can be
        taken back after they were chosen)."""
        chosen = (self.followups.options(programme).get("highlights") if self.followups else None) or []
        by_id = {r["id"]: r for r in records if r["kind"] in QUOTABLE}
        # a quote can name the people it is about ("Dev showed me ..."): the report is read by others
        return [{"kind": by_id[i]["kind"], "role": by_id[i]["role"],
                 "quote": redact(by_id[i]["quote"], pair_names(by_id[i]))} for i in chosen if i in by_id]

    def quotable(self, actor: Actor) -> list[dict]:
        """What a facilitator may choose as highlights: approved, shared records of their programme."""
        actor.require("facilitator")
        with self.db.session() as s:
            records = self._records(s, [p.id for p in app_pairs(s, actor.programme or "")])
        return [{"id": r["id"], "kind": r["kind"], "role": r["role"], "quote": r["quote"]}
                for r in records if r["kind"] in QUOTABLE]

    def choose_highlights(self, actor: Actor, record_ids: list[int]) -> None:
        allowed = {r["id"] for r in self.quotable(actor)}
        if self.followups is None:
            raise RuntimeError("highlights are kept with the programme's options")
        self.followups.set_option(actor, "highlights", [i for i in record_ids if i in allowed][:5])

    @staticmethod
    def _method(programme: str | None, minimum: int) -> list[str]:
        return [
            "Made by coach from the programme's own records" if programme is not None
            else "Made by coach from every programme's records, as aggregates only (no quotes)",
            "Activity counts (pairs, sessions held, debriefs and follow-ups completed) count events as logged.",
            "Everything else counts only records a facilitator approved, from debriefs and follow-ups whose "
            "participant agreed to share them; a follow-up is shared exactly as the debrief it follows.",
            f"No breakdown shows a group of fewer than {minimum} participants: smaller groups are merged into "
            "“other”, or left out when that is still too small.",
            "Themes and depth are derived automatically from each record's words and may be corrected by the "
            "facilitator; outcomes (done, partly done, not yet, dropped) are read from the participant's own "
            "answers in the follow-up and confirmed by them.",
            "Quotes are the participant's exact words, chosen by the facilitator, shown without names.",
        ]


# -- rendering -------------------------------------------------------------------------------

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #1f2937; margin: 2rem; max-width: 52rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
.meta { color: #4b5563; font-size: .9rem; } .note { color: #4b5563; font-size: .85rem; font-style: italic; }
table.counts td { padding: .2rem 1.2rem .2rem 0; } .big { font-size: 1.3rem; font-weight: bold; }
.bar-row { margin: .35rem 0; } .bar-label { font-size: .9rem; }
.bar-track { display: flex; align-items: center; gap: .4rem; } .bar { display: inline-block; height: .9rem;
background: #4338ca; } .bar-n { font-weight: bold; } blockquote { border-left: 3px solid #4338ca; margin: .6rem 0;
padding: .2rem .8rem; } .who { color: #4b5563; font-size: .85rem; }
@media print { body { margin: 0; } .print { display: none; } }
@page { size: A4; margin: 18mm; }
"""


def bars_html(b: Breakdown) -> str:
    """A bar chart in HTML and CSS: its labels and figures are text (read aloud, searched, kept in
    the PDF), and it fits a phone's width as well as a page."""
    top = max((n for _, n in b.rows), default=0) or 1
    rows = "".join(f'<div class="bar-row"><div class="bar-label">{html.escape(label)}</div>'
                   f'<div class="bar-track"><span class="bar" style="width:{max(2, round(80 * n / top))}%"></span>'
                   f'<span class="bar-n">{n}</span></div></div>' for label, n in b.rows)
    return f'<div class="bars">{rows}</div>'


def breakdown_html(b: Breakdown) -> str:
    """A breakdown's chart, or why it shows nothing."""
    body = bars_html(b) if b.rows else ("<p>Nothing to show yet.</p>" if not b.note else "")
    note = f'<p class="note">{html.escape(b.note)}</p>' if b.note else ""
    return f"<section><h2>{html.escape(b.title)}</h2>{body}{note}</section>"


def report_html(r: Report, printable_link: bool = False) -> str:
    """The whole report as one HTML page (the printable page, and what the PDF is made from)."""
    activity = "".join(f'<tr><td>{html.escape(k)}</td><td class="big">{n}</td></tr>' for k, n in r.activity)
    dec = r.decisions
    decisions = (f'<p><span class="big">{dec.rows[0][1]}</span> decisions participants say an action changed.</p>'
                 if dec.rows else f'<p class="note">{html.escape(dec.note or "None recorded yet.")}</p>')
    quotes = "".join(f'<blockquote>“{html.escape(q["quote"])}”<div class="who">a {html.escape(q["role"])}</div>'
                     "</blockquote>" for q in r.highlights)
    link = ('<p><button class="print" type="button" onclick="window.print()">Print this page</button></p>'
            if printable_link else "")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Impact report: "
            f"{html.escape(r.scope)}</title><style>{CSS}</style></head><body>"
            f"<h1>Impact report: {html.escape(r.scope)}</h1>"
            f'<p class="meta">Made {r.made_at:%d %B %Y}. Groups smaller than {r.minimum} participants are not shown.</p>'
            f"{link}<h2>Activity</h2><table class=\"counts\">{activity}</table>"
            f"<h2>Decisions changed</h2>{decisions}"
            + "".join(breakdown_html(b) for b in r.breakdowns)
            + (f"<h2>In their words</h2>{quotes}" if quotes else "")
            + "<h2>How this report was made</h2><ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in r.method)
            + "</ul></body></html>")


def report_pdf(r: Report) -> bytes:
    """The report as a PDF (WeasyPrint: HTML and CSS to PDF, no browser needed)."""
    from weasyprint import HTML

    return HTML(string=report_html(r)).write_pdf()
