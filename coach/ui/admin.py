"""The admin's tabs: People (accounts and the access log) and System (configuration, health and
a test of the model). Admins see no debrief content."""

from __future__ import annotations

import time

import gradio as gr

from coach.accounts import AccountError
from coach.gateway import GatewayError
from coach.policy import AccessDenied
from coach.prompts import load_prompt
from coach.ui.common import Ctx, code, esc, missing_fields, warn


def state(u) -> str:
    if not u.active:
        return "closed"
    if not u.password_hash:
        return "invited"
    return "awaiting approval" if getattr(u, "review_pending", False) else "active"


class PeopleTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.accounts = ctx.accounts

    def build(self) -> None:
        gr.Markdown("Accounts. Admins create facilitators (one programme each); facilitators invite "
                    "participants when they create a pair. Admins do not see debriefs.")
        self.users = gr.Dataframe(headers=["id", "sign-in name", "name", "role", "programme", "state"],
                                  label="Accounts (click a row to choose that account)", interactive=False)
        with gr.Row():
            self.f_user = gr.Textbox(label="Facilitator's sign-in name (e.g. e-mail)")
            self.f_name = gr.Textbox(label="Name")
            self.f_prog = gr.Textbox(label="Programme they run")
        self.f_btn = gr.Button("Create facilitator", variant="primary")
        self.note = gr.Markdown(elem_id="facilitator-created")
        self.user_id = gr.Number(visible=False, precision=0)  # the account chosen in the table
        self.chosen = gr.Markdown("Choose an account in the table to send a new invitation link, or to close or "
                                  "reopen it.", elem_id="account-chosen")
        with gr.Row():
            self.invite_btn = gr.Button("New invitation link")
            self.close_btn = gr.Button("Close account", variant="stop")
            self.reopen_btn = gr.Button("Reopen account")
        with gr.Accordion("Access log: who opened someone else's debrief content, and when", open=False):
            self.log_btn = gr.Button("Refresh access log")
            self.log = gr.Dataframe(headers=["at (UTC)", "who", "role", "action", "what", "detail"],
                                    interactive=False, wrap=True)

    def wire(self, tab: gr.Tab) -> None:
        tab.select(self.table, outputs=self.users, api_name="users_table")
        self.users.select(self.choose, inputs=self.users, outputs=[self.user_id, self.chosen])
        self.f_btn.click(self.add_facilitator, inputs=[self.f_user, self.f_name, self.f_prog],
                         outputs=[self.note, self.users, self.f_user, self.f_name, self.f_prog],
                         api_name="add_facilitator")
        self.invite_btn.click(self.reinvite, inputs=self.user_id, outputs=self.note, api_name="reinvite")
        self.close_btn.click(self.activator(False), inputs=self.user_id, outputs=[self.note, self.users],
                             api_name="close_account")
        self.reopen_btn.click(self.activator(True), inputs=self.user_id, outputs=[self.note, self.users],
                              api_name="reopen_account")
        self.log_btn.click(self.access_rows, outputs=self.log, api_name="access_rows")

    def table(self, request: gr.Request):
        self.ctx.who(request, "admin")
        return [[u.id, u.username, u.display_name or "", u.role, u.programme or "", state(u)]
                for u in self.accounts.users()]

    @staticmethod
    def choose(table, evt: gr.SelectData):
        """A click in the table chooses its row's account."""
        row = list(table.iloc[evt.index[0]]) if hasattr(table, "iloc") else table[evt.index[0]]
        user_id, username = int(row[0]), row[1]  # by position: a labelled row refuses row[0] (pandas 3)
        return user_id, f"Chosen: **{esc(username)}** (account {user_id})."

    def add_facilitator(self, username, name, programme, request: gr.Request):
        keep = (gr.update(), gr.update(), gr.update())  # a refused form keeps what was typed
        missing = missing_fields(("their sign-in name", username), ("their name", name),
                                 ("the programme they run", programme))
        if missing:
            return f"⚠️ {missing}", gr.update(), *keep
        try:
            actor = self.ctx.who(request, "admin")
            u = self.accounts.create_user(username, "facilitator", programme=programme, display_name=name,
                                          created_by=actor)
            token = self.accounts.invite(u.id, actor)
        except (AccessDenied, AccountError) as e:
            return warn(e), gr.update(), *keep
        self.accounts.log(actor, "user.create", f"user:{u.username}", f"facilitator of {u.programme}")
        waits = (" The programme already has a facilitator or pairs: this account reads nothing of it until a "
                 "facilitator of the programme approves it (or the operator: "
                 f"{code('python -m coach user approve ' + u.username)})." if u.review_pending else "")
        return (f"Facilitator **{esc(u.username)}** created for programme “{esc(u.programme)}”. Send them this "
                f"single-use invitation link (valid {self.ctx.svc.settings.invitation_days} days): "
                f"`{self.ctx.base_url(request)}/auth/invite/{token}`.{waits}"), self.table(request), "", "", ""

    def activator(self, active: bool):
        def set_active(user_id, request: gr.Request):
            if user_id is None:
                return "⚠️ Choose an account in the table first.", gr.update()
            try:
                actor = self.ctx.who(request, "admin")
                self.accounts.set_active(actor, int(user_id), active)
            except (AccessDenied, AccountError, TypeError, ValueError) as e:
                return warn(e), gr.update()
            self.accounts.log(actor, "user.open" if active else "user.close", f"user:{int(user_id)}")
            return ("Account reopened." if active else "Account closed and signed out."), self.table(request)

        return set_active

    def reinvite(self, user_id, request: gr.Request) -> str:
        if user_id is None:
            return "⚠️ Choose an account in the table first."
        try:
            actor = self.ctx.who(request, "admin")
            user_id = int(user_id)
            username, token = self.accounts.reinvite(actor, user_id)
        except (AccessDenied, AccountError, TypeError, ValueError) as e:
            return warn(e)
        self.accounts.log(actor, "user.invite", f"user:{user_id}", f"new single-use invitation link for {username}")
        return (f"New single-use invitation link for **{esc(username)}** (valid "
                f"{self.ctx.svc.settings.invitation_days} days; earlier links no longer work): "
                f"`{self.ctx.base_url(request)}/auth/invite/{token}`")

    def access_rows(self, request: gr.Request):
        self.ctx.who(request, "admin")
        return [[a.at.strftime("%Y-%m-%d %H:%M:%S"), a.username, a.role, a.action, a.target, a.detail or ""]
                for a in self.accounts.access_log(500)]


def status_page(info: dict) -> str:
    """svc.status() in words: what runs, where the data is, which steps use a model, and problems."""
    steps = ", ".join(info.get("steps_using_model") or []) or "none (every step runs its deterministic fallback)"
    usage = info.get("token_usage") or {}
    lines = ["### This installation",
             f"* **Model backend:** {esc(info.get('backend'))}, model {code(info.get('model'))}",
             f"* **Steps that use the model:** {esc(steps)}",
             f"* **Data folder:** {code(info.get('data_dir'))}",
             f"* **Database:** {code(info.get('database'))} (schema version {esc(str(info.get('schema_version')))})",
             f"* **Index:** {code(info.get('index'))}"]
    if "index_waiting" in info:
        waiting = info["index_waiting"]
        lines.append(f"* **Index:** {'up to date' if not waiting else f'{waiting} changes waiting to be indexed'}")
    lines.append(f"* **Model calls so far:** {usage.get('calls', 0)} ({usage.get('prompt_tokens', 0)} prompt and "
                 f"{usage.get('completion_tokens', 0)} completion tokens)")
    srv = info.get("local_server")
    if srv:
        state = "running" if srv.get("alive") else "not running"
        lines.append(f"* **Embedded model server:** {state}, restarted {srv.get('restarts', 0)} times")
        if srv.get("problem"):
            lines.append(f"\n**Problem:** {esc(srv['problem'])}")
    return "\n".join(lines)


class SystemTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.svc = ctx.svc

    def build(self) -> None:
        gr.Markdown("Configuration and health of this installation (for administrators).", elem_classes="coach-note")
        self.status = gr.Markdown(elem_id="system-status")
        with gr.Row():
            self.refresh = gr.Button("Refresh")
            self.check = gr.Button("Check the model")
        self.reply = gr.Textbox(label="Model self-test", interactive=False)

    def wire(self, tab: gr.Tab) -> None:
        tab.select(self.status_json, outputs=self.status, api_name="status_json")
        self.refresh.click(self.status_json, outputs=self.status)
        self.check.click(self.check_model, outputs=self.reply, api_name="check_model").then(
            self.status_json, outputs=self.status)

    def status_json(self, request: gr.Request) -> str:
        """The installation's configuration and health, as a page an administrator reads."""
        self.ctx.who(request, "admin")
        return status_page(self.svc.status())

    def check_model(self, request: gr.Request):
        """Stream a one-line self-test reply from the configured backend."""
        self.ctx.who(request, "admin")
        if not self.svc.gateway.available:
            yield "No model backend is configured (COACH_BACKEND=none)."
            return
        p = load_prompt("selftest", self.svc.settings.prompts_dir)
        yield "Waiting for the model…"
        text, t0 = "", time.monotonic()
        try:
            for delta in self.svc.gateway.stream(p.messages(question="Say hello to a new user."),
                                                 purpose="selftest", prompt=p, max_tokens=32):
                text += delta
                yield f"The model is answering: “{text.strip()}”"
        except GatewayError as e:
            yield f"The model is not available right now: {e}"
            return
        # what it said matters less than that it said it: a small model's hello can be odd
        yield (f"The model works: it answered in {time.monotonic() - t0:.1f} s with “{text.strip()}”. "
               "Which steps use its answers is shown above (“Steps that use the model”).")
