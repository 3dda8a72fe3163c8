"""The facilitator's tabs: New pair, and Review (the review desk, the programme dashboard and
exports). What a facilitator may see and do is checked by coach.review and coach.records."""

from __future__ import annotations

import gradio as gr

from coach.accounts import AccountError
from coach.debriefs import DebriefError
from coach.interview import baseline_questions
from coach.policy import AccessDenied
from coach.records import KIND_LABEL, ReviewError, outcome_text
from coach.review import attempt_spans
from coach.sessions import RHYTHMS, SessionError, plan_line, plan_of
from coach.themes import DEPTHS, SCOPES, THEMES
from coach.ui.common import (
    BROWSER_TZ,
    DATE_WIDTH,
    TODAY_JS,
    Ctx,
    as_typed,
    code,
    esc,
    local_time,
    missing_fields,
    parse_date,
    today_in,
    unchanged,
    warn,
)

RHYTHM_CHOICES = [(label, days) for days, label in RHYTHMS.items()]
DEFAULT_RHYTHM = 14


class PairsTab:
    """The programme's pairs: create one, and look after each (a new invitation link, its topic and
    planned sessions, closing it, removing one created by mistake)."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.debriefs = ctx.svc.debriefs
        self._zones: dict[int, str] = {}  # each facilitator's browser time zone, as last sent

    def build(self) -> None:
        self.tz = gr.Textbox(visible=False)
        with gr.Accordion("New pair", open=True):
            gr.Markdown("Each person gets a sign-in name; new people get a single-use invitation link to choose a "
                        "password. Each sees only their own debrief.")
            self.topic = gr.Textbox(label="Topic the junior knows better")
            with gr.Row():
                self.senior_user = gr.Textbox(label="Senior's sign-in name (e.g. e-mail)")
                self.senior_name = gr.Textbox(label="Senior's name")
                self.senior = gr.Textbox(label="Senior's role", placeholder="e.g. Retail operations director")
            with gr.Row():
                self.junior_user = gr.Textbox(label="Junior's sign-in name (e.g. e-mail)")
                self.junior_name = gr.Textbox(label="Junior's name")
                self.junior = gr.Textbox(label="Junior's role and strengths", placeholder="e.g. Social media associate")
            # the plan: how many sessions, a first date and a rhythm (coach.sessions.RHYTHMS says why),
            # and the dates they give
            with gr.Row():
                self.sessions = gr.Number(label="Planned sessions", value=4, precision=0, minimum=1, maximum=50)
                self.start = gr.DateTime(label="First session", include_time=False, type="string",
                                         elem_id="plan-start", min_width=DATE_WIDTH)
                self.every = gr.Dropdown(RHYTHM_CHOICES, value=DEFAULT_RHYTHM, label="Then meet",
                                         elem_id="plan-every")
            self.plan_md = gr.Markdown(self.plan_preview(None, DEFAULT_RHYTHM, 4), elem_id="plan-preview",
                                       elem_classes="coach-note")
            gr.Markdown("**Senior's starting beliefs** (optional; best answered by the senior before the "
                        "first session; the debrief will come back to them):")
            self.baseline = [gr.Textbox(label=q, lines=1)
                             for q in baseline_questions(self.ctx.svc.settings.prompts_dir)]
            self.create_btn = gr.Button("Create pair", variant="primary")
            self.created = gr.Markdown(elem_id="pair-created")
        gr.Markdown("### Your programme's pairs")
        self.counts = gr.Markdown(elem_id="pairs-counts")
        self.table = gr.Dataframe(headers=PAIR_COLUMNS, label="Pairs, at risk first (click a row to look after that "
                                  "pair)", interactive=False, wrap=True, elem_id="pairs-table",
                                  column_widths=PAIR_WIDTHS)
        self.undelivered = gr.Markdown(elem_id="mail-undelivered")
        self.pair_id = gr.Textbox(visible=False)
        with gr.Column(visible=False, elem_id="pair-details") as self.details:
            self.chosen = gr.Markdown()
            with gr.Row():
                self.link_senior = gr.Button("New invitation link for the senior")
                self.link_junior = gr.Button("New invitation link for the junior")
            with gr.Row():
                self.edit_topic = gr.Textbox(label="Topic", scale=3)
                self.edit_sessions = gr.Number(label="Planned sessions", precision=0, minimum=1, maximum=50, scale=1)
            with gr.Row():
                self.edit_start = gr.DateTime(label="First session", include_time=False, type="string",
                                              elem_id="edit-plan-start", min_width=DATE_WIDTH)
                self.edit_every = gr.Dropdown(RHYTHM_CHOICES, label="Then meet", elem_id="edit-plan-every")
            self.edit_plan_md = gr.Markdown(elem_id="edit-plan-preview", elem_classes="coach-note")
            self.save_btn = gr.Button("Save changes")
            with gr.Accordion("Sessions and check-ins", open=False, elem_id="pair-sessions"):
                self.sessions_md = gr.Markdown()
                with gr.Row():
                    self.log_day = gr.DateTime(label="Session date", include_time=False, type="string",
                                               elem_id="pair-session-date", min_width=DATE_WIDTH)
                    self.log_minutes = gr.Number(label="Length in minutes", value=45, precision=0, minimum=5,
                                                 maximum=480)
                    self.log_covered = gr.Textbox(label="What was covered (optional)", max_lines=1)
                with gr.Row():
                    self.log_btn = gr.Button("Log a session for this pair")
                    self.open_debrief_btn = gr.Button("Open the debrief now (before the planned sessions)")
                    self.checkins_btn = gr.Button("Read the check-ins (written to the access log)")
                self.checkins_md = gr.Markdown(elem_id="pair-check-ins")
            with gr.Row():
                self.close_btn = gr.Button("Close the pair")
                self.reopen_btn = gr.Button("Reopen the pair")
                self.remove_btn = gr.Button("Remove the pair (created by mistake)", variant="stop")
        self.note = gr.Markdown(elem_id="pair-note")

    @property
    def form(self) -> list:
        return [self.senior_user, self.senior_name, self.senior, self.junior_user, self.junior_name, self.junior,
                self.topic, self.sessions, self.start, self.every, *self.baseline]

    def wire(self, tab: gr.Tab) -> None:
        self.create_btn.click(self.create, inputs=self.form, outputs=[self.created, self.table, self.counts, *self.form],
                              api_name="create_pair", js=as_typed({self.form.index(self.start): "plan-start"}))
        tab.select(self.pairs_if_facilitator, inputs=self.tz, outputs=[self.table, self.counts, self.undelivered],
                   js=BROWSER_TZ).then(None, inputs=self.log_day, outputs=self.log_day, js=TODAY_JS)
        gr.on([self.start.change, self.every.change, self.sessions.change], self.plan_preview,
              inputs=[self.start, self.every, self.sessions], outputs=self.plan_md, show_progress="hidden")
        # change, not input: choosing a pair sets all three, and the last of their events sees them all
        gr.on([self.edit_start.change, self.edit_every.change, self.edit_sessions.change], self.plan_preview,
              inputs=[self.edit_start, self.edit_every, self.edit_sessions], outputs=self.edit_plan_md,
              show_progress="hidden")
        self.table.select(self.choose, outputs=[self.pair_id, self.details, self.chosen, self.edit_topic,
                                                self.edit_sessions, self.edit_start, self.edit_every,
                                                self.edit_plan_md, self.note, self.sessions_md, self.checkins_md,
                                                self.close_btn, self.reopen_btn])
        self.log_btn.click(self.log_session, inputs=[self.pair_id, self.log_day, self.log_minutes, self.log_covered,
                                                     self.tz],
                           outputs=[self.note, self.table, self.counts, self.sessions_md, self.log_covered],
                           js=as_typed({1: "pair-session-date"}, tz_at=4))
        self.open_debrief_btn.click(self.open_debrief, inputs=self.pair_id, outputs=[self.note, self.table, self.counts,
                                                                                    self.sessions_md])
        self.checkins_btn.click(self.read_check_ins, inputs=self.pair_id, outputs=self.checkins_md,
                                api_name="read_check_ins")
        for btn, role in ((self.link_senior, "senior"), (self.link_junior, "junior")):
            btn.click(self.linker(role), inputs=self.pair_id, outputs=self.note)
        after = [self.note, self.table, self.counts, self.chosen, self.details, self.close_btn, self.reopen_btn]
        self.save_btn.click(self.save, inputs=[self.pair_id, self.edit_topic, self.edit_sessions, self.edit_start,
                                               self.edit_every], outputs=after,
                            js=as_typed({3: "edit-plan-start"}))
        self.close_btn.click(self.closer(True), inputs=self.pair_id, outputs=after)
        self.reopen_btn.click(self.closer(False), inputs=self.pair_id, outputs=after)
        self.remove_btn.click(self.remove, inputs=self.pair_id, outputs=after)

    # -- the list ----------------------------------------------------------------------------

    def listing(self, actor) -> tuple[list[list], str]:
        """Every pair of the programme, at risk first, and the counts above them (coach.risk;
        reading it is logged)."""
        overview = self._overview(actor)
        risk = [r for r, _ in overview]
        tz = self._zones.get(actor.id)
        return [risk_row(r, p, tz) for r, p in overview], counts_md(self.ctx.svc.risk.counts(risk), risk)

    def _overview(self, actor) -> list[tuple[dict, dict]]:
        listed = {p["id"]: p for p in self.debriefs.pair_list(actor)}
        return [(r, listed[r["pair"]]) for r in self.ctx.svc.risk.overview(actor) if r["pair"] in listed]

    def pairs_if_facilitator(self, tz, request: gr.Request):
        try:
            actor = self.ctx.who(request, "facilitator")
        except AccessDenied:
            return gr.update(), gr.update(), gr.update()
        if tz:
            self._zones[actor.id] = str(tz)[:64]
        overview = self._overview(actor)  # once: each reading is logged
        risk = [r for r, _ in overview]
        return ([risk_row(r, p, tz) for r, p in overview], counts_md(self.ctx.svc.risk.counts(risk), risk),
                undelivered_md(self.ctx.svc.mail.undelivered(actor), tz))

    def choose(self, evt: gr.SelectData, request: gr.Request):
        actor = self.ctx.who(request, "facilitator")
        row = evt.row_value if isinstance(evt.row_value, list) else []
        p = next((x for x in self.debriefs.pair_list(actor) if row and x["id"] == row[-1]), None)
        if p is None:
            return None, gr.update(visible=False), "", "", None, None, 0, "", "", "", "", *close_buttons(None)
        start = p["start_date"].isoformat() if p["start_date"] else None
        every = p["every_days"] or 0
        return (p["id"], gr.update(visible=True), pair_md(p), p["topic"], p["sessions"], start,
                gr.update(value=every, choices=rhythm_choices(every)),
                self.plan_preview(start, every, p["sessions"]), "", self._sessions_md(actor, p["id"]), "",
                *close_buttons(p))

    def plan_preview(self, start, every, sessions, created: bool = False) -> str:
        """The dates a plan gives, as the facilitator sets it (before it is saved; ``created``: just
        after the pair was created with it)."""
        quiet = self.ctx.svc.settings.log_session_days
        try:
            day = parse_date(start)
        except DebriefError as e:
            return warn(e)
        if day is None:
            first = ("No session dates planned (choose the pair in the list below to plan them)" if created else
                     "Choose the first session's date to plan the sessions")
            return f"{first}; without one, participants are reminded to log a session after {quiet} days without one."
        n = int(sessions) if sessions and int(sessions) > 0 else None
        return plan_line(plan_of(day, int(every or 0), n), int(every or 0), quiet)

    def _sessions_md(self, actor, pair_id: str) -> str:
        from coach.ui.sessions import sessions_md

        st = self.ctx.svc.sessions.status(actor, pair_id)
        due = ("the debrief is due" + (" (opened early)" if st.opened_early else "")) if st.due else "debrief not due yet"
        planned = f" of {st.planned} planned" if st.planned else ""
        return f"{st.held}{planned} sessions logged; {due}.\n\n" + sessions_md(self.ctx.svc.sessions.sessions(actor, pair_id))

    def log_session(self, pair_id, day, minutes, covered, tz=None, request: gr.Request | None = None):
        try:
            actor = self.ctx.who(request, "facilitator")
            if not pair_id:
                raise SessionError("Choose a pair in the list first.")
            today = today_in(tz)
            self.ctx.svc.sessions.log(actor, pair_id, day or today, minutes, covered, today=today)
        except (AccessDenied, SessionError) as e:  # what was typed stays
            return warn(e), gr.update(), gr.update(), gr.update(), gr.update()
        return "Session logged; each participant has a check-in waiting.", *self.listing(actor), \
            self._sessions_md(actor, pair_id), ""

    def open_debrief(self, pair_id, request: gr.Request):
        try:
            actor = self.ctx.who(request, "facilitator")
            if not pair_id:
                raise DebriefError("Choose a pair in the list first.")
            self.ctx.svc.sessions.open_debrief(actor, pair_id)
        except (AccessDenied, DebriefError) as e:
            return warn(e), gr.update(), gr.update(), gr.update()
        return "The debrief is open: both participants see it as due.", *self.listing(actor), \
            self._sessions_md(actor, pair_id)

    def read_check_ins(self, pair_id, request: gr.Request) -> str:
        try:
            actor = self.ctx.who(request, "facilitator")
            if not pair_id:
                return "⚠️ Choose a pair in the list first."
            rows = self.ctx.svc.sessions.check_ins(actor, pair_id)
        except (AccessDenied, DebriefError) as e:
            return warn(e)
        return check_ins_md(rows)

    def _after(self, request, pair_id: str, note: str) -> tuple:
        actor = self.ctx.who(request, "facilitator")
        p = next((x for x in self.debriefs.pair_list(actor) if x["id"] == pair_id), None)
        return note, *self.listing(actor), pair_md(p) if p else "", gr.update(visible=p is not None), *close_buttons(p)

    # -- handlers ----------------------------------------------------------------------------

    def create(self, senior_user, senior_name, senior, junior_user, junior_name, junior, topic, sessions, start,
               every, b1, b2, b3, request: gr.Request):
        keep = [gr.update()] * len(self.form)  # a refused form keeps what was typed
        try:
            actor = self.ctx.who(request, "facilitator")
            problem = missing_fields(("the senior's sign-in name", senior_user), ("the junior's sign-in name", junior_user),
                                     ("the senior's role", senior), ("the junior's role", junior), ("the topic", topic))
            if problem:
                raise DebriefError(problem)
            if senior_user.strip().lower() == junior_user.strip().lower():
                raise DebriefError("The senior and the junior need different sign-in names.")
            accounts = self.ctx.accounts
            s_user, j_user = (accounts.check_participant(n) for n in (senior_user, junior_user))  # both first
            if s_user and j_user and self.debriefs.duplicate_of(actor.programme or "", topic, s_user.id, j_user.id):
                raise DebriefError("This pair already exists (same people, same topic): see it in the list below. "
                                   "For a lost invitation, choose the pair there and send a new link.")
            pair = self.debriefs.create_pair(
                programme=actor.programme or "", senior_name=senior_name, senior=senior, junior_name=junior_name,
                junior=junior, topic=topic, sessions=int(sessions) if sessions else None,
                start_date=parse_date(start), every_days=every, baseline=[b1, b2, b3])
            people = {"senior": accounts.participant(senior_user, senior_name, actor),
                      "junior": accounts.participant(junior_user, junior_name, actor)}
        except (AccessDenied, AccountError, DebriefError, ValueError) as e:
            return f"⚠️ {esc(str(e))}", gr.update(), gr.update(), *keep
        base = self.ctx.base_url(request)
        lines = [f"**Pair created** for “{esc(pair.topic)}” in programme “{esc(pair.programme)}”. "
                 + self.plan_preview(start, every, sessions, created=True)]
        for role, (user, token) in people.items():
            self.debriefs.open(pair.id, role, participant_id=user.id)
            label = f"{role.capitalize()} ({esc(user.display_name or user.username)}, sign-in name {code(user.username)})"
            if token and self._mail_invitation(user, f"{base}/auth/invite/{token}", actor):
                lines.append(f"* {label}: their single-use invitation link is on its way by e-mail (valid "
                             f"{self.ctx.svc.settings.invitation_days} days); should it not arrive, it is also here: "
                             f"`{base}/auth/invite/{token}`")
            elif token:
                lines.append(f"* {label}: send them this single-use invitation link to choose a password "
                             f"(valid {self.ctx.svc.settings.invitation_days} days): `{base}/auth/invite/{token}`")
            else:
                lines.append(f"* {label}: already has an account or an invitation; the debrief is waiting when "
                             "they sign in.")
        cleared = ["", "", "", "", "", "", "", 4, None, DEFAULT_RHYTHM, "", "", ""]
        return "\n".join(lines), *self.listing(actor), *cleared

    def _mail_invitation(self, user, link: str, actor) -> bool:
        """Mail the link too, when a mail server is configured and the sign-in name is an address."""
        return self.ctx.svc.reminders.invite(user.id, user.username, link, actor.programme)

    def linker(self, role: str):
        def new_link(pair_id, request: gr.Request) -> str:
            try:
                actor = self.ctx.who(request, "facilitator")
                p = next((x for x in self.debriefs.pair_list(actor) if x["id"] == pair_id), None)
                side = (p or {}).get("sides", {}).get(role) or {}
                if not side.get("username"):
                    return "⚠️ Choose a pair in the list first."
                if side["has_password"]:
                    return (f"{esc(side['username'])} has already chosen a password. If they forgot it, the "
                            "administrator of this installation can reset it (`python -m coach user reset`).")
                user, token = self.ctx.accounts.participant(side["username"], None, actor)
            except (AccessDenied, AccountError) as e:
                return warn(e)
            if not token:
                return "⚠️ A new link cannot be sent for this account from your programme."
            link = f"{self.ctx.base_url(request)}/auth/invite/{token}"
            mailed = " It is on its way to them by e-mail too." if self._mail_invitation(user, link, actor) else ""
            return (f"New single-use invitation link for the {role} (earlier links no longer work; valid "
                    f"{self.ctx.svc.settings.invitation_days} days): `{link}`{mailed}")

        return new_link

    def save(self, pair_id, topic, sessions, start, every, request: gr.Request):
        try:
            self.debriefs.update_pair(self.ctx.who(request, "facilitator"), pair_id, topic,
                                      int(sessions) if sessions else None, (parse_date(start), every))
        except (AccessDenied, DebriefError) as e:
            return warn(e), *(gr.update(),) * 6
        return self._after(request, pair_id, "Saved.")

    def closer(self, closed: bool):
        def close(pair_id, request: gr.Request):
            try:
                self.debriefs.close_pair(self.ctx.who(request, "facilitator"), pair_id, closed)
            except (AccessDenied, DebriefError) as e:
                return warn(e), *(gr.update(),) * 6
            return self._after(request, pair_id, "The pair is closed." if closed else "The pair is open again.")

        return close

    def remove(self, pair_id, request: gr.Request):
        try:
            self.debriefs.remove_pair(self.ctx.who(request, "facilitator"), pair_id)
        except (AccessDenied, DebriefError) as e:
            return warn(e), *(gr.update(),) * 6
        return self._after(request, pair_id, "The pair was removed.")


def queue_label(q: dict) -> str:
    """A queue entry: topic, whose debrief, when shared, where its review stands."""
    name = q.get("name")
    who = f"{q['role']} ({name})" if name else q["role"]
    when = q["shared_at"].strftime("%d %b") if q.get("shared_at") else ""
    state = f"{q['pending']} to review · {q['approved']} approved" + (f" · {q['rejected']} rejected" if q["rejected"] else "")
    flag = f" · ⚠ {q['suspect']} suspected injection" if q.get("suspect") else ""
    past = {"ingest": " (past debrief, ingested)", "followup": " (follow-up on actions)"}.get(q.get("source") or "", "")
    return f"{q['topic']} · {who}{past} · shared {when} · {state}{flag}"


def item_label(r: dict) -> str:
    """An item of the review list: what, its words, where it stands and where it comes from."""
    how = {"confirmed": "confirmed by the participant", "participant": "written by the participant",
           "edited": "edited"}.get(r.get("provenance") or "", "extracted")
    flag = "⚠ " if r.get("suspect") else ""
    text = outcome_text(r) if r["kind"] == "outcome" else r["text"]
    return (f"{flag}#{r['id']} {KIND_LABEL.get(r['kind'], r['kind'])}: {text} — {r['status']}, {how}; "
            f"{r['theme']}, {r['depth']}, {r['scope']}")


def next_pending(items: list[dict]) -> int | None:
    return next((r["id"] for r in items if r["status"] == "pending"), None)


def pair_state(p: dict) -> str:
    if p.get("closed"):
        return f"closed {p['closed']}"
    sides = p["sides"]
    words = []
    for role in ("senior", "junior"):
        side = sides.get(role) or {}
        if side.get("confirmed"):
            words.append(f"{role}: confirmed")
        elif side.get("status") == "done":
            words.append(f"{role}: finished")
        elif not side.get("has_password"):
            words.append(f"{role}: invited")
        else:
            words.append(f"{role}: debrief open")
    return "; ".join(words)


# status and topic first: on a phone the rest is a scroll away (the reasons are listed above the table too)
PAIR_COLUMNS = ["status", "topic", "why", "sessions (held / planned)", "next planned session", "last activity",
                "fit", "debriefs", "senior", "junior", "pair"]

# wide enough for each header and a short reason: Gradio's own sizing stacks a narrow column's header letter by letter
PAIR_WIDTHS: list[str | int] = ["90px", "190px", "240px", "110px", "150px", "150px", "160px", "200px", "160px", "160px", "130px"]


def rhythm_choices(every: int | None) -> list[tuple[str, int]]:
    """The rhythms to choose from, with a pair's own when it was planned otherwise (the CLI's --every)."""
    if every and every not in RHYTHMS:
        return [*RHYTHM_CHOICES, (f"every {every} days", every)]
    return RHYTHM_CHOICES


def next_session(r: dict) -> str:
    """The next planned session's date, flagged when it passed with no session logged."""
    day = r.get("next_planned")
    if day is None:
        return "none planned"
    return f"⚠ {day:%a %d %b}: missed (not logged)" if r.get("missed") else f"{day:%a %d %b}"


def risk_row(r: dict, p: dict, tz: str | None = None) -> list:
    """A row of the Pairs list: coach.risk's assessment with the pair's accounts (pair_list)."""
    status = {"at risk": "⚠ at risk", "ok": "ok"}.get(r["status"], pair_state(p))
    fit = "; ".join(f"{role}: {' → '.join(answers)}" for role, answers in r["fit"].items() if answers)
    sides = []
    for role in ("senior", "junior"):
        side = p["sides"].get(role) or {}
        word = r["debriefs"][role] if side.get("has_password") or side.get("confirmed") else "invited"
        sides.append(f"{role}: {word}")
    last = local_time(r["last_activity"], tz) or "none"
    return [status, r["topic"], "; ".join(r["reasons"]), f"{r['held']} / {r['planned'] or '?'}", next_session(r),
            last, fit or "not asked yet", "; ".join(sides), r["senior"], r["junior"], r["pair"]]


def counts_md(counts: dict[str, int], rows: list[dict] | None = None) -> str:
    """Pairs by status, then each pair at risk with its reasons (readable on a phone, where the
    table's later columns are a scroll away)."""
    total = sum(counts.values())
    line = (f"**{total} {'pair' if total == 1 else 'pairs'}**: {counts['at risk']} at risk, {counts['ok']} ok"
            + (f", {counts['closed']} closed" if counts["closed"] else "") + ".")
    # at risk marked ⚠; a pair that is ok but missed a planned session is listed unmarked
    risky = [f"* {'⚠ ' if r['reasons'] else ''}**{esc(r['topic'])}**: {esc('; '.join(why(r)))}"
             for r in rows or [] if why(r)]
    return "\n\n".join([line, "\n".join(risky)]) if risky else line


def why(r: dict) -> list[str]:
    """A pair's reasons, and a missed planned session (a flag, not a risk by itself)."""
    missed = [f"the session planned for {r['next_planned']:%a %d %b} is not logged"] if r.get("missed") else []
    return r["reasons"] + missed


def undelivered_md(rows: list[dict], tz: str | None = None) -> str:
    """Mail the server has not taken yet (it is retried until it is): whom, what, why."""
    if not rows:
        return ""
    lines = [f"* to {esc(m['to'])}: “{esc(m['subject'])}”, tried {m['attempts']} times since "
             f"{local_time(m['queued'], tz, '%d %b %H:%M %Z')}; last error: {esc(m['last_error'])}" for m in rows[:20]]
    return (f"⚠ **{len(rows)} e-mails not delivered yet** (coach keeps trying; check the mail settings, or pass "
            "the message on yourself):\n\n" + "\n".join(lines))


def check_ins_md(rows: list[dict]) -> str:
    """A pair's answered check-ins, for its facilitator only (participants' comments escaped)."""
    from coach.sessions import FITS, USEFULNESS

    if not rows:
        return "No check-in answered yet."
    lines = []
    for r in rows:  # a list, not a table: it stays readable on a phone
        fit = f" Fit: {FITS[r['fit']]}." if r["fit"] else ""
        said = f" Comment: “{esc(r['comment'])}”" if r["comment"] else ""
        lines.append(f"* **{r['held_on']:%d %b %Y}, {r['role']}**: {USEFULNESS[r['usefulness']]} "
                     f"({r['usefulness']}/4).{fit} {esc(r['role_question'])} {r['role_answer']}.{said}")
    return "\n".join(lines)


def close_buttons(p: dict | None) -> tuple:
    """Close for an open pair, Reopen for a closed one (both hidden with no pair chosen)."""
    closed = bool(p and p.get("closed"))
    return gr.update(visible=p is not None and not closed), gr.update(visible=closed)


def pair_md(p: dict | None) -> str:
    if not p:
        return ""
    people = " / ".join(f"{role} {esc((p['sides'].get(role) or {}).get('username') or '?')}"
                        for role in ("senior", "junior"))
    plan = ""
    if p.get("start_date"):
        every = p.get("every_days")
        rhythm = f", {RHYTHMS.get(every) or f'every {every} days'}" if every else ""
        plan = f" from {p['start_date']:%a %d %b %Y}{rhythm}"
    return (f"**{esc(p['topic'])}** ({people}); {p['sessions'] or 'no'} sessions planned{plan}; created "
            f"{p['created'].strftime('%Y-%m-%d')}; {esc(pair_state(p))}.")


class ReviewTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.review = ctx.svc.review

    def build(self) -> None:
        gr.Markdown("Debriefs of your programme whose participant agreed to share. Check each item "
                    "against the participant's words, then approve, edit or reject it. "
                    "Each opening and each decision is recorded in the access log.")
        with gr.Row():
            self.search = gr.Textbox(label="Find (topic, participant)", scale=2)
            self.show = gr.Radio(["to review", "all"], value="to review", label="Show", scale=1)
            self.refresh_q = gr.Button("Refresh", scale=1)
        self.queue = gr.Dropdown(label="Shared debriefs", choices=[], elem_id="review-queue")
        with gr.Row():
            with gr.Column(scale=3):
                self.transcript = gr.HTML(label="Transcript")
            with gr.Column(scale=2):
                # one list of the debrief's items: choosing one shows its words in the transcript
                self.pick = gr.Radio(label="Items", choices=[], elem_id="review-items")
                self.text = gr.Textbox(label="Text (learned / action)")
                self.before = gr.Textbox(label="Before (broken assumption)")
                self.after = gr.Textbox(label="After (broken assumption)")
                with gr.Row():
                    self.theme = gr.Dropdown(label="Theme", choices=list(THEMES))
                    self.depth = gr.Dropdown(label="Depth", choices=list(DEPTHS))
                    self.scope = gr.Dropdown(label="Scope", choices=list(SCOPES))
                self.reason = gr.Textbox(label="Reason (for a rejection, optional)")
                with gr.Row():
                    self.approve_btn = gr.Button("Approve", variant="primary")
                    self.edit_btn = gr.Button("Save edit and approve")
                    self.reject_btn = gr.Button("Reject", variant="stop")
                with gr.Row():
                    self.undo_btn = gr.Button("Undo the decision on this item")
                    self.all_btn = gr.Button("Approve all remaining items")
                self.note = gr.Markdown(elem_id="review-note")
        self.synthesis = gr.Markdown()
        with gr.Accordion("Programme dashboard and export", open=False) as self.dash_acc:
            self.dash_btn = gr.Button("Refresh dashboard")
            self.theme_plot = gr.BarPlot(x="theme", y="items", color="depth", title="Approved items by theme and depth")
            self.assumptions = gr.Dataframe(label="Broken assumptions shared most often (similar wordings grouped)",
                                            interactive=False, wrap=True)
            self.progress_plot = gr.BarPlot(x="what", y="count", title="The round so far", y_lim=[0, None],
                                            sort=None, x_label_angle=-30)
            gr.Markdown("Pairs created in the app (past debriefs loaded with `coach ingest` are not counted). Each "
                        "pair expects two debriefs, one from each side; “shared” counts debriefs whose participant "
                        "confirmed the summary and agreed to share it.", elem_classes="coach-note")
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
        filters = [self.search, self.show]
        self.refresh_q.click(self.queue_choices, inputs=filters, outputs=self.queue, api_name="queue_choices")
        gr.on([self.search.submit, self.show.change], self.queue_choices, inputs=filters, outputs=self.queue)
        tab.select(self.queue_if_facilitator, inputs=filters, outputs=self.queue)
        self.queue.change(self.open, inputs=self.queue, outputs=self.opened, api_name="open_review")
        picked = [self.transcript, self.text, self.before, self.after, self.theme, self.depth, self.scope, self.note,
                  self.reason]
        self.pick.change(self.pick_item, inputs=[self.queue, self.pick], outputs=picked, api_name="pick_item")
        edit = [self.text, self.before, self.after, self.theme, self.depth, self.scope, self.reason]
        decided = [self.pick, self.note, self.queue]
        for btn, action in ((self.approve_btn, "approve"), (self.edit_btn, "edit"), (self.reject_btn, "reject"),
                            (self.undo_btn, "undo")):
            btn.click(self.decider(action), inputs=[self.queue, self.pick, *edit, *filters], outputs=decided,
                      api_name=f"review_{action}")
        self.all_btn.click(self.approve_all, inputs=[self.queue, *filters], outputs=decided,
                           api_name="review_approve_all")
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
        return [self.transcript, self.pick, self.text, self.before, self.after, self.note, self.synthesis]

    # -- handlers ----------------------------------------------------------------------------

    def queue_choices(self, search: str = "", show: str = "to review", request: gr.Request | None = None):
        """The queue, each entry telling the debriefs apart: topic, whose, when shared, where it stands."""
        actor = self.ctx.who(request, "facilitator")
        rows = [q for q in self.review.queue(actor) if show == "all" or q["pending"]]
        words = (search or "").lower().split()
        rows = [q for q in rows if all(w in f"{q['topic']} {q.get('name') or ''} {q['role']}".lower() for w in words)]
        return gr.update(choices=[(queue_label(q), q["id"]) for q in rows])

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

    def queue_if_facilitator(self, search, show, request: gr.Request):
        """The tab's select event fires for every role that has the tab: others get no change."""
        try:
            return self.queue_choices(search, show, request)
        except AccessDenied:
            return gr.update()

    def transcript_html(self, turns, quote: str | None = None, turn: int | None = None, items=(),
                        attempts: dict[int, list[str]] | None = None) -> str:
        """The transcript, the chosen item's quote highlighted; suspected injections (records to
        check first, ``items``' suspect reasons) outlined and badged, and words the guard read as
        an attempt to instruct the software (``attempts``, coach.review.attempt_spans) struck through."""
        slots = {sl.id: sl.label for role in ("senior", "junior") for sl in self.ctx.svc.debriefs.protocol(role).slots}
        suspects: dict[int, list[tuple[str, str]]] = {}
        for r in items:
            if r.get("suspect") and r.get("turn_index") is not None and r.get("quote"):
                suspects.setdefault(r["turn_index"], []).append((r["quote"], r["suspect"]))
        rows = []
        for idx, speaker, text, meta in turns:
            body, badges = esc(text), ""
            for words in (attempts or {}).get(idx, []):
                w = esc(words)
                body = body.replace(w, f'<span class="attempt" title="not recorded">{w}</span>', 1)
            if (attempts or {}).get(idx):
                badges += '<span class="suspect-badge">⚠ words about the record, not recorded</span>'
            for q_, why in suspects.get(idx, []):
                w = esc(q_)
                body = body.replace(w, f'<mark class="suspect" title="{esc(why)}">{w}</mark>', 1)
            if idx in suspects:
                badges += (f'<span class="suspect-badge">⚠ suspected injection: '
                           f'{esc("; ".join(dict.fromkeys(why for _, why in suspects[idx])))}</span>')
            if quote and idx == turn:
                q = esc(quote)
                body = body.replace(q, f"<mark>{q}</mark>", 1)
            who = "Coach" if speaker == "coach" else "Participant"
            if meta.get("correction_of"):  # said later, about an earlier question
                how = "replacing" if meta.get("replaces") else "adding to"
                who += f" (correction, {how} the answer on “{esc(slots.get(meta['correction_of'], meta['correction_of']))}”)"
            rows.append(f'<p class="turn {speaker}"><b>{who}:</b> {badges}{body}</p>')
        return '<div id="review-transcript">' + "".join(rows) + "</div>"

    @staticmethod
    def choices(items: list[dict]) -> list[tuple[str, int]]:
        return [(item_label(r), r["id"]) for r in items]

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
        empty = {self.transcript: "", self.pick: gr.update(choices=[], value=None), self.text: "",
                 self.before: "", self.after: "", self.note: "", self.synthesis: ""}
        if not did:
            return empty
        try:
            actor = self.ctx.who(request, "facilitator")
            turns, items = self.review.open(actor, did)
        except (AccessDenied, ReviewError) as e:
            return empty | {self.transcript: warn(e), self.pick: gr.update(choices=[])}
        return empty | {self.transcript: self.transcript_html(turns, items=items, attempts=attempt_spans(turns)),
                        self.pick: gr.update(choices=self.choices(items), value=next_pending(items)),
                        self.synthesis: self.synthesis_md(actor, did)}

    def pick_item(self, did, rid, request: gr.Request) -> dict:
        keys = (self.transcript, self.text, self.before, self.after, self.theme, self.depth, self.scope, self.note)
        if not did or rid is None:  # nothing chosen (after "Approve all"): no item's words left in the boxes
            return unchanged(self.transcript, self.theme, self.depth, self.scope, self.note) | {
                self.text: "", self.before: "", self.after: "", self.reason: ""}
        try:
            actor = self.ctx.who(request, "facilitator")
            turns, items = self.review.read(actor, did)
        except (AccessDenied, ReviewError) as e:  # e.g. sharing withdrawn while the debrief was open
            return unchanged(*keys) | {self.transcript: warn(e)}
        r = next((x for x in items if x["id"] == rid), None)
        if r is None:
            return unchanged(*keys)
        note = ""  # a notice about an earlier choice no longer applies
        if r.get("suspect"):
            note = (f"⚠ **Suspected injection** ({esc(r['suspect'])}). Check it against the participant's words "
                    "(outlined in red in the transcript) before approving: once approved, it is evidence in other "
                    "pairs' topic ideas.")
        if r.get("provenance") == "edited" and r.get("original"):
            note += f"\n\nEdited; the participant's record said: “{esc(r['original'].get('text') or '')}”."
        if r.get("reject_reason"):
            note += f"\n\nRejected: {esc(r['reject_reason'])}"
        return {self.reason: "",  # a reason written for the item before is not this one's
                self.transcript: self.transcript_html(turns, r["quote"], r["turn_index"], items, attempt_spans(turns)),
                self.text: r["text"] or "", self.before: r["before"] or "", self.after: r["after"] or "",
                self.theme: r["theme"], self.depth: r["depth"], self.scope: r["scope"], self.note: note.strip()}

    def decider(self, action: str):
        def decide(did, rid, text, before, after, theme, depth, scope, reason, search="", show="to review",
                   request: gr.Request | None = None) -> dict:
            if rid is None or not did:
                return {self.note: "⚠️ Choose an item first."}
            try:
                actor = self.ctx.who(request, "facilitator")
                row = self.review.decide(actor, did, int(rid), action, text=text, before=before, after=after,
                                         theme=theme, depth=depth, scope=scope, reason=reason)
                items = self.review.items(actor, did)
            except (AccessDenied, ReviewError) as e:
                return {self.note: warn(e)}
            done = (f"Item #{row['id']} back to be reviewed." if action == "undo" else
                    f"Item #{row['id']} {row['status']} by {esc(row['reviewed_by'])}.")
            nxt = next_pending(items) if action != "undo" else int(rid)  # on to the next item waiting
            return {self.note: done, self.pick: gr.update(choices=self.choices(items), value=nxt),
                    self.queue: self._queue_keeping(did, search, show, request)}

        return decide

    def approve_all(self, did, search="", show="to review", request: gr.Request | None = None) -> dict:
        if not did:
            return {self.note: "⚠️ Choose a debrief first."}
        try:
            actor = self.ctx.who(request, "facilitator")
            n = self.review.decide_all(actor, did)
            items = self.review.items(actor, did)
        except (AccessDenied, ReviewError) as e:
            return {self.note: warn(e)}
        return {self.note: f"{n} items approved.", self.pick: gr.update(choices=self.choices(items), value=None),
                self.queue: self._queue_keeping(did, search, show, request)}

    def _queue_keeping(self, did, search, show, request):
        """The queue's labels brought up to date, the open debrief still chosen (even if nothing in
        it waits any more: the facilitator is still reading it)."""
        actor = self.ctx.who(request, "facilitator")
        rows = self.review.queue(actor)
        shown = {c[1] for c in self.queue_choices(search, show, request)["choices"]}
        return gr.update(choices=[(queue_label(q), q["id"]) for q in rows if q["id"] in shown or q["id"] == did],
                         value=did)

    def exporter(self, fmt: str):
        def export(request: gr.Request) -> str:
            actor = self.ctx.who(request, "facilitator")
            return str(self.review.export(actor, self.ctx.scratch_folder(), fmt))

        return export

    def dashboard(self, request: gr.Request):
        import pandas as pd

        d = self.review.dashboard(self.ctx.who(request, "facilitator"))
        td = pd.DataFrame(d["theme_depth"] or [{"theme": "none yet", "depth": "awareness", "items": 0}])
        beliefs = d["assumptions"] or [{"belief before (most typical wording)": "none yet", "debriefs": 0}]
        progress = pd.DataFrame(d["progress"])
        top = max(1, int(progress["count"].max()))
        # the round's steps in their order, not the alphabet's; labels slanted so they do not overlap
        return td, pd.DataFrame(beliefs), gr.BarPlot(value=progress, y_lim=[0, top], sort=None, x_label_angle=-30)

    def reextract(self, request: gr.Request, progress=gr.Progress()) -> str:  # noqa: B008 (Gradio's way to ask for it)
        actor = self.ctx.who(request, "facilitator")
        progress(0, desc="Re-extracting")
        n = self.ctx.svc.debriefs.reextract(actor, progress=lambda done, total: progress(
            done / max(total, 1), desc=f"{done}/{total} debriefs"))
        return f"Re-extracted: {n} new pending items."
