"""The facilitator's tabs: New pair, and Review (the review desk, the programme dashboard and
exports). What a facilitator may see and do is checked by coach.review and coach.records."""

from __future__ import annotations

import gradio as gr

from coach.accounts import AccountError
from coach.debriefs import DebriefError
from coach.interview import baseline_questions
from coach.policy import AccessDenied
from coach.records import KIND_LABEL, ReviewError
from coach.ui.common import Ctx, esc, parse_date, unchanged, warn


class PairsTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx

    def build(self) -> None:
        gr.Markdown("Create a pair of your programme. Each person gets a sign-in name; new people get a "
                    "single-use invitation link to choose a password. Each sees only their own debrief.")
        with gr.Row():
            self.topic = gr.Textbox(label="Topic the junior knows better")
            self.sessions = gr.Number(label="Planned sessions", value=4, precision=0, minimum=1, maximum=50)
        with gr.Row():
            self.senior_user = gr.Textbox(label="Senior's sign-in name (e.g. e-mail)")
            self.senior_name = gr.Textbox(label="Senior's name")
            self.senior = gr.Textbox(label="Senior's role", placeholder="e.g. Retail operations director")
        with gr.Row():
            self.junior_user = gr.Textbox(label="Junior's sign-in name (e.g. e-mail)")
            self.junior_name = gr.Textbox(label="Junior's name")
            self.junior = gr.Textbox(label="Junior's role and strengths", placeholder="e.g. Social media associate")
        with gr.Row():
            self.start = gr.Textbox(label="First session (YYYY-MM-DD)")
            self.end = gr.Textbox(label="Last session (YYYY-MM-DD)")
        gr.Markdown("**Senior's starting beliefs** (optional; best answered by the senior before the "
                    "first session; the debrief will come back to them):")
        self.baseline = [gr.Textbox(label=q, lines=1) for q in baseline_questions(self.ctx.svc.settings.prompts_dir)]
        self.create_btn = gr.Button("Create pair", variant="primary")
        self.created = gr.Markdown(elem_id="pair-created")

    def wire(self) -> None:
        self.create_btn.click(self.create, inputs=[self.senior_user, self.senior_name, self.senior, self.junior_user,
                                                   self.junior_name, self.junior, self.topic, self.sessions,
                                                   self.start, self.end, *self.baseline], outputs=self.created,
                              api_name="create_pair")

    def create(self, senior_user, senior_name, senior, junior_user, junior_name, junior, topic, sessions, start,
               end, b1, b2, b3, request: gr.Request) -> str:
        accounts, debriefs = self.ctx.accounts, self.ctx.svc.debriefs
        try:
            actor = self.ctx.who(request, "facilitator")
            if not (senior_user or "").strip() or not (junior_user or "").strip():
                raise DebriefError("Please give each participant a sign-in name (their e-mail address works).")
            if senior_user.strip().lower() == junior_user.strip().lower():
                raise DebriefError("The senior and the junior need different sign-in names.")
            for name in (senior_user, junior_user):  # check both before writing anything
                accounts.check_participant(name)
            pair = debriefs.create_pair(
                programme=actor.programme, senior_name=senior_name, senior=senior, junior_name=junior_name,
                junior=junior, topic=topic, sessions=int(sessions) if sessions else None,
                start_date=parse_date(start), end_date=parse_date(end), baseline=[b1, b2, b3])
            people = {"senior": accounts.participant(senior_user, senior_name, actor),
                      "junior": accounts.participant(junior_user, junior_name, actor)}
        except (AccessDenied, AccountError, DebriefError, ValueError) as e:
            return f"⚠️ {e}"
        base = self.ctx.base_url(request)
        lines = [f"**Pair created** for “{esc(pair.topic)}” in programme “{esc(pair.programme)}”."]
        for role, (user, token) in people.items():
            debriefs.open(pair.id, role, participant_id=user.id)
            label = f"{role.capitalize()} ({esc(user.display_name or user.username)}, sign-in name `{esc(user.username)}`)"
            if token:
                lines.append(f"* {label}: send them this single-use invitation link to choose a password "
                             f"(valid {self.ctx.svc.settings.invitation_days} days): `{base}/auth/invite/{token}`")
            else:
                lines.append(f"* {label}: already has an account or an invitation; the debrief is waiting when "
                             "they sign in.")
        return "\n".join(lines)


class ReviewTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.review = ctx.svc.review

    def build(self) -> None:
        gr.Markdown("Debriefs of your programme whose participant agreed to share. Check each item "
                    "against the participant's words, then approve, edit or reject it. "
                    "Each opening and each decision is recorded in the access log.")
        with gr.Row():
            self.queue = gr.Dropdown(label="Shared debriefs", choices=[], scale=4)
            self.refresh_q = gr.Button("Refresh queue", scale=1)
        self.items = gr.Dataframe(headers=["id", "kind", "item", "status", "theme", "depth", "scope", "reviewer"],
                                  label="Items", interactive=False, wrap=True,
                                  column_widths=["5%", "11%", "40%", "9%", "12%", "9%", "7%", "7%"])
        with gr.Row():
            with gr.Column(scale=3):
                self.transcript = gr.HTML(label="Transcript")
            with gr.Column(scale=2):
                self.pick = gr.Dropdown(label="Item", choices=[])
                self.text = gr.Textbox(label="Text (learned / action)")
                self.before = gr.Textbox(label="Before (broken assumption)")
                self.after = gr.Textbox(label="After (broken assumption)")
                with gr.Row():
                    self.approve_btn = gr.Button("Approve", variant="primary")
                    self.edit_btn = gr.Button("Save edit and approve")
                    self.reject_btn = gr.Button("Reject", variant="stop")
                self.note = gr.Markdown()
        self.synthesis = gr.Markdown()
        with gr.Accordion("Programme dashboard and export", open=False) as self.dash_acc:
            self.dash_btn = gr.Button("Refresh dashboard")
            self.theme_plot = gr.BarPlot(x="theme", y="items", color="depth", title="Approved items by theme and depth")
            self.assumptions = gr.Dataframe(label="Most frequent broken assumptions", interactive=False)
            self.progress_plot = gr.BarPlot(x="debriefs", y="count", title="Debriefs done versus planned")
            with gr.Row():
                self.csv_btn = gr.Button("Export approved records (CSV)")
                self.json_btn = gr.Button("Export approved records (JSON)")
            self.export_file = gr.File(label="Export")
            self.reextract_btn = gr.Button("Re-extract all finished debriefs")
            self.reextract_note = gr.Markdown()
        with gr.Accordion("Colleagues awaiting approval", open=False):
            gr.Markdown("A facilitator account an administrator created for your programme reads nothing of it "
                        "until a facilitator of the programme approves it. Approve only a colleague you know.")
            with gr.Row():
                self.waiting = gr.Dropdown(label="Facilitator account", choices=[], scale=4)
                self.approve_colleague = gr.Button("Approve", scale=1)
            self.waiting_note = gr.Markdown()

    def wire(self, tab: gr.Tab) -> None:
        self.refresh_q.click(self.queue_choices, outputs=self.queue, api_name="queue_choices")
        tab.select(self.queue_if_facilitator, outputs=self.queue)
        self.queue.change(self.open, inputs=self.queue, outputs=self.opened, api_name="open_review")
        self.pick.change(self.pick_item, inputs=[self.queue, self.pick],
                         outputs=[self.transcript, self.text, self.before, self.after, self.note], api_name="pick_item")
        for btn, action in ((self.approve_btn, "approve"), (self.edit_btn, "edit"), (self.reject_btn, "reject")):
            btn.click(self.decider(action), inputs=[self.queue, self.pick, self.text, self.before, self.after],
                      outputs=[self.items, self.note, self.pick], api_name=f"review_{action}")
        dash = [self.theme_plot, self.assumptions, self.progress_plot]
        self.dash_btn.click(self.dashboard, outputs=dash, api_name="dashboard")
        self.dash_acc.expand(self.dashboard, outputs=dash)  # computed when looked at
        self.csv_btn.click(self.exporter("csv"), outputs=self.export_file, api_name="export_csv")
        self.json_btn.click(self.exporter("json"), outputs=self.export_file, api_name="export_json")
        self.reextract_btn.click(self.reextract, outputs=self.reextract_note, api_name="reextract")
        tab.select(self.waiting_choices, outputs=self.waiting)
        self.approve_colleague.click(self.approve, inputs=self.waiting, outputs=[self.waiting_note, self.waiting],
                                     api_name="approve_facilitator")

    @property
    def opened(self) -> list:
        return [self.transcript, self.items, self.pick, self.text, self.before, self.after, self.note, self.synthesis]

    # -- handlers ----------------------------------------------------------------------------

    def queue_choices(self, request: gr.Request):
        actor = self.ctx.who(request, "facilitator")
        return gr.update(choices=[(f"{q['topic']} · {q['role']} · {q['pending']} to review · {q['approved']} approved",
                                   q["id"]) for q in self.review.queue(actor)])

    def waiting_choices(self, request: gr.Request):
        try:
            actor = self.ctx.who(request, "facilitator")
        except AccessDenied:
            return gr.update()
        return gr.update(choices=[(f"{u.display_name or u.username} ({u.username})", u.id)
                                  for u in self.ctx.accounts.awaiting_approval(actor)], value=None)

    def approve(self, user_id, request: gr.Request):
        try:
            actor = self.ctx.who(request, "facilitator")
            if user_id is None:
                raise AccountError("Choose an account first.")
            self.ctx.accounts.approve_facilitator(actor, int(user_id))
        except (AccessDenied, AccountError) as e:
            return warn(e), gr.update()
        return "Approved: they can now review your programme's shared debriefs.", self.waiting_choices(request)

    def queue_if_facilitator(self, request: gr.Request):
        """The tab's select event fires for every role that has the tab: others get no change."""
        try:
            return self.queue_choices(request)
        except AccessDenied:
            return gr.update()

    def transcript_html(self, turns, quote: str | None = None, turn: int | None = None) -> str:
        slots = {sl.id: sl.label for role in ("senior", "junior") for sl in self.ctx.svc.debriefs.protocol(role).slots}
        rows = []
        for idx, speaker, text, meta in turns:
            body = esc(text)
            if quote and idx == turn:
                q = esc(quote)
                body = body.replace(q, f"<mark>{q}</mark>", 1)
            who = "Coach" if speaker == "coach" else "Participant"
            if meta.get("correction_of"):  # said later, about an earlier question
                how = "replacing" if meta.get("replaces") else "adding to"
                who += f" (correction, {how} the answer on “{esc(slots.get(meta['correction_of'], meta['correction_of']))}”)"
            rows.append(f'<p class="turn {speaker}"><b>{who}:</b> {body}</p>')
        return '<div id="review-transcript">' + "".join(rows) + "</div>"

    @staticmethod
    def table(items: list[dict]) -> list[list]:
        return [[r["id"], KIND_LABEL[r["kind"]], r["text"], r["status"], r["theme"], r["depth"], r["scope"],
                 r["reviewed_by"] or ""] for r in items]

    @staticmethod
    def choices(items: list[dict]) -> list[tuple[str, int]]:
        return [(f"#{r['id']} {KIND_LABEL[r['kind']]}: {str(r['text'])[:60]}", r["id"]) for r in items]

    def synthesis_md(self, actor, did: str) -> str:
        try:
            syn = self.review.synthesis(actor, did)
        except ReviewError as e:
            return f"**Pair synthesis:** {e}"
        lines = ["**Pair synthesis: what the junior taught against what the senior learned**"]
        lines += [f"* ✔ taught “{esc(o['taught'])}” ⇄ learned “{esc(o['learned'])}”" for o in syn["overlap"]]
        lines += [f"* taught, not mentioned as learned: “{esc(t)}”" for t in syn["taught_not_learned"]]
        lines += [f"* learned beyond what was taught: “{esc(x)}”" for x in syn["learned_not_taught"]]
        return "\n".join(lines)

    def open(self, did, request: gr.Request) -> dict:
        empty = {self.transcript: "", self.items: [], self.pick: gr.update(choices=[], value=None), self.text: "",
                 self.before: "", self.after: "", self.note: "", self.synthesis: ""}
        if not did:
            return empty
        try:
            actor = self.ctx.who(request, "facilitator")
            turns, items = self.review.open(actor, did)
        except (AccessDenied, ReviewError) as e:
            return empty | {self.transcript: warn(e), self.pick: gr.update(choices=[])}
        return empty | {self.transcript: self.transcript_html(turns), self.items: self.table(items),
                        self.pick: gr.update(choices=self.choices(items), value=None),
                        self.synthesis: self.synthesis_md(actor, did)}

    def pick_item(self, did, rid, request: gr.Request) -> dict:
        keys = (self.transcript, self.text, self.before, self.after, self.note)
        if not did or rid is None:
            return unchanged(*keys)
        try:
            actor = self.ctx.who(request, "facilitator")
            turns, items = self.review.read(actor, did)
        except (AccessDenied, ReviewError) as e:  # e.g. sharing withdrawn while the debrief was open
            return unchanged(*keys) | {self.transcript: warn(e)}
        r = next((x for x in items if x["id"] == rid), None)
        if r is None:
            return unchanged(*keys)
        return {self.transcript: self.transcript_html(turns, r["quote"], r["turn_index"]), self.text: r["text"] or "",
                self.before: r["before"] or "", self.after: r["after"] or "",
                self.note: ""}  # a notice about an earlier choice no longer applies

    def decider(self, action: str):
        def decide(did, rid, text, before, after, request: gr.Request) -> dict:
            if rid is None or not did:
                return {self.note: "⚠️ Choose an item first."}
            try:
                actor = self.ctx.who(request, "facilitator")
                row = self.review.decide(actor, did, int(rid), action, text=text, before=before, after=after)
                items = self.review.items(actor, did)
            except (AccessDenied, ReviewError) as e:
                return {self.note: warn(e)}
            return {self.items: self.table(items), self.note: f"Item #{row['id']} {row['status']} by "
                                                             f"{esc(row['reviewed_by'])}.",
                    self.pick: gr.update(choices=self.choices(items), value=int(rid))}  # an edit shows in the list too

        return decide

    def exporter(self, fmt: str):
        def export(request: gr.Request) -> str:
            actor = self.ctx.who(request, "facilitator")
            return str(self.review.export(actor, self.ctx.scratch_folder(), fmt))

        return export

    def dashboard(self, request: gr.Request):
        import pandas as pd

        d = self.review.dashboard(self.ctx.who(request, "facilitator"))
        td = pd.DataFrame(d["theme_depth"] or [{"theme": "none yet", "depth": "awareness", "items": 0}])
        return (td, pd.DataFrame(d["assumptions"] or [{"belief before": "none yet", "debriefs": 0}]),
                pd.DataFrame(d["progress"]))

    def reextract(self, request: gr.Request, progress=gr.Progress()) -> str:  # noqa: B008 (Gradio's way to ask for it)
        actor = self.ctx.who(request, "facilitator")
        progress(0, desc="Re-extracting")
        n = self.ctx.svc.debriefs.reextract(actor, progress=lambda done, total: progress(
            done / max(total, 1), desc=f"{done}/{total} debriefs"))
        return f"Re-extracted: {n} new pending items."
