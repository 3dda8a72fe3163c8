"""The participant's Sessions tab: log a session in a few seconds, answer the check-in after
it (one tap a question), see whether the debrief is due, and turn reminders off. What a
participant may see and do is checked by coach.sessions; the debrief's due line is also shown at
the top of the Debrief tab."""

from __future__ import annotations

import gradio as gr

from coach.policy import AccessDenied, Actor
from coach.sessions import (
    FIT_QUESTION,
    FITS,
    PRIVATE_NOTE,
    ROLE_ANSWERS,
    USEFULNESS,
    USEFULNESS_QUESTION,
    SessionError,
    due_line,
)
from coach.store.models import utcnow
from coach.ui.common import DATE_WIDTH, TODAY_JS, Ctx, as_typed, esc, today_in, warn

OTHER = {"senior": "junior", "junior": "senior"}


def sessions_md(rows: list[dict]) -> str:
    if not rows:
        return "No session logged yet."
    lines = [f"* {r['held_on']:%a %d %b %Y}, {r['minutes']} min" + (f": {esc(r['covered'])}" if r["covered"] else "")
             for r in rows]
    return "**Sessions logged**\n\n" + "\n".join(lines)


def planned_line(st, today) -> str:
    """The pair's next planned session, for its participants ("" without one)."""
    day = st.next_planned
    if day is None:
        return ""
    if st.missed(today):
        return f" A session was planned for {day:%a %d %b}: log it here once it has taken place."
    return f" Next planned session: {day:%a %d %b %Y}."


class SessionsTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.sessions = ctx.svc.sessions

    # -- layout ------------------------------------------------------------------------------

    def build_due(self) -> None:
        """The due line at the top of the Debrief tab (built inside it)."""
        self.due_md = gr.Markdown(elem_id="debrief-due")

    def build(self) -> None:
        self.pair = gr.Dropdown(label="Your pair", choices=[], elem_id="my-pair")
        self.status = gr.Markdown(elem_id="sessions-status")
        with gr.Group(elem_id="log-session"):
            gr.Markdown("### Log a session")
            with gr.Row():
                # a date picker (today unless changed), as for a pair's dates; a future day is refused
                self.day = gr.DateTime(label="Date of the session", include_time=False, type="string",
                                       elem_id="session-date", min_width=DATE_WIDTH)
                self.minutes = gr.Number(label="Length in minutes", value=45, precision=0, minimum=5, maximum=480)
            self.tz = gr.Textbox(visible=False)  # the browser's time zone, sent with the click
            self.covered = gr.Textbox(label="What you covered (optional, one line)", max_lines=1)
            self.log_btn = gr.Button("Log session", variant="primary")
        with gr.Column(visible=False, elem_id="check-in") as self.checkin_col:
            self.checkin_head = gr.Markdown()
            self.checkin_id = gr.Number(visible=False, precision=0)  # not gr.State: it keeps a connection open
            self.useful = gr.Radio([(f"{k} {v}", k) for k, v in USEFULNESS.items()], label=USEFULNESS_QUESTION)
            self.fit = gr.Radio([(v, k) for k, v in FITS.items()], label=FIT_QUESTION, visible=False)
            self.role_q = gr.Radio([(v, k) for k, v in ROLE_ANSWERS.items()], label="")
            self.comment = gr.Textbox(label="Anything to add? (optional)", max_lines=3)
            self.answer_btn = gr.Button("Send check-in", variant="primary")
        self.reminders = gr.Checkbox(label="Send me reminders by e-mail (log a session, check-ins, my debrief)",
                                     value=True, elem_id="reminders")
        self.notice = gr.Markdown(elem_classes="coach-notice", elem_id="sessions-notice")

    @property
    def outputs(self) -> list:
        return [self.pair, self.status, self.due_md, self.checkin_col, self.checkin_head, self.checkin_id,
                self.useful, self.fit, self.role_q, self.comment, self.reminders, self.notice]

    def wire(self, tab: gr.Tab) -> None:
        tab.select(self.show, inputs=self.pair, outputs=self.outputs).then(None, inputs=self.day, outputs=self.day,
                                                                                  js=TODAY_JS)
        self.pair.input(self.show, inputs=self.pair, outputs=self.outputs)
        self.log_btn.click(self.log, inputs=[self.pair, self.day, self.minutes, self.covered, self.tz],
                           outputs=[*self.outputs, self.covered, self.day], api_name="log_session",
                           js=as_typed({1: "session-date"}, tz_at=4)
                           ).then(None, inputs=self.day, outputs=self.day, js=TODAY_JS)  # logged: today again
        self.answer_btn.click(self.answer, inputs=[self.checkin_id, self.useful, self.fit, self.role_q,
                                                   self.comment, self.pair], outputs=self.outputs,
                              api_name="answer_check_in")
        self.reminders.input(self.set_reminders, inputs=self.reminders, outputs=self.notice, api_name="reminders")

    def on_load(self, request: gr.Request) -> dict:
        """On page load: the participant's pair, its due line (also in the Debrief tab), any check-in."""
        try:
            actor = self.ctx.who(request, "participant")
        except AccessDenied:
            return {self.due_md: ""}
        return self.render(actor, None)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, actor: Actor, pair_id: str | None, notice: str = "") -> dict:
        mine = self.sessions.my_pairs(actor)
        chosen = next((p for p in mine if p["pair"] == pair_id), mine[0] if mine else None)
        out = {self.pair: gr.update(choices=[(f"{p['topic']} ({p['role']})", p["pair"]) for p in mine],
                                    value=chosen["pair"] if chosen else None, visible=len(mine) > 1),
               self.reminders: self.sessions.reminders(actor), self.notice: notice}
        if chosen is None:
            return out | {self.status: "You are not in a pair yet: your facilitator adds you to one.",
                          self.due_md: "", **self._check_in(actor, None)}
        rows = self.sessions.sessions(actor, chosen["pair"])
        line = due_line(chosen["status"], ": it is in the Debrief tab")
        line += planned_line(chosen["status"], utcnow().date())
        return out | {self.status: f"**{esc(chosen['topic'])}**: {line}\n\n{sessions_md(rows)}",
                      # once the debrief is finished, when it "becomes due" is no news (and a follow-up may be open)
                      self.due_md: due_line(chosen["status"]) if len(mine) == 1 and chosen["debrief_status"] != "done"
                      else "",
                      **self._check_in(actor, chosen["pair"])}

    def _check_in(self, actor: Actor, pair_id: str | None) -> dict:
        """The oldest check-in waiting for this participant in this pair (hidden when none is)."""
        waiting = [c for c in self.sessions.pending(actor) if c["pair"] == pair_id] if pair_id else []
        if not waiting:
            return {self.checkin_col: gr.update(visible=False), self.checkin_head: "", self.checkin_id: None,
                    self.useful: None, self.fit: gr.update(value=None, visible=False), self.role_q: None,
                    self.comment: ""}
        c = waiting[0]
        more = f" ({len(waiting) - 1} more after this one)" if len(waiting) > 1 else ""
        head = (f"### Check-in: your session of {c['held_on']:%d %b %Y} (session {c['number']}){more}\n\n"
                + PRIVATE_NOTE.format(other=OTHER[c["role"]]))
        return {self.checkin_col: gr.update(visible=True), self.checkin_head: head, self.checkin_id: c["id"],
                self.useful: None, self.fit: gr.update(value=None, visible=c["asks_fit"]),
                self.role_q: gr.update(value=None, label=c["role_question"]), self.comment: ""}

    # -- handlers ----------------------------------------------------------------------------

    def show(self, pair_id, request: gr.Request) -> dict:
        try:
            return self.render(self.ctx.who(request, "participant"), pair_id)
        except AccessDenied as e:
            return {self.notice: warn(e)}

    def log(self, pair_id, day, minutes, covered, tz=None, request: gr.Request | None = None) -> dict:
        try:
            actor = self.ctx.who(request, "participant")
            if not pair_id:
                raise SessionError("You are not in a pair yet.")
            today = today_in(tz)
            self.sessions.log(actor, pair_id, day or today, minutes, covered, today=today)
        except (AccessDenied, SessionError) as e:  # what was typed stays in the boxes
            return {self.notice: warn(e), self.covered: gr.update(), self.day: gr.update()}
        return self.render(actor, pair_id, "Session logged. Thank you!") | {self.covered: "", self.day: None}

    def answer(self, check_in_id, useful, fit, role_answer, comment, pair_id, request: gr.Request) -> dict:
        try:
            actor = self.ctx.who(request, "participant")
            if check_in_id is None:
                raise SessionError("There is no check-in waiting.")
            self.sessions.answer(actor, int(check_in_id), useful, role_answer, fit, comment)
        except (AccessDenied, SessionError) as e:  # the answers given stay ticked
            return {self.notice: warn(e)}
        return self.render(actor, pair_id, "Check-in sent. Thank you!")

    def set_reminders(self, on, request: gr.Request) -> str:
        try:
            self.sessions.set_reminders(self.ctx.who(request, "participant"), bool(on))
        except AccessDenied as e:
            return warn(e)
        return "Reminders on." if on else "Reminders off: coach will not e-mail you reminders."
