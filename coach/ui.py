"""The Gradio app. ``python app.py`` and ``python -m coach serve`` both call :func:`main`.

Everyone signs in (see :mod:`coach.web`); what each role sees and may do is decided per request
from the signed-in account. A participant's debrief can be opened as ``/?debrief=<id>`` (that is
also how a reloaded page resumes), but only by the participant who owns it.
"""

from __future__ import annotations

import html
import json
import logging
import os
import signal
import sys
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import gradio as gr
from sqlalchemy import select

from coach import index_lock
from coach.accounts import AccessDenied, AccountError, Accounts, Actor
from coach.debriefs import DebriefError, Debriefs, View
from coach.gateway import GatewayError
from coach.interview import baseline_questions
from coach.prompts import load_prompt
from coach.review import KIND_LABEL, Records, ReviewError, pair_synthesis
from coach.store.models import Debrief
from coach.suggest import BatchError, batch_suggest, model_writer, similar_pairs, suggest, surprises
from coach.services import Services

log = logging.getLogger("coach")

CSS = """
.coach-note { font-size: 0.95em; opacity: 0.85; }
.coach-progress ul { list-style: none; padding-left: 0; margin: 0; }
.coach-progress li { display: inline-block; margin: 0 0.9em 0.3em 0; opacity: 0.7; }
.coach-progress li.st-done, .coach-progress li.st-current { opacity: 1; }
.coach-progress li.st-current { font-weight: 600; }
/* warnings stay in view at the bottom of the window, wherever the page is scrolled */
.coach-notice { color: #b45309; position: sticky; bottom: 0; z-index: 5; background: var(--background-fill-primary); }
.topic-card { border-left: 3px solid #818cf8; padding: 0.2em 0.9em; margin: 0.6em 0; }
#review-transcript mark { background: #fde68a; padding: 0 2px; }
#coach-chat button[aria-label="Clear"] { display: none !important; }  /* the store keeps every turn */
"""

WELCOME = """
# coach
**A debrief coach for reverse mentoring.** After a few short sessions in which a junior colleague
mentors a senior one, coach interviews each of them separately, records what the senior actually
learned and which assumptions broke, what the junior gained, and helps new pairs choose topics
from what earlier pairs discovered.

### Your debrief
* **What it is for:** to put into words what changed for you during the sessions, while it is fresh,
  so that you keep it, and, if you agree, so that later pairs can start from it.
* **How long it takes:** about 10 to 15 minutes: four short questions and a few follow-ups.
  You can skip a question, correct an answer, stop early, and come back later from the same point.
* **Who sees what:** your answers are saved the moment you send them and are visible only to you.
  At the end you see a summary in your own words, can correct it, and decide whether to share it
  with your programme's facilitators (and, without your name, as evidence for later pairs of
  the programme).
  Nothing is shared unless you agree, and every time a facilitator opens what you shared is logged.
* **Runs on this machine:** with no API key configured, coach uses only models installed here.

Your debrief is in the **Debrief** tab.
"""

WELCOME_STAFF = {
    "facilitator": """
# coach
**A debrief coach for reverse mentoring.** You run a programme: create its pairs, review what
participants agreed to share, and help new pairs choose topics.

* **New pair:** each person gets a sign-in name; new people get a single-use invitation link.
  Optionally record the senior's starting beliefs: the debrief comes back to them.
* **Review:** shared debriefs of your programme. Check each item against the participant's own
  words (highlighted in the transcript), then approve, edit or reject it. The dashboard and the
  export (CSV, JSON) draw on approved items only. Every opening and decision is in the access log.
* **Topic ideas:** suggestions for a pair, with the earlier debriefs that support them; similar
  past pairs; and suggestions for a whole batch of new pairs from a CSV file.
""",
    "admin": """
# coach
**A debrief coach for reverse mentoring.** As administrator you manage accounts and the
installation; you see no debrief content.

* **People:** create facilitators (one programme each) and send them their invitation link; close,
  reopen an account, or send a new invitation link (a lost link, or a staff password; a participant's
  chosen password is never reset by an admin); read the access log of who opened someone else's debrief.
* **System:** configuration, health, and a test of the model in use.
""",
}

SCRATCH_MINUTES = 10  # downloads are kept this long (Gradio's copies too: Blocks(delete_cache=...))
STATUS_WORD = {"done": "done", "current": "now", "skipped": "skipped", "partial": "in part", "todo": "to do"}


def _progress_md(v: View) -> str:
    covered = sum(st in ("done", "partial") for _, st in v.progress)
    items = "".join(f'<li class="st-{st}">{label} <em>({STATUS_WORD.get(st, st)})</em></li>' for label, st in v.progress)
    return f"**Debrief on “{v.topic}”**: {covered} of {len(v.progress)} parts covered<ul>{items}</ul>"


def _esc(text: str) -> str:
    """Participant text is shown as text, never as markup."""
    return html.escape(text or "").replace("\n", " ")


KIND_HEADINGS = (("learned", "What you learned or gained"), ("broken_assumption", "What you believed before, and now"),
                 ("action", "What you will do"))


def _summary_md(v: View) -> str:
    if not v.summary and not v.records:
        return "Nothing has been recorded yet."
    lines = ["### Your summary", "This is what will be recorded, each with your own words as evidence. "
             "If something is wrong or missing, use “Correct an earlier answer” above: the summary is redone."]
    for kind, heading in KIND_HEADINGS:
        items = [r for r in v.records if r["kind"] == kind and r["status"] != "withdrawn"]
        if items:
            lines.append(f"**{heading}**")
            for r in items:
                main = f"{_esc(r['before'])} → {_esc(r['after'])}" if kind == "broken_assumption" else _esc(r["text"])
                lines.append(f"* {main}  \n  <small>you said: “{_esc(r['quote'])}”</small>")
    if not v.records:  # nothing extracted: show the answers themselves
        for label, answers in v.summary:
            lines.append(f"**{label}**")
            lines += [f"> {_esc(a)}" for a in answers]
    if v.confirmed:
        lines.append("\n**Confirmed.** " + ("You agreed to share this summary with your facilitators."
                                            if v.shared else "It stays private to you.")
                     + " You can change this at any time: tick or untick the box below and press "
                       "“Confirm summary” again.")
    return "\n\n".join(lines)


CORRECTION_REPLACES = "replaces what I said there"
CORRECTION_ADDS = "adds to what I said there"


def _item_label(r: dict) -> str:
    kind = {"learned": "Learned", "broken_assumption": "Changed view", "action": "Will do"}[r["kind"]]
    main = f"{r['before']} → {r['after']}" if r["kind"] == "broken_assumption" else r["text"]
    return f"{kind}: {main}"


def _chat(v: View) -> list[dict]:
    # The chatbot renders HTML (sanitised): escaping shows markup exactly as typed, as text.
    return [{"role": "assistant" if sp == "coach" else "user", "content": html.escape(tx)} for sp, tx in v.turns]


def build_app(svc: Services, accounts: Accounts | None = None) -> gr.Blocks:
    """The Gradio Blocks. Every handler resolves the signed-in :class:`Actor` from the request
    and checks what that role may do: hiding a tab is layout, the checks are the security."""
    debriefs = Debriefs(svc)
    records = Records(svc)
    accounts = accounts or Accounts.from_services(svc)

    scratch = svc.settings.data_dir / "exports" / "scratch"

    def scratch_folder() -> Path:
        """A new folder for one download. Gradio serves its own copy of the file, so ours are
        removed after SCRATCH_MINUTES: exported debriefs do not pile up on disk."""
        scratch.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - SCRATCH_MINUTES * 60
        for old in scratch.iterdir():
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=scratch))

    def who(request: gr.Request | None, *roles: str) -> Actor:
        actor = accounts.actor(getattr(request, "username", None))
        if actor is None:
            raise AccessDenied("Please sign in again.")
        return actor.require(*roles) if roles else actor

    def mine(request, did) -> Actor:
        actor = who(request, "participant")
        accounts.debrief_owner_check(actor, did)
        return actor

    # -- debrief handlers ------------------------------------------------------------------

    def debrief_choices(actor: Actor):
        return [(f"{topic} ({role}, {'finished' if status == 'done' else 'in progress'})", d)
                for d, role, topic, status in accounts.own_debriefs(actor)]

    def render(did: str | None, notice: str = "", actor: Actor | None = None):
        """All debrief outputs for the current state (the store is the source of truth)."""
        if not did:
            choices = debrief_choices(actor) if actor else []
            return (gr.update(visible=True), gr.update(visible=False), [], "", gr.update(), "",
                    gr.update(visible=False), "", gr.update(), gr.update(choices=[], value=[]), gr.update(visible=True),
                    notice or ("" if choices or not actor else "You have no debrief yet: your facilitator adds you to a pair."),
                    gr.update(choices=choices, value=None))
        v = debriefs.view(did)
        slots = [(label, sid) for sid, label in v.slots]
        return (gr.update(visible=False), gr.update(visible=True), _chat(v), _progress_md(v),
                gr.update(choices=slots, value=None), "",
                gr.update(visible=v.done), _summary_md(v),
                gr.update(value=v.shared),  # sharing can be changed after confirming too
                gr.update(choices=[(_item_label(r), r["id"]) for r in v.records],
                          value=[r["id"] for r in v.records if r["status"] != "withdrawn"],
                          interactive=not v.confirmed, visible=bool(v.records)),
                gr.update(visible=not v.done), notice, gr.update())

    def open_debrief(did: str | None, request: gr.Request):
        try:
            actor = who(request, "participant")
            if not did:
                return (None, *render(None, "Please choose a debrief.", actor))
            accounts.debrief_owner_check(actor, did)
            return (did, *render(did, actor=actor))
        except (AccessDenied, DebriefError) as e:
            return (None, *render(None, f"⚠️ {e}", accounts.actor(getattr(request, "username", None))))

    def role_tabs(actor: Actor):
        """Which tabs this role sees (handlers check again: this is only the layout)."""
        r = actor.role
        return [gr.Tab(visible=r == "participant"), gr.Tab(visible=r == "facilitator"),
                gr.Tab(visible=r in ("participant", "facilitator")), gr.Tab(visible=r == "facilitator"),
                gr.Tab(visible=r == "admin"), gr.Tab(visible=r == "admin")]

    def on_load(request: gr.Request):
        actor = who(request)
        head = (f"Signed in as **{_esc(actor.name)}** ({actor.role}"
                + (f", programme “{_esc(actor.programme)}”" if actor.programme else "") + ")")
        tabs_vis = role_tabs(actor)
        if actor.role != "participant":
            return (head, *tabs_vis, None, *render(None))
        wanted = request.query_params.get("debrief") if request else None
        own = accounts.own_debriefs(actor)
        if not wanted and len(own) == 1:
            wanted = own[0][0]
        if wanted:
            return (head, *tabs_vis, *open_debrief(wanted, request))
        return (head, *tabs_vis, None, *render(None, actor=actor))

    def stream_reply(did, gen_factory, shown_user: str | None):
        """Yield chat updates while the coach's reply is produced; errors become a calm notice."""
        v = debriefs.view(did)
        chat = _chat(v)
        if shown_user is not None:
            chat.append({"role": "user", "content": html.escape(shown_user or "")})
        chat.append({"role": "assistant", "content": "…"})
        try:
            gen = gen_factory()
            first = True
            for text in gen:
                chat[-1]["content"] = html.escape(text)
                if first:
                    first = False
                    yield gr.update(value=""), chat, gr.update(), ""  # stored: clear the box
                else:
                    yield gr.update(), chat, gr.update(), ""
        except DebriefError as e:
            v = debriefs.view(did)
            yield gr.update(), _chat(v), gr.update(), f"⚠️ {e}"
            return

    def guarded(request, did):
        """None when the participant may act on ``did``, else the notice to show."""
        if not did:
            return "⚠️ Please open your debrief first."
        try:
            mine(request, did)
        except AccessDenied as e:
            return f"⚠️ {e}"
        return None

    def after(did, request: gr.Request):
        if guarded(request, did):
            return tuple(gr.update() for _ in range(10))
        return render(did)[1:-2]  # all but the chooser, the notice (which may hold an error) and the list

    def send(did, text, request: gr.Request):
        if (denied := guarded(request, did)):
            yield gr.update(), gr.update(), gr.update(), denied
            return
        yield from stream_reply(did, lambda: debriefs.say(did, text), text)

    def skip(did, request: gr.Request):
        if (denied := guarded(request, did)):
            yield gr.update(), gr.update(), gr.update(), denied
            return
        yield from stream_reply(did, lambda: debriefs.skip(did), "(skipped this question)")

    def end(did, request: gr.Request):
        if (denied := guarded(request, did)):
            yield gr.update(), gr.update(), gr.update(), denied
            return
        yield from stream_reply(did, lambda: debriefs.end(did), "(ended the interview here)")

    def correct(did, slot, text, mode, request: gr.Request):
        if (denied := guarded(request, did)):
            yield gr.update(), gr.update(), gr.update(), denied
            return
        if not slot:
            yield gr.update(), gr.update(), gr.update(), "⚠️ Please choose which answer you are correcting."
            return
        replace = mode != CORRECTION_ADDS
        for box, chat, _, notice in stream_reply(did, lambda: debriefs.correct(did, slot, text, replace=replace), text):
            yield box, chat, gr.update(), notice

    def said_before(did, slot, request: gr.Request) -> str:
        """What the participant's answer to that question is now, so they see what they correct."""
        if not slot or guarded(request, did):
            return ""
        v = debriefs.view(did)
        label = dict(v.slots).get(slot)
        answers = dict(v.summary).get(label) or []
        if not answers:
            return "_You have not answered this question yet._"
        return "You said: " + " ".join(f"“{_esc(a)}”" for a in answers)

    def confirm(did, share, keep, request: gr.Request):
        if (denied := guarded(request, did)):
            return (*(gr.update() for _ in range(10)), denied)
        try:
            debriefs.confirm(did, share, keep=[int(k) for k in keep or []])
            return render(did)[1:-1]
        except DebriefError as e:
            return render(did, f"⚠️ {e}")[1:-1]  # with the notice

    def download_mine(request: gr.Request):
        """Everything stored about the signed-in participant: account and every debrief."""
        actor = who(request, "participant")
        data = {"account": {"username": actor.username, "name": actor.display_name, "role": actor.role},
                "debriefs": [debriefs.export_data(d) for d, *_ in accounts.own_debriefs(actor)]}
        folder = scratch_folder()
        path = folder / "my-coach-data.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return str(path)

    def delete_mine(did, sure, request: gr.Request):
        if (denied := guarded(request, did)):
            return (did, *render(None, denied, accounts.actor(getattr(request, "username", None))))
        actor = who(request)
        if not sure:
            return (did, *render(did, "⚠️ Tick the box to confirm that you want to delete everything."))
        debriefs.delete(did)
        return (None, *render(None, "Your debrief and everything recorded from it have been deleted.", actor))

    def delete_account(sure, request: gr.Request):
        """Delete every debrief of the signed-in participant, their name on each pair, and the account."""
        actor = who(request, "participant")
        if not sure:
            raise gr.Error("Tick the box to confirm that you want to delete your account and everything in it.")
        for did_, *_ in accounts.own_debriefs(actor):
            debriefs.delete(did_, forget_name=True)
        accounts.delete_user(actor.id)
        return "Your account and all your debriefs have been deleted."

    # -- pair handlers (facilitator) -------------------------------------------------------

    def create_pair(senior_user, senior_name, senior, junior_user, junior_name, junior, topic, sessions, start,
                    end_, b1, b2, b3, request: gr.Request):
        try:
            actor = who(request, "facilitator")
            if not (senior_user or "").strip() or not (junior_user or "").strip():
                raise DebriefError("Please give each participant a sign-in name (their e-mail address works).")
            if senior_user.strip().lower() == junior_user.strip().lower():
                raise DebriefError("The senior and the junior need different sign-in names.")
            for name in (senior_user, junior_user):  # check both before writing anything
                accounts.check_participant(name)
            pair = debriefs.create_pair(
                programme=actor.programme, senior_name=senior_name, senior=senior,
                junior_name=junior_name, junior=junior, topic=topic,
                sessions=int(sessions) if sessions else None,
                start_date=_date(start), end_date=_date(end_), baseline=[b1, b2, b3])
            people = {"senior": accounts.participant(senior_user, senior_name, actor),
                      "junior": accounts.participant(junior_user, junior_name, actor)}
        except (AccessDenied, AccountError, DebriefError, ValueError) as e:
            return f"⚠️ {e}"
        base = f"{request.request.url.scheme}://{request.headers.get('host')}" if request else ""
        lines = [f"**Pair created** for “{_esc(pair.topic)}” in programme “{_esc(pair.programme)}”."]
        for role, (user, token) in people.items():
            debriefs.open(pair.id, role, participant_id=user.id)
            label = f"{role.capitalize()} ({_esc(user.display_name or user.username)}, sign-in name `{_esc(user.username)}`)"
            if token:
                lines.append(f"* {label}: send them this single-use invitation link to choose a password "
                             f"(valid {svc.settings.invitation_days} days): `{base}/auth/invite/{token}`")
            else:
                lines.append(f"* {label}: already has an account or an invitation; the debrief is waiting when "
                             "they sign in.")
        return "\n".join(lines)

    # -- facilitator review handlers --------------------------------------------------------

    def queue_choices(request: gr.Request):
        actor = who(request, "facilitator")
        return gr.update(choices=[(f"{q['topic']} · {q['role']} · {q['pending']} to review · {q['approved']} approved",
                                   q["id"]) for q in records.queue(actor.programme)])

    def transcript_html(did: str, quote: str | None, turn: int | None) -> str:
        rows = []
        slots = {sl.id: sl.label for role in ("senior", "junior") for sl in debriefs.protocol(role).slots}
        for idx, speaker, text, meta in records.transcript(did):
            body = _esc(text)
            if quote and idx == turn:
                q = _esc(quote)
                body = body.replace(q, f"<mark>{q}</mark>", 1)
            who_ = "Coach" if speaker == "coach" else "Participant"
            if meta.get("correction_of"):  # said later, about an earlier question
                how = "replacing" if meta.get("replaces") else "adding to"
                who_ += f" (correction, {how} the answer on “{_esc(slots.get(meta['correction_of'], meta['correction_of']))}”)"
            rows.append(f'<p class="turn {speaker}"><b>{who_}:</b> {body}</p>')
        return '<div id="review-transcript">' + "".join(rows) + "</div>"

    def reviewable_items(did: str) -> list[dict]:
        # what the participant withdrew from their summary is not shown to facilitators
        return [r for r in records.for_debrief(did) if r["status"] != "withdrawn"]

    def item_table(did: str) -> list[list]:
        return [[r["id"], KIND_LABEL[r["kind"]],
                 f"{r['before']} → {r['after']}" if r["kind"] == "broken_assumption" else r["text"],
                 r["status"], r["theme"], r["depth"], r["scope"], r["reviewed_by"] or ""]
                for r in reviewable_items(did)]

    def synthesis_md(did: str, actor: Actor) -> str:
        with svc.db.session() as s:
            pair_id = s.get(Debrief, did).pair_id
        try:
            syn = pair_synthesis(svc, pair_id)
        except ReviewError as e:
            return f"**Pair synthesis:** {e}"
        accounts.log(actor, "review.synthesis", f"pair:{pair_id}", "both debriefs' taught points and learned items")
        lines = ["**Pair synthesis: what the junior taught against what the senior learned**"]
        lines += [f"* ✔ taught “{_esc(o['taught'])}” ⇄ learned “{_esc(o['learned'])}”" for o in syn["overlap"]]
        lines += [f"* taught, not mentioned as learned: “{_esc(t)}”" for t in syn["taught_not_learned"]]
        lines += [f"* learned beyond what was taught: “{_esc(x)}”" for x in syn["learned_not_taught"]]
        return "\n".join(lines)

    def reviewable(request, did) -> Actor:
        actor = who(request, "facilitator")
        accounts.programme_check(actor, did)
        return actor

    def open_review(did, request: gr.Request):
        if not did:
            return "", [], gr.update(choices=[], value=None), "", "", "", "", ""
        try:
            actor = reviewable(request, did)
            rows = item_table(did)
            html_ = transcript_html(did, None, None)
            accounts.log(actor, "review.open", f"debrief:{did}", f"{len(rows)} records and the transcript")
            choices = item_choices(rows)
            return html_, rows, gr.update(choices=choices, value=None), "", "", "", "", synthesis_md(did, actor)
        except (AccessDenied, ReviewError) as e:
            return f"⚠️ {_esc(str(e))}", [], gr.update(choices=[]), "", "", "", "", ""

    def pick_item(did, rid, request: gr.Request):
        if not did or rid is None:
            return gr.update(), "", "", "", gr.update()
        try:
            reviewable(request, did)
            items = reviewable_items(did)
        except (AccessDenied, ReviewError) as e:  # e.g. sharing withdrawn while the debrief was open
            return f"⚠️ {_esc(str(e))}", "", "", "", gr.update()
        r = next((x for x in items if x["id"] == rid), None)
        if r is None:
            return gr.update(), "", "", "", gr.update()
        return (transcript_html(did, r["quote"], r["turn_index"]), r["text"] or "", r["before"] or "", r["after"] or "",
                "")  # a notice about an earlier choice no longer applies

    def item_choices(rows: list[list]) -> list[tuple[str, int]]:
        return [(f"#{r[0]} {r[1]}: {str(r[2])[:60]}", r[0]) for r in rows]

    def do_review(action, did, rid, text, before, after, request: gr.Request):
        if rid is None or not did:
            return gr.update(), "⚠️ Choose an item first.", gr.update()
        try:
            actor = reviewable(request, did)
            if int(rid) not in {r["id"] for r in reviewable_items(did)}:
                raise ReviewError("That item is not part of this debrief.")
            row = records.review(int(rid), action, actor.name, text=text, before=before, after=after)
            accounts.log(actor, f"review.{action}", f"record:{row['id']}", f"debrief:{did}")
        except (AccessDenied, ReviewError) as e:
            return gr.update(), f"⚠️ {_esc(str(e))}", gr.update()
        rows = item_table(did)
        return (rows, f"Item #{row['id']} {row['status']} by {_esc(row['reviewed_by'])}.",
                gr.update(choices=item_choices(rows), value=int(rid)))  # an edit shows in the list too

    def review_handler(action: str):
        def review_item(did, rid, text, before, after, request: gr.Request):
            return do_review(action, did, rid, text, before, after, request)

        return review_item

    def export_handler(fmt: str):
        def export_records(request: gr.Request):
            return export(fmt, request)

        return export_records

    def export(fmt, request: gr.Request):
        actor = who(request, "facilitator")
        folder = scratch_folder()
        path = records.export(folder, fmt, programme=actor.programme)
        accounts.log(actor, f"export.{fmt}", f"programme:{actor.programme}", "approved records")
        return str(path)

    def dashboard(request: gr.Request):
        import pandas as pd

        actor = who(request, "facilitator")
        d = records.dashboard(actor.programme)
        accounts.log(actor, "dashboard", f"programme:{actor.programme}", "aggregates and frequent broken assumptions")
        td = pd.DataFrame(d["theme_depth"] or [{"theme": "none yet", "depth": "awareness", "items": 0}])
        return td, pd.DataFrame(d["assumptions"] or [{"belief before": "none yet", "debriefs": 0}]), pd.DataFrame(d["progress"])

    def reextract(request: gr.Request, progress=gr.Progress()):
        actor = who(request, "facilitator")
        progress(0, desc="Re-extracting")
        n = records.reextract(actor.programme, progress=lambda done, total: progress(done / max(total, 1),
                                                                                   desc=f"{done}/{total} debriefs"))
        return f"Re-extracted: {n} new pending items."

    # -- topic suggestion handlers ---------------------------------------------------------

    def writer():
        return model_writer(svc.gateway, svc.settings.prompts_dir) if svc.settings.step_uses_model("suggestions") else None

    def cards_md(cards, programmes) -> str:
        catching_up = svc.index.catching_up()
        later = ("Debriefs added a moment ago are still being indexed: ask again in a minute to draw on them."
                 if catching_up else "")
        if not cards:
            return "No suggestions yet. " + later
        out = []
        if cards[0].generic:
            # nothing shared yet, or too little near this pair to make a topic (two records at least)
            why = ("Your programme's shared debriefs do not yet support a topic for this pair (a topic needs "
                   "at least two records close to it)" if svc.index.has_suggestible(programmes) else
                   "No shared past debriefs of your programme are in the index yet")
            out.append(f"_{why}: these are **generic starter topics**, not evidence from earlier pairs._ {later}")
        elif later:
            out.append(f"_{later}_")
        for n, c in enumerate(cards, 1):
            ev = ", ".join(f"`{e}`" for e in c.evidence) or "none (generic)"
            out.append(f'<div class="topic-card">\n\n**{n}. {_esc(c.topic)}**\n\n{_esc(c.why)}\n\n'
                       f"<small>Evidence: past debriefs {ev}</small>\n\n</div>")
        return "\n\n".join(out)

    NO_PROGRAMME = ("You are in no pair at the moment. Topic ideas draw on the shared debriefs of your "
                    "programme, so they appear once your facilitator adds you to a pair.")

    def topic_ideas(senior, junior, k, request: gr.Request):
        try:
            actor = who(request, "participant", "facilitator")
            programmes = accounts.programmes_of(actor)
            if not programmes:
                return NO_PROGRAMME
            cards = suggest(svc.index, senior, junior, k=int(k or 5), writer=writer(), programmes=programmes)
        except (AccessDenied, ValueError) as e:
            return f"⚠️ {_esc(str(e))}"
        shown = sorted({e for c in cards for e in c.evidence})
        if shown:
            accounts.log(actor, "suggest", "debriefs:" + ",".join(shown), "shared, approved records as evidence")
        return cards_md(cards, programmes)

    def senior_surprises(senior, request: gr.Request):
        try:
            actor = who(request, "participant", "facilitator")
        except AccessDenied as e:
            return f"⚠️ {e}"
        if not (senior or "").strip():
            return "⚠️ Describe the senior's role first."
        programmes = accounts.programmes_of(actor)
        if not programmes:
            return NO_PROGRAMME
        found = surprises(svc.index, senior, k=5, programmes=programmes)
        if not found:
            return "No earlier senior in a similar role has shared a changed view yet."
        accounts.log(actor, "surprises", "debriefs:" + ",".join(sorted({f["evidence"][0] for f in found})),
                     "shared, approved broken assumptions")
        return "\n".join(f"* {_esc(f['finding'])} <small>(topic: {_esc(f['topic'])}; evidence `{f['evidence'][0]}`)</small>"
                         for f in found)

    def pair_choices(request: gr.Request):
        actor = who(request, "facilitator")
        return gr.update(choices=[(f"{p.topic} · {p.senior} / {p.junior}", p.id) for p in debriefs.pairs(actor.programme)])

    def facilitator_only(handler):
        """For a tab's select event, which every role with the tab fires: others get no change."""
        def on_select(request: gr.Request):
            try:
                who(request, "facilitator")
            except AccessDenied:
                return gr.update()
            return handler(request)

        return on_select

    def similar(pair_id, request: gr.Request):
        try:
            actor = who(request, "facilitator")
        except AccessDenied as e:
            return f"⚠️ {e}"
        p = next((x for x in debriefs.pairs(actor.programme) if x.id == pair_id), None)
        if p is None:
            return "⚠️ Choose a pair of your programme."
        with svc.db.session() as s:
            own = set(s.scalars(select(Debrief.id).where(Debrief.pair_id == pair_id)))
        rows = [r for r in similar_pairs(svc.index, p.senior, p.junior, p.topic, k=8, programmes={p.programme})
                if r["debrief"] not in own][:5]
        if not rows:
            return "No similar past pairs have shared their debriefs yet."
        accounts.log(actor, "similar_pairs", "debriefs:" + ",".join(r["debrief"] for r in rows), f"for pair:{pair_id}")
        return "\n".join(f"* {_esc(r['topic'])} <small>({r['role']} debrief `{r['debrief']}`, similarity {r['similarity']:.2f})</small>"
                         for r in rows)

    def batch(file, request: gr.Request):
        try:
            actor = who(request, "facilitator")
        except AccessDenied as e:
            return None, f"⚠️ {e}"
        if file is None:
            return None, "⚠️ Upload a CSV with columns senior, junior (and optionally k)."
        try:
            out = batch_suggest(svc.index, Path(file), scratch_folder(), writer=writer(),
                                programmes=accounts.programmes_of(actor))
        except BatchError as e:
            return None, f"⚠️ {e}"
        accounts.log(actor, "suggest.batch", f"file:{Path(file).name}", "shared, approved records as evidence")
        return str(out), f"Done: {out.name}"

    # -- admin handlers --------------------------------------------------------------------

    def users_table(request: gr.Request):
        who(request, "admin")
        return [[u.id, u.username, u.display_name or "", u.role, u.programme or "",
                 "active" if u.active and u.password_hash else ("invited" if u.active else "closed")]
                for u in accounts.users()]

    def add_facilitator(username, name, programme, request: gr.Request):
        try:
            actor = who(request, "admin")
            u = accounts.create_user(username, "facilitator", programme=programme, display_name=name, created_by=actor)
            token = accounts.invite(u.id, actor)
        except (AccessDenied, AccountError) as e:
            return f"⚠️ {_esc(str(e))}", gr.update()
        base = f"{request.request.url.scheme}://{request.headers.get('host')}"
        accounts.log(actor, "user.create", f"user:{u.username}", f"facilitator of {u.programme}")
        return (f"Facilitator **{_esc(u.username)}** created for programme “{_esc(u.programme)}”. Send them this "
                f"single-use invitation link (valid {svc.settings.invitation_days} days): "
                f"`{base}/auth/invite/{token}`"), users_table(request)

    def set_active(user_id, active: bool, request: gr.Request):
        try:
            actor = who(request, "admin")
            accounts.set_active(actor, int(user_id), active)
        except (AccessDenied, AccountError, TypeError, ValueError) as e:
            return f"⚠️ {_esc(str(e))}", gr.update()
        accounts.log(actor, "user.open" if active else "user.close", f"user:{int(user_id)}")
        return ("Account reopened." if active else "Account closed and signed out."), users_table(request)

    def reinvite(user_id, request: gr.Request):
        try:
            actor = who(request, "admin")
            user_id = int(user_id)
            username, token = accounts.reinvite(actor, user_id)
        except (AccessDenied, AccountError, TypeError, ValueError) as e:
            return f"⚠️ {_esc(str(e))}"
        accounts.log(actor, "user.invite", f"user:{user_id}", f"new single-use invitation link for {username}")
        base = f"{request.request.url.scheme}://{request.headers.get('host')}"
        return (f"New single-use invitation link for **{_esc(username)}** (valid {svc.settings.invitation_days} days; "
                f"earlier links no longer work): `{base}/auth/invite/{token}`")

    def active_handler(active: bool):
        def set_account(user_id, request: gr.Request):
            return set_active(user_id, active, request)

        return set_account

    def access_rows(request: gr.Request):
        who(request, "admin")
        return [[a.at.strftime("%Y-%m-%d %H:%M:%S"), a.username, a.role, a.action, a.target, a.detail or ""]
                for a in accounts.access_log(500)]

    # -- system handlers -------------------------------------------------------------------

    def status_json(request: gr.Request) -> str:
        who(request, "admin")
        return json.dumps(svc.status(), indent=2, default=str)

    def check_model(request: gr.Request):
        """Stream a one-line self-test reply from the configured backend."""
        who(request, "admin")
        if not svc.gateway.available:
            yield "No model backend is configured (COACH_BACKEND=none)."
            return
        p = load_prompt("selftest", svc.settings.prompts_dir)
        yield "Waiting for the model…"
        text = ""
        try:
            for delta in svc.gateway.stream(p.messages(question="Say hello to a new user."),
                                            purpose="selftest", prompt=p, max_tokens=32):
                text += delta
                yield text
        except GatewayError as e:
            yield f"The model is not available right now: {e}"

    # -- layout ----------------------------------------------------------------------------

    with gr.Blocks(title="coach — reverse-mentoring debriefs", delete_cache=(SCRATCH_MINUTES * 60, SCRATCH_MINUTES * 60)) as app:
        did = gr.Textbox(visible="hidden", elem_id="debrief-id")
        with gr.Row(elem_classes="coach-account"):
            signed_in = gr.Markdown(elem_id="signed-in")
            gr.Button("Change password", link="/account/password", size="sm", scale=0, elem_id="change-password")
            gr.Button("Sign out", link="/auth/logout", size="sm", scale=0, elem_id="sign-out")
        with gr.Tabs(selected="welcome") as tabs:
            with gr.Tab("Welcome", id="welcome"):
                welcome = gr.Markdown(WELCOME)
            with gr.Tab("Debrief", id="debrief", visible=False) as debrief_tab:
                with gr.Column(visible=True) as chooser:
                    mine_list = gr.Dropdown(label="Your debriefs", choices=[], elem_id="my-debriefs")
                    open_btn = gr.Button("Open", variant="primary")
                with gr.Column(visible=False) as chat_col:
                    progress = gr.Markdown(elem_classes="coach-progress")
                    chatbot = gr.Chatbot(label="Debrief", show_label=False, height=460, elem_id="coach-chat", render_markdown=False,
                                         allow_tags=False, feedback_options=None, buttons=[])
                    with gr.Column() as answer_col:
                        # one line that grows: Enter sends, Shift+Enter starts a new line (Gradio's rule for lines=1)
                        msg = gr.Textbox(label="Your answer", lines=1, max_lines=8,
                                         placeholder="Type your answer… (Enter sends; Shift+Enter for a new line)")
                        with gr.Row():
                            send_btn = gr.Button("Send", variant="primary")
                            skip_btn = gr.Button("Skip question")
                            end_btn = gr.Button("End now")
                    with gr.Accordion("Correct an earlier answer", open=False):
                        corr_slot = gr.Dropdown(label="Which answer", choices=[])
                        corr_said = gr.Markdown(elem_id="correction-said")
                        corr_text = gr.Textbox(label="Your correction", lines=2)
                        corr_mode = gr.Radio([CORRECTION_REPLACES, CORRECTION_ADDS], value=CORRECTION_REPLACES,
                                             label="This correction", elem_id="correction-mode")
                        corr_btn = gr.Button("Save correction")
                    with gr.Accordion("Your data: download or delete", open=False):
                        mine_btn = gr.Button("Download everything stored about you (JSON)")
                        mine_file = gr.File(label="Your data", visible=False)
                        sure = gr.Checkbox(label="I understand: deleting removes my answers and records for good")
                        delete_btn = gr.Button("Delete this debrief", variant="stop")
                        sure_all = gr.Checkbox(label="I understand: this deletes my account and all my debriefs for good")
                        delete_all_btn = gr.Button("Delete my account and all my data", variant="stop")
                    with gr.Column(visible=False) as summary_col:
                        summary = gr.Markdown(elem_id="coach-summary")
                        keep = gr.CheckboxGroup(label="Keep what is right: untick any item that is not", choices=[],
                                                elem_id="coach-keep")
                        share = gr.Checkbox(label="I agree to share this summary with my programme's facilitators, "
                                                  "and, without my name, as evidence for later pairs' topic ideas "
                                                  "in this programme")
                        confirm_btn = gr.Button("Confirm summary", variant="primary")
                notice = gr.Markdown(elem_classes="coach-notice")
            with gr.Tab("New pair", id="pairs", visible=False) as pairs_tab:
                gr.Markdown("Create a pair of your programme. Each person gets a sign-in name; new people get a "
                            "single-use invitation link to choose a password. Each sees only their own debrief.")
                with gr.Row():
                    topic = gr.Textbox(label="Topic the junior knows better")
                    sessions = gr.Number(label="Planned sessions", value=4, precision=0, minimum=1, maximum=50)
                with gr.Row():
                    senior_user = gr.Textbox(label="Senior's sign-in name (e.g. e-mail)")
                    senior_name = gr.Textbox(label="Senior's name")
                    senior = gr.Textbox(label="Senior's role", placeholder="e.g. Retail operations director")
                with gr.Row():
                    junior_user = gr.Textbox(label="Junior's sign-in name (e.g. e-mail)")
                    junior_name = gr.Textbox(label="Junior's name")
                    junior = gr.Textbox(label="Junior's role and strengths", placeholder="e.g. Social media associate")
                with gr.Row():
                    start = gr.Textbox(label="First session (YYYY-MM-DD)")
                    end_date = gr.Textbox(label="Last session (YYYY-MM-DD)")
                gr.Markdown("**Senior's starting beliefs** (optional; best answered by the senior before the "
                            "first session; the debrief will come back to them):")
                baseline = [gr.Textbox(label=q, lines=1) for q in baseline_questions(svc.settings.prompts_dir)]
                create_btn = gr.Button("Create pair", variant="primary")
                created = gr.Markdown(elem_id="pair-created")
            with gr.Tab("Topic ideas", id="topics", visible=False) as topics_tab:
                gr.Markdown("Topics for a new pair, from what earlier pairs of your programme discovered, with "
                            "the debriefs that support each one. Only debriefs whose participants agreed to share "
                            "are used, and no one is named.")
                with gr.Row():
                    t_senior = gr.Textbox(label="The senior: role and context",
                                          placeholder="e.g. Head of store operations at a fashion retailer")
                    t_junior = gr.Textbox(label="The junior: role and strengths",
                                          placeholder="e.g. Marketing assistant who runs the brand's TikTok")
                with gr.Row():
                    t_k = gr.Slider(1, 10, value=5, step=1, label="How many ideas")
                    t_btn = gr.Button("Suggest topics", variant="primary")
                    s_btn = gr.Button("What surprised similar seniors?")
                t_out = gr.Markdown(elem_id="topic-cards")
                with gr.Accordion("Facilitators: similar past pairs", open=False, visible=False) as sp_acc:
                    with gr.Row():
                        sp_pair = gr.Dropdown(label="Pair", choices=[], scale=4)
                        sp_refresh = gr.Button("Refresh pairs", scale=1)
                    sp_btn = gr.Button("Show similar past pairs")
                    sp_out = gr.Markdown()
                with gr.Accordion("Facilitators: suggestions for a batch of new pairs (CSV in, CSV out)", open=False,
                                  visible=False) as b_acc:
                    b_in = gr.File(label="CSV with columns senior, junior (optional: k)", file_types=[".csv"])
                    b_btn = gr.Button("Suggest for every pair")
                    b_out = gr.File(label="Suggestions")
                    b_note = gr.Markdown()
            with gr.Tab("Review", id="review", visible=False) as review_tab:
                gr.Markdown("Debriefs of your programme whose participant agreed to share. Check each item "
                            "against the participant's words, then approve, edit or reject it. "
                            "Each opening and each decision is recorded in the access log.")
                with gr.Row():
                    queue = gr.Dropdown(label="Shared debriefs", choices=[], scale=4)
                    refresh_q = gr.Button("Refresh queue", scale=1)
                items_df = gr.Dataframe(headers=["id", "kind", "item", "status", "theme", "depth", "scope", "reviewer"],
                                        label="Items", interactive=False, wrap=True,
                                        column_widths=["5%", "11%", "40%", "9%", "12%", "9%", "7%", "7%"])
                with gr.Row():
                    with gr.Column(scale=3):
                        transcript = gr.HTML(label="Transcript")
                    with gr.Column(scale=2):
                        item_pick = gr.Dropdown(label="Item", choices=[])
                        item_text = gr.Textbox(label="Text (learned / action)")
                        item_before = gr.Textbox(label="Before (broken assumption)")
                        item_after = gr.Textbox(label="After (broken assumption)")
                        with gr.Row():
                            approve_btn = gr.Button("Approve", variant="primary")
                            edit_btn = gr.Button("Save edit and approve")
                            reject_btn = gr.Button("Reject", variant="stop")
                        review_note = gr.Markdown()
                synthesis = gr.Markdown()
                with gr.Accordion("Programme dashboard and export", open=False) as dash_acc:
                    dash_btn = gr.Button("Refresh dashboard")
                    theme_plot = gr.BarPlot(x="theme", y="items", color="depth", title="Approved items by theme and depth")
                    assumptions_df = gr.Dataframe(label="Most frequent broken assumptions", interactive=False)
                    progress_plot = gr.BarPlot(x="debriefs", y="count", title="Debriefs done versus planned")
                    with gr.Row():
                        csv_btn = gr.Button("Export approved records (CSV)")
                        json_btn = gr.Button("Export approved records (JSON)")
                    export_file = gr.File(label="Export")
                    reextract_btn = gr.Button("Re-extract all finished debriefs")
                    reextract_note = gr.Markdown()
            with gr.Tab("People", id="people", visible=False) as people_tab:
                gr.Markdown("Accounts. Admins create facilitators (one programme each); facilitators invite "
                            "participants when they create a pair. Admins do not see debriefs.")
                users_df = gr.Dataframe(headers=["id", "sign-in name", "name", "role", "programme", "state"],
                                        label="Accounts", interactive=False)
                with gr.Row():
                    f_user = gr.Textbox(label="Facilitator's sign-in name (e.g. e-mail)")
                    f_name = gr.Textbox(label="Name")
                    f_prog = gr.Textbox(label="Programme they run")
                f_btn = gr.Button("Create facilitator", variant="primary")
                f_note = gr.Markdown(elem_id="facilitator-created")
                with gr.Row():
                    u_id = gr.Number(label="Account id", precision=0)
                    invite_btn = gr.Button("New invitation link")
                    close_btn = gr.Button("Close account", variant="stop")
                    reopen_btn = gr.Button("Reopen account")
                with gr.Accordion("Access log: who opened someone else's debrief content, and when", open=False):
                    log_btn = gr.Button("Refresh access log")
                    log_df = gr.Dataframe(headers=["at (UTC)", "who", "role", "action", "what", "detail"],
                                          interactive=False, wrap=True)
            with gr.Tab("System", id="system", visible=False) as system_tab:
                gr.Markdown("Configuration and health of this installation (for administrators).",
                            elem_classes="coach-note")
                status = gr.Code(label="Status", language="json")
                with gr.Row():
                    refresh = gr.Button("Refresh")
                    check = gr.Button("Check the model")
                reply = gr.Textbox(label="Model self-test", interactive=False)

        view_outputs = [chooser, chat_col, chatbot, progress, corr_slot, corr_text, summary_col, summary, share,
                        keep, answer_col, notice, mine_list]
        after_outputs = view_outputs[1:-2]
        set_url = ("(id) => { if (id) { const u = new URL(window.location);"
                   " u.searchParams.set('debrief', id); window.history.replaceState(null, '', u); } }")
        role_tab_list = [debrief_tab, pairs_tab, topics_tab, review_tab, people_tab, system_tab]

        def role_extras(request: gr.Request):
            actor = who(request)
            fac = actor.role == "facilitator"
            return gr.Accordion(visible=fac), gr.Accordion(visible=fac), WELCOME_STAFF.get(actor.role, WELCOME)

        app.load(on_load, outputs=[signed_in, *role_tab_list, did, *view_outputs]).then(
            role_extras, outputs=[sp_acc, b_acc, welcome]).then(
            lambda d: gr.Tabs(selected="debrief") if d else gr.Tabs(), inputs=did, outputs=tabs)
        open_btn.click(open_debrief, inputs=mine_list, outputs=[did, *view_outputs]).then(None, inputs=did, js=set_url)
        stream_out = [msg, chatbot, progress, notice]
        for trigger in (send_btn.click, msg.submit):
            trigger(send, inputs=[did, msg], outputs=stream_out).then(after, inputs=did, outputs=after_outputs)
        skip_btn.click(skip, inputs=did, outputs=stream_out).then(after, inputs=did, outputs=after_outputs)
        end_btn.click(end, inputs=did, outputs=stream_out).then(after, inputs=did, outputs=after_outputs)
        corr_btn.click(correct, inputs=[did, corr_slot, corr_text, corr_mode],
                       outputs=[corr_text, chatbot, progress, notice]).then(after, inputs=did, outputs=after_outputs)
        corr_slot.change(said_before, inputs=[did, corr_slot], outputs=corr_said)
        confirm_btn.click(confirm, inputs=[did, share, keep], outputs=view_outputs[1:-1])
        mine_btn.click(lambda: gr.File(visible=True), outputs=mine_file).then(download_mine, outputs=mine_file)
        delete_btn.click(delete_mine, inputs=[did, sure], outputs=[did, *view_outputs])
        delete_all_btn.click(delete_account, inputs=sure_all, outputs=notice).success(
            None, js="() => { setTimeout(() => { window.location.href = '/auth/login'; }, 2500); }")
        create_btn.click(create_pair, inputs=[senior_user, senior_name, senior, junior_user, junior_name, junior, topic,
                                              sessions, start, end_date, *baseline], outputs=created)
        review_outputs = [transcript, items_df, item_pick, item_text, item_before, item_after, review_note, synthesis]
        refresh_q.click(queue_choices, outputs=queue)
        queue.change(open_review, inputs=queue, outputs=review_outputs)
        item_pick.change(pick_item, inputs=[queue, item_pick],
                         outputs=[transcript, item_text, item_before, item_after, review_note])
        for btn, action in ((approve_btn, "approve"), (edit_btn, "edit"), (reject_btn, "reject")):
            btn.click(review_handler(action), inputs=[queue, item_pick, item_text, item_before, item_after],
                      outputs=[items_df, review_note, item_pick], api_name=f"review_{action}")
        dash_btn.click(dashboard, outputs=[theme_plot, assumptions_df, progress_plot])
        review_tab.select(facilitator_only(queue_choices), outputs=queue)
        dash_acc.expand(dashboard, outputs=[theme_plot, assumptions_df, progress_plot])  # computed when looked at
        topics_tab.select(facilitator_only(pair_choices), outputs=sp_pair)
        csv_btn.click(export_handler("csv"), outputs=export_file, api_name="export_csv")
        json_btn.click(export_handler("json"), outputs=export_file, api_name="export_json")
        reextract_btn.click(reextract, outputs=reextract_note)
        t_btn.click(topic_ideas, inputs=[t_senior, t_junior, t_k], outputs=t_out)
        s_btn.click(senior_surprises, inputs=t_senior, outputs=t_out)
        b_btn.click(batch, inputs=b_in, outputs=[b_out, b_note])
        sp_refresh.click(pair_choices, outputs=sp_pair)
        sp_btn.click(similar, inputs=sp_pair, outputs=sp_out)
        people_tab.select(users_table, outputs=users_df)
        f_btn.click(add_facilitator, inputs=[f_user, f_name, f_prog], outputs=[f_note, users_df])
        invite_btn.click(reinvite, inputs=u_id, outputs=f_note)
        close_btn.click(active_handler(False), inputs=u_id, outputs=[f_note, users_df], api_name="close_account")
        reopen_btn.click(active_handler(True), inputs=u_id, outputs=[f_note, users_df], api_name="reopen_account")
        log_btn.click(access_rows, outputs=log_df)
        system_tab.select(status_json, outputs=status)
        refresh.click(status_json, outputs=status)
        check.click(check_model, outputs=reply).then(status_json, outputs=status)
    return app


def _date(text: str | None) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DebriefError(f"“{text}” is not a date like 2026-03-31.") from None


def main(host: str | None = None, port: int | None = None) -> None:
    from coach.web import build_server, first_admin_link, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM ends the app like Ctrl-C does, so the local model server is stopped with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    svc = Services(app=True)
    if not svc.settings.chroma_url:  # the embedded index is this process's while the app runs
        try:
            index_lock.hold(svc.settings.index_dir, "app", wait=True)  # after a command still using it
        except index_lock.IndexLockError as e:
            sys.exit(f"error: {e}")
    svc.start_local_model_in_background()
    accounts = Accounts.from_services(svc)
    blocks = build_app(svc, accounts).queue(default_concurrency_limit=16)
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    server = build_server(blocks, accounts, secure_cookie=svc.settings.cookie_secure, css=CSS,
                          theme=gr.themes.Soft())
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    link = first_admin_link(accounts, f"http://{shown}:{port}")
    if link:  # printed, never stored: only its hash is in the database
        print(f"\n  No administrator has signed in yet. Open this single-use link to choose the\n"
              f"  password of the account `admin`:\n\n    {link}\n", flush=True)
    print(f"coach is running on http://{shown}:{port}", flush=True)
    try:
        serve(server, host, port)
    finally:
        svc.close()
