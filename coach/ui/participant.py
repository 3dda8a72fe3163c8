"""The participant's Debrief tab: the interview chat, corrections, the summary to confirm and
share, and the participant's own data (download, delete)."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable

import gradio as gr

from coach.debriefs import END, END_FOLLOWUP, DebriefError, View
from coach.policy import AccessDenied, Actor
from coach.records import STATUS_WORDS, Assumption, outcome_text
from coach.ui.common import Ctx, esc, unchanged

STATUS_WORD = {"done": "done", "current": "now", "skipped": "skipped", "partial": "in part", "todo": "to do"}
# in a follow-up a part is an action, whose own status (done, not yet ...) is the answer: "done" would read as that
FOLLOWUP_WORD = STATUS_WORD | {"done": "answered", "partial": "answered", "added": "added in your summary"}
EDIT_DEBRIEF = "Change an item's wording, or add one that is missing"
EDIT_FOLLOWUP = "Put right what became of an action, change an item's wording, or add one that is missing"
ADD_HINT = "Put right what became of an action…"  # EDIT_FOLLOWUP as the summary's text points to it
ADD_OUTCOME = "outcome:"  # an add choice's value prefix: what became of an action (its slot follows)
KEEP_LABEL = "Keep what is right: untick any item that is not"
CORRECTION_REPLACES = "replaces what I said there"
ADD_TEXT = "What is missing, in your words"
ADD_OUTCOME_TEXT = "What happened, in your words"
END_QUESTION = "End the {what} here? You can come back and carry on until you confirm your summary."
CORRECTION_ADDS = "adds to what I said there"
SAVE_DRAFT = "(d, t) => { try { if (d) localStorage.setItem('coach-draft-' + d, t || ''); } catch (e) {} }"
LOAD_DRAFT = "(d) => { try { return (d && localStorage.getItem('coach-draft-' + d)) || ''; } catch (e) { return ''; } }"
FOCUS_ANSWER = ("() => { setTimeout(() => { const t = document.querySelector('#coach-answer textarea');"
                " if (t) t.focus(); }, 300); }")
SHOW_SUMMARY = "() => { const s = document.querySelector('#summary-col'); if (s) s.scrollIntoView({block: 'start'}); }"
SET_URL = ("(id) => { if (id) { const u = new URL(window.location);"
           " u.searchParams.set('debrief', id); window.history.replaceState(null, '', u); } }")


def progress_md(v: View) -> str:
    added = recorded_actions(v)  # a follow-up's action skipped or not reached, whose outcome they added
    progress = [(label, "added" if st in ("skipped", "todo") and label in added else st) for label, st in v.progress]
    covered = sum(st in ("done", "partial", "added") for _, st in progress)
    words = FOLLOWUP_WORD if v.followup else STATUS_WORD
    items = "".join(f'<li class="st-{st}">{esc(label)} <em>({words.get(st, st)})</em></li>'
                    for label, st in progress)
    what = "Follow-up on your actions" if v.followup else "Debrief"
    return f"**{what}: “{esc(v.topic)}”**: {covered} of {len(v.progress)} parts covered<ul>{items}</ul>"


def consent_md(v: View) -> str:
    """A follow-up is shared exactly as the debrief it follows: said, not asked again."""
    if v.follows_shared and v.confirmed:
        return ("What you confirmed is shared as your debrief is: with your programme's facilitators, and without "
                "your name in the programme's figures. Stop sharing your debrief and this stops too.")
    if v.follows_shared:
        return ("What you confirm here is shared as your debrief is: with your programme's facilitators, and "
                "without your name in the programme's figures. Stop sharing your debrief and this stops too.")
    return "What you confirm here stays private to you, as your debrief does."


def recorded_actions(v: View) -> set[str]:
    """The labels of a follow-up's actions that an outcome is recorded for."""
    from coach.followup import action_label

    if v.followup is None:
        return set()
    return {action_label(str((r.get("detail") or {}).get("action") or "")) for r in v.records
            if r["kind"] == "outcome" and r["status"] != "withdrawn"}


def unrecorded(v: View) -> list[tuple[str, str, str]]:
    """A follow-up's actions with nothing recorded: (slot id, label, why: skipped, not reached, or
    an answer that did not say what became of the action)."""
    if v.followup is None:
        return []
    recorded = recorded_actions(v)
    status = dict(v.progress)
    why = {"skipped": "you skipped it", "todo": "not asked yet", "current": "not asked yet"}
    return [(sid, label, why.get(status.get(label, ""), "your answer did not say what became of it"))
            for sid, label in v.slots if sid.startswith("a") and label not in recorded]


def unrecorded_md(v: View) -> str:
    """A follow-up's actions with nothing recorded, and why, and how to add what became of each.
    Said, so a missing action is not taken for an oversight."""
    missing = unrecorded(v)
    if not missing or v.confirmed:
        return ""
    return ("Nothing is recorded for " + "; ".join(f"“{esc(label)}” ({w})" for _, label, w in missing)
            + f". You can add what became of {'it' if len(missing) == 1 else 'each'} yourself: open “{ADD_HINT}” "
              "below and choose the action under “What it is”.")


def summary_md(v: View) -> str:
    """The heading of the summary; the items themselves are the one list of tick boxes below it."""
    if not v.summary and not v.records:
        return "### Your summary\n\nNothing has been recorded yet."
    if v.confirmed and v.followup is not None:  # nothing is left to do: said first, and no instructions
        return "\n\n".join(x for x in ["### Your summary", "**Confirmed.** Thank you: this is what was recorded from "
                                        "your follow-up, each item with your own words as evidence.",
                                        consent_md(v)] if x)
    change = ("Untick anything that is wrong, correct what became of an action or its wording, or add what is "
              "missing (below)." if v.followup is not None else
              "Untick anything that is wrong, change an item's wording, or add what is missing (below).")
    lines = ["### Your summary", "This is what was recorded, each item with your own words as evidence."
             if v.confirmed else "This is what will be recorded, each item with your own words as evidence. " + change]
    if not v.records:  # nothing extracted: show the answers themselves
        for label, answers in v.summary:
            lines.append(f"**{label}**")
            lines += [f"> {esc(a)}" for a in answers]
    if v.followup is not None:
        lines += [x for x in (unrecorded_md(v), consent_md(v)) if x]
    if v.ended_early and not v.confirmed:
        lines.append(f"You ended the {'follow-up' if v.followup is not None else 'interview'} early: you can "
                     "continue it until you confirm this summary.")
    if v.confirmed:
        lines.append("\n**Confirmed.** " + ("You agreed to share this summary with your facilitators."
                                            if v.shared else "It stays private to you.")
                     + " You can change this at any time: tick or untick “I agree to share” below and press "
                       "“Confirm summary” again.")
    return "\n\n".join(lines)


def kept_md(v: View) -> str:
    """A confirmed summary's items as a plain list: what was confirmed, nothing left to tick."""
    kept = [r for r in v.records if r["status"] != "withdrawn"]
    lines = [f"- **{esc(kind)}:** {esc(rest)}" for kind, rest in (item_parts(r, v.role) for r in kept)]
    out = "#### What was recorded\n\n" + ("\n".join(lines) if lines else "Nothing: you unticked every item.")
    left = len(v.records) - len(kept)
    if left and kept:
        out += f"\n\n{left} item{'s' if left > 1 else ''} you unticked {'were' if left > 1 else 'was'} left out."
    return out


KIND_WORDS = {"learned": "Learned", "broken_assumption": "Changed view", "action": "Will do", "taught": "Taught",
              "pushback": "Where they pushed back", "session_feedback": "About the sessions",
              "outcome": "What happened"}
JUNIOR_WORDS = {"learned": "Gained"}
PROVENANCE_WORDS = {"confirmed": "you confirmed this", "participant": "in your words", "edited": "edited"}


def item_label(r: dict, role: str = "senior") -> str:
    """One item of the summary as its tick box reads: what, in whose words, and how it was checked."""
    return "{}: {}".format(*item_parts(r, role))


def item_parts(r: dict, role: str = "senior") -> tuple[str, str]:
    """An item as (what kind, the rest of its line)."""
    kind = (JUNIOR_WORDS if role == "junior" else {}).get(r["kind"]) or KIND_WORDS.get(r["kind"], r["kind"])
    main = (Assumption(r["before"], r["after"]).text if r["kind"] == "broken_assumption" and r["before"]
            and r["after"] else outcome_text(r) if r["kind"] == "outcome" else r["text"])
    own = (r.get("text") if r["kind"] == "outcome" else main) or ""  # an outcome's text is their sentence
    said = f" (you said: “{r['quote']}”)" if r.get("quote") and r["quote"].strip() != own.strip() else ""
    how = PROVENANCE_WORDS.get(r.get("provenance") or "", "")
    return kind, f"{main}{said}" + (f" · {how}" if how else "")


REPLACED = "[replaced by a later correction] "


def chat(v: View) -> list[dict]:
    # The chatbot renders HTML (sanitised): escaping shows markup exactly as typed, as text (quotes
    # are left alone: screen readers read the label as it stands, "I&#x27;ll" included).
    return [{"role": "assistant" if sp == "coach" else "user",
             "content": (REPLACED if i in v.replaced else "") + html.escape(tx, quote=False)}
            for i, (sp, tx) in enumerate(v.turns)]


def add_choices(role: str, followup: bool = False, missing: list[tuple[str, str, str]] | None = None
                ) -> list[tuple[str, str]]:
    """What a participant may add to their summary (coach.debriefs.SUMMARY_KINDS), in their terms;
    in a follow-up, first what became of each action with nothing recorded (``missing``)."""
    if followup:  # what became of each action is read from the conversation; reword it if it is wrong
        outcomes = [(f"What became of “{label}”", ADD_OUTCOME + sid) for sid, label, _ in missing or []]
        extra = [("Something I taught or led", "taught")] if role == "junior" else []
        return [*outcomes, *extra, ("Something I learned", "learned"), ("Something I will do next", "action")]
    if role == "junior":
        return [("Something I taught", "taught"), ("Something I gained", "learned"),
                ("Where they pushed back", "pushback"), ("Something I will do", "action")]
    return [("Something I learned", "learned"), ("Something I will do", "action")]


class DebriefTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.debriefs = ctx.svc.debriefs

    # -- layout ------------------------------------------------------------------------------

    def build(self) -> None:
        self.did = gr.Textbox(visible="hidden", elem_id="debrief-id")
        # a follow-up waiting for the participant: said first on their page, with one way to start it
        with gr.Column(visible=False, elem_id="followup-ready", elem_classes="coach-ready") as self.ready_col:
            self.ready_md = gr.Markdown()
            self.ready_id = gr.Textbox(visible="hidden")
            self.ready_btn = gr.Button("Start the follow-up", variant="primary", elem_id="followup-start")
        with gr.Column(visible=True) as self.chooser:
            self.mine_list = gr.Dropdown(label="Your debriefs", choices=[], elem_id="my-debriefs")
            self.open_btn = gr.Button("Open", variant="primary")
        with gr.Column(visible=False) as self.chat_col:
            self.progress = gr.Markdown(elem_classes="coach-progress")
            # when the interview is over, the summary comes first: it is what is left to do
            with gr.Column(visible=False, elem_id="summary-col") as self.summary_col:
                self.summary = gr.Markdown(elem_id="coach-summary")
                self.keep = gr.CheckboxGroup(label=KEEP_LABEL, choices=[],
                                             elem_id="coach-keep")
                # a confirmed summary: what was confirmed, as a plain list (nothing is left to tick)
                self.kept = gr.Markdown(visible=False, elem_id="coach-kept")
                self.resume_btn = gr.Button("Continue the interview", visible=False)
                with gr.Accordion(EDIT_DEBRIEF, open=False,
                                  elem_id="summary-edit") as self.edit_acc:
                    with gr.Row():
                        self.edit_item = gr.Dropdown(label="Item", choices=[], scale=2)
                        self.edit_text = gr.Textbox(label="Its wording, in your words", lines=1, scale=3)
                    # a follow-up's outcome: what became of the action, if the coach read it wrong
                    self.edit_status = gr.Radio([(w, k) for k, w in STATUS_WORDS.items()], visible=False,
                                                label="What became of this action", elem_id="edit-status")
                    self.edit_btn = gr.Button("Save the change")
                    with gr.Row():
                        self.add_kind = gr.Dropdown(label="What it is", choices=[], scale=2, elem_id="add-kind")
                        self.add_text = gr.Textbox(label=ADD_TEXT, lines=1, scale=3, elem_id="add-text")
                    # what became of an action with nothing recorded, added from scratch
                    self.add_status = gr.Radio([(w, k) for k, w in STATUS_WORDS.items()], visible=False,
                                               label="What became of this action", elem_id="add-status")
                    self.add_btn = gr.Button("Add it")
                self.share = gr.Checkbox(label="I agree to share this summary with my programme's facilitators, "
                                               "and, without my name, as evidence for later pairs' topic ideas "
                                               "in this programme")
                self.confirm_btn = gr.Button("Confirm summary", variant="primary", elem_id="confirm-summary")
            self.chatbot = gr.Chatbot(label="Debrief", show_label=False, height=460, elem_id="coach-chat",
                                      render_markdown=False, allow_tags=False, feedback_options=None, buttons=[])
            with gr.Column() as self.answer_col:
                # one line that grows: Enter sends, Shift+Enter starts a new line (Gradio's rule for lines=1)
                self.msg = gr.Textbox(label="Your answer", lines=1, max_lines=8, elem_id="coach-answer",
                                      placeholder="Type your answer… (Enter sends; Shift+Enter for a new line)")
                with gr.Row():
                    self.send_btn = gr.Button("Send", variant="primary")
                    self.skip_btn = gr.Button("Skip question")
                    self.end_btn = gr.Button("End now…")
                with gr.Row(visible=False, elem_id="end-confirm") as self.end_row:
                    self.end_md = gr.Markdown(END_QUESTION.format(what="interview"))
                    self.end_yes = gr.Button("Yes, end now", variant="stop")
                    self.end_no = gr.Button("Keep going")
            with gr.Accordion("Correct an earlier answer", open=False) as self.corr_acc:
                self.corr_slot = gr.Dropdown(label="Which answer", choices=[])
                self.corr_said = gr.Markdown(elem_id="correction-said")
                self.corr_text = gr.Textbox(label="Your correction", lines=2)
                self.corr_mode = gr.Radio([CORRECTION_ADDS, CORRECTION_REPLACES], value=CORRECTION_ADDS,
                                          label="This correction", elem_id="correction-mode")
                self.corr_btn = gr.Button("Save correction")
            with gr.Accordion("Your data: download or delete", open=False):
                self.mine_btn = gr.Button("Download everything stored about you (JSON)")
                self.mine_file = gr.File(label="Your data", visible=False)
                self.sure = gr.Checkbox(label="I understand: deleting removes my answers and records for good")
                self.delete_btn = gr.Button("Delete this debrief", variant="stop")
                self.sure_all = gr.Checkbox(label="I understand: this deletes my account and all my debriefs for good")
                self.delete_all_btn = gr.Button("Delete my account and all my data", variant="stop")
        self.notice = gr.Markdown(elem_classes="coach-notice")

    @property
    def view_outputs(self) -> list:
        """Every component a debrief's state shows, in the order the API returns them."""
        return [self.chooser, self.chat_col, self.chatbot, self.progress, self.corr_slot, self.corr_text,
                self.summary_col, self.summary, self.share, self.keep, self.answer_col, self.resume_btn,
                self.edit_acc, self.edit_item, self.add_kind, self.end_row, self.confirm_btn, self.corr_acc,
                self.edit_status, self.kept, self.add_status, self.end_md, self.delete_btn, self.ready_col,
                self.ready_md, self.ready_id, self.ready_btn, self.notice, self.mine_list]

    def wire(self) -> None:
        # api_name: the names under which the Gradio API (and tests driving it) reach each handler
        with_did = [self.did, *self.view_outputs]
        self.restore_draft(self.open_btn.click(self.open, inputs=[self.mine_list], outputs=with_did,
                                               api_name="open_debrief").then(None, inputs=self.did, js=SET_URL))
        started = self.ready_btn.click(self.start, inputs=[self.ready_id], outputs=with_did, api_name="start_followup")
        self.restore_draft(started.then(None, inputs=self.did, js=SET_URL))
        started.then(None, js=FOCUS_ANSWER)
        self.edit_item.change(self.item_chosen, inputs=[self.did, self.edit_item, self.edit_text],
                              outputs=[self.edit_text, self.edit_status])
        stream_out = [self.msg, self.chatbot, self.progress, self.notice]
        after_out = self.after_outputs
        for trigger in (self.send_btn.click, self.msg.submit):
            trigger(self.send, inputs=[self.did, self.msg], outputs=stream_out, api_name="send").then(
                self.after, inputs=self.did, outputs=after_out)
        self.skip_btn.click(self.skip, inputs=self.did, outputs=stream_out, api_name="skip").then(
            self.after, inputs=self.did, outputs=after_out)
        self.end_btn.click(lambda: gr.update(visible=True), outputs=self.end_row)
        self.end_no.click(lambda: gr.update(visible=False), outputs=self.end_row)
        self.end_yes.click(lambda: gr.update(visible=False), outputs=self.end_row).then(
            self.end, inputs=self.did, outputs=stream_out, api_name="end").then(
            self.after, inputs=self.did, outputs=after_out)
        self.resume_btn.click(self.resume, inputs=self.did, outputs=after_out + [self.notice], api_name="resume")
        self.edit_btn.click(self.reword, inputs=[self.did, self.edit_item, self.edit_text, self.edit_status],
                            outputs=after_out + [self.edit_text, self.notice], api_name="reword")
        self.add_btn.click(self.add_item, inputs=[self.did, self.add_kind, self.add_text, self.add_status],
                           outputs=after_out + [self.add_text, self.notice], api_name="add_item")
        self.add_kind.change(self.add_kind_chosen, inputs=self.add_kind, outputs=[self.add_status, self.add_text])
        # an unsent answer survives a reload: kept in this browser only, per debrief
        self.msg.change(None, inputs=[self.did, self.msg], js=SAVE_DRAFT)
        self.corr_btn.click(self.correct, inputs=[self.did, self.corr_slot, self.corr_text, self.corr_mode],
                            outputs=[self.corr_text, self.chatbot, self.progress, self.notice], api_name="correct").then(
            self.after, inputs=self.did, outputs=after_out)
        self.corr_slot.change(self.said_before, inputs=[self.did, self.corr_slot], outputs=self.corr_said,
                              api_name="said_before")
        # the page stays where the button was: what it now says (confirmed) is brought into view
        self.confirm_btn.click(self.confirm, inputs=[self.did, self.share, self.keep], outputs=self.view_outputs[1:-1],
                               api_name="confirm").then(None, js=SHOW_SUMMARY)
        self.mine_btn.click(lambda: gr.File(visible=True), outputs=self.mine_file).then(
            self.download_mine, outputs=self.mine_file, api_name="download_mine")
        self.delete_btn.click(self.delete_mine, inputs=[self.did, self.sure], outputs=with_did, api_name="delete_mine")
        self.delete_all_btn.click(self.delete_account, inputs=self.sure_all, outputs=self.notice,
                                  api_name="delete_account").success(
            None, js="() => { setTimeout(() => { window.location.href = '/auth/login'; }, 2500); }")

    @property
    def after_outputs(self) -> list:
        """What is redrawn after each turn: all but the chooser, the notice (which may hold an
        error) and the list."""
        return self.view_outputs[1:-2]

    def restore_draft(self, event) -> None:
        """After ``event`` has opened a debrief: put back an answer typed but not sent."""
        event.then(None, inputs=self.did, outputs=self.msg, js=LOAD_DRAFT)

    # -- rendering ---------------------------------------------------------------------------

    def choices(self, actor: Actor):
        return [(f"{'Follow-up on your actions: ' if source == 'followup' else ''}{topic} "
                 f"({role}, {'finished' if status == 'done' else 'in progress'})", d)
                for d, role, topic, status, source in self.ctx.accounts.own_debriefs(actor)]

    def render(self, actor: Actor | None, did: str | None, notice: str = "", intro: bool = False) -> dict:
        """Every debrief component for the current state (the store is the source of truth)."""
        if not did or actor is None:
            choices = self.choices(actor) if actor else []
            empty = "" if choices or not actor else "You have no debrief yet: your facilitator adds you to a pair."
            return {self.chooser: gr.update(visible=True), self.chat_col: gr.update(visible=False), self.chatbot: [],
                    self.progress: "", self.corr_slot: gr.update(), self.corr_text: "",
                    self.summary_col: gr.update(visible=False), self.summary: "", self.share: gr.update(),
                    self.keep: gr.update(choices=[], value=[]), self.answer_col: gr.update(visible=True),
                    self.resume_btn: gr.update(visible=False), self.edit_acc: gr.update(),
                    self.edit_item: gr.update(), self.add_kind: gr.update(), self.end_row: gr.update(visible=False),
                    self.confirm_btn: gr.update(visible=True), self.corr_acc: gr.update(visible=True),
                    self.edit_status: gr.update(visible=False, value=None), self.kept: gr.update(visible=False),
                    self.add_status: gr.update(visible=False, value=None), self.end_md: gr.update(),
                    self.delete_btn: gr.update(), **self.ready(actor, None),
                    self.notice: notice or empty, self.mine_list: gr.update(choices=choices, value=None)}
        v = self.debriefs.view(actor, did)
        ready = self.ready(actor, v, intro)
        listed = v.confirmed and bool(v.records)  # what was confirmed, as a plain list: nothing is left to tick
        return {self.chooser: gr.update(visible=False), self.chatbot: chat(v), **ready,
                # a follow-up not started yet: its notice comes first, and its button opens the chat
                self.chat_col: gr.update(visible=not (ready[self.ready_col]["visible"] and ready[self.ready_id] == did)),
                self.progress: progress_md(v),
                self.corr_slot: gr.update(choices=[(label, sid) for sid, label in v.slots], value=None),
                self.corr_text: "", self.summary_col: gr.update(visible=v.done), self.summary: summary_md(v),
                # sharing can be changed after confirming too; a follow-up's is its debrief's
                self.share: gr.update(value=v.shared, visible=v.followup is None),
                self.keep: gr.update(label="What was recorded" if v.confirmed else KEEP_LABEL,
                                     choices=[(item_label(r, v.role), r["id"]) for r in v.records],
                                     value=[r["id"] for r in v.records if r["status"] != "withdrawn"],
                                     interactive=not v.confirmed, visible=bool(v.records) and not listed),
                self.kept: gr.update(value=kept_md(v) if listed else "", visible=listed),
                self.answer_col: gr.update(visible=not v.done),
                self.resume_btn: gr.update(visible=v.ended_early and not v.confirmed,
                                           value="Continue the follow-up" if v.followup else "Continue the interview"),
                self.edit_acc: gr.update(visible=not v.confirmed,
                                         label=EDIT_FOLLOWUP if v.followup is not None else EDIT_DEBRIEF),
                self.edit_item: gr.update(choices=[(item_label(r, v.role), r["id"]) for r in v.records
                                                   if r["status"] != "withdrawn"], value=None),
                self.add_kind: gr.update(choices=add_choices(v.role, v.followup is not None, unrecorded(v)),
                                         value=None),
                self.add_status: gr.update(visible=False, value=None),
                self.end_md: END_QUESTION.format(what="follow-up" if v.followup else "interview"),
                self.delete_btn: gr.update(value="Delete this follow-up" if v.followup else "Delete this debrief"),
                self.end_row: gr.update(visible=False),
                # a follow-up's sharing is its debrief's: once confirmed there is nothing left to confirm
                self.confirm_btn: gr.update(visible=not (v.confirmed and v.followup is not None)),
                self.corr_acc: gr.update(visible=not v.confirmed),  # a confirmed summary is not corrected here
                self.edit_status: gr.update(visible=False, value=None),
                self.notice: notice, self.mine_list: gr.update()}

    def ready(self, actor: Actor | None, v: View | None, intro: bool = False) -> dict:
        """The notice at the top of the page that a follow-up is waiting, with the one button that
        opens it: shown while another debrief (or none) is on the page, and, when the page opens
        on a follow-up not started yet (``intro``), before its chat."""
        hidden = {self.ready_col: gr.update(visible=False), self.ready_md: "", self.ready_id: "",
                  self.ready_btn: gr.update()}
        waiting = self.ctx.svc.followups.waiting(actor.id) if actor is not None else []
        if not waiting:
            return hidden
        fid, topic = waiting[0]
        shown = v if v is not None and v.id == fid else None
        try:
            w = shown or self.debriefs.view(actor, fid)
        except (AccessDenied, DebriefError):
            return hidden
        started = w.started  # answered, or its Start pressed: a reload opens the conversation
        if shown is not None and (started or not intro):
            return hidden
        if started:
            text = (f"### Your follow-up is not finished\n\nYour follow-up on “{esc(topic)}” is waiting where you "
                    "left it.")
        else:
            text = (f"### Your follow-up is ready\n\nIn your debrief on “{esc(topic)}” you said what you would do. "
                    "A few short questions about what happened since: about five minutes. “Not yet” or “we "
                    "dropped it” are as useful to hear as “done”.")
        return {self.ready_col: gr.update(visible=True), self.ready_md: text, self.ready_id: fid,
                self.ready_btn: gr.update(value="Continue the follow-up" if started else "Start the follow-up")}

    def on_load(self, actor: Actor, request: gr.Request) -> dict:
        """On page load: the participant's debrief from the URL, or a follow-up waiting for them,
        or their only debrief, or the list. Follow-ups that are due open here (as well as in the
        mail scan): the page shows them whether or not mail is configured."""
        self.ctx.svc.followups.open_due(participant_id=actor.id)
        wanted = request.query_params.get("debrief") if request else None
        own = self.ctx.accounts.own_debriefs(actor)
        waiting = self.ctx.svc.followups.waiting(actor.id)
        if not wanted and waiting:  # the follow-up, behind its notice until started
            return self._open(actor, waiting[0][0], intro=True)
        if not wanted and len(own) == 1:
            wanted = own[0][0]
        return self._open(actor, wanted, intro=True)

    def _open(self, actor: Actor | None, did: str | None, intro: bool = False) -> dict:
        if not did:
            return {self.did: None, **self.render(actor, None)}
        try:
            return {self.did: did, **self.render(actor, did, intro=intro)}
        except (AccessDenied, DebriefError) as e:
            return {self.did: None, **self.render(actor, None, f"⚠️ {e}")}

    # -- handlers ----------------------------------------------------------------------------

    def _actor(self, request) -> Actor:
        return self.ctx.who(request, "participant")

    def open(self, did, request: gr.Request) -> dict:
        try:
            actor = self._actor(request)
        except AccessDenied as e:
            return {self.did: None, **self.render(None, None, f"⚠️ {e}")}
        if not did:
            return {self.did: None, **self.render(actor, None, "Please choose a debrief.")}
        return self._open(actor, did)

    def _stream(self, request, did, act, shown: str | Callable[[View], str] | None):
        """Yield chat updates while the coach's reply is produced; errors become a calm notice.
        ``act(actor)`` starts the domain call (which stores the participant's turn first)."""
        if not did:
            yield {self.notice: "⚠️ Please open your debrief first."}
            return
        try:
            actor = self._actor(request)
            v = self.debriefs.view(actor, did)
            msgs = chat(v)
            shown = shown(v) if callable(shown) else shown
            if shown is not None:
                msgs.append({"role": "user", "content": html.escape(shown)})
            msgs.append({"role": "assistant", "content": "…"})
            first = True
            for text in act(actor):
                msgs[-1]["content"] = html.escape(text)
                out = {self.chatbot: msgs, self.notice: ""}
                if first:  # stored: clear the box
                    out[self.msg], first = "", False
                yield out
        except (AccessDenied, DebriefError) as e:
            try:
                yield {self.chatbot: chat(self.debriefs.view(self._actor(request), did)), self.notice: f"⚠️ {e}"}
            except (AccessDenied, DebriefError):
                yield {self.notice: f"⚠️ {e}"}

    def send(self, did, text, request: gr.Request):
        yield from self._stream(request, did, lambda a: self.debriefs.say(a, did, text), text)

    def skip(self, did, request: gr.Request):
        yield from self._stream(request, did, lambda a: self.debriefs.skip(a, did), "(skipped this question)")

    def end(self, did, request: gr.Request):
        yield from self._stream(request, did, lambda a: self.debriefs.end(a, did),
                                lambda v: (END_FOLLOWUP if v.followup else END)[0])

    def correct(self, did, slot, text, mode, request: gr.Request):
        if not slot:
            yield {self.notice: "⚠️ Please choose which answer you are correcting."}
            return
        replace = mode != CORRECTION_ADDS
        for out in self._stream(request, did, lambda a: self.debriefs.correct(a, did, slot, text, replace=replace),
                                text):
            if self.msg in out:  # the correction box is cleared, not the answer box
                out[self.corr_text] = out.pop(self.msg)
            yield out

    def after(self, did, request: gr.Request) -> dict:
        keys = self.after_outputs
        try:
            out = self.render(self._actor(request), did) if did else {}
        except (AccessDenied, DebriefError):
            out = {}
        return {k: v for k, v in out.items() if k in keys} or unchanged(*keys)

    def said_before(self, did, slot, request: gr.Request) -> str:
        """What the participant's answer to that question is now, so they see what they correct."""
        if not slot or not did:
            return ""
        try:
            v = self.debriefs.view(self._actor(request), did)
        except (AccessDenied, DebriefError):
            return ""
        answers = dict(v.summary).get(dict(v.slots).get(slot)) or []
        if not answers:
            return "_You have not answered this question yet._"
        return "You said: " + " ".join(f"“{esc(a)}”" for a in answers)

    def confirm(self, did, share, keep, request: gr.Request) -> dict:
        try:
            actor = self._actor(request)
            self.debriefs.confirm(actor, did, share, keep=[int(k) for k in keep or []])
            out = self.render(actor, did)
        except (AccessDenied, DebriefError) as e:
            try:
                out = self.render(self._actor(request), did, f"⚠️ {e}")
            except (AccessDenied, DebriefError):
                return {self.notice: f"⚠️ {e}"}
        out.pop(self.chooser), out.pop(self.mine_list)
        return out

    def _summary_change(self, request, did, change, box) -> dict:
        """Run a change to the summary, then redraw it (the box that held the words is emptied)."""
        keys = self.after_outputs
        try:
            actor = self._actor(request)
            change(actor)
            out = {k: v for k, v in self.render(actor, did).items() if k in keys}
            return out | {box: "", self.notice: ""}
        except (AccessDenied, DebriefError) as e:
            return unchanged(*keys) | {box: gr.update(), self.notice: f"⚠️ {e}"}

    def resume(self, did, request: gr.Request) -> dict:
        keys = self.after_outputs
        try:
            actor = self._actor(request)
            self.debriefs.resume(actor, did)
            return {k: v for k, v in self.render(actor, did).items() if k in keys} | {self.notice: ""}
        except (AccessDenied, DebriefError) as e:
            return unchanged(*keys) | {self.notice: f"⚠️ {e}"}

    def start(self, fid, request: gr.Request) -> dict:
        """The follow-up notice's button: the follow-up's chat, at its first (or next) question."""
        try:
            actor = self._actor(request)
        except AccessDenied as e:
            return {self.did: None, **self.render(None, None, f"⚠️ {e}")}
        if fid:
            try:
                self.debriefs.start_followup(actor, fid)
            except (AccessDenied, DebriefError):
                pass  # _open says why it cannot be opened
        return self._open(actor, fid or None)

    def _record(self, did, record_id, request) -> dict | None:
        try:
            v = self.debriefs.view(self._actor(request), did)
        except (AccessDenied, DebriefError):
            return None
        return next((r for r in v.records if str(r["id"]) == str(record_id)), None)

    def item_chosen(self, did, record_id, typed, request: gr.Request) -> dict:
        """The item to change: its wording, to edit rather than retype (unless something is typed
        already), and for what became of an action, its status as the coach read it."""
        r = self._record(did, record_id, request) if did and record_id is not None else None
        if r is None:
            return {self.edit_text: gr.update(), self.edit_status: gr.update(visible=False, value=None)}
        outcome = r["kind"] == "outcome"
        return {self.edit_text: gr.update() if (typed or "").strip() else r.get("text") or "",
                self.edit_status: gr.update(visible=outcome, value=(r.get("detail") or {}).get("status") if outcome
                                            else None)}

    def reword(self, did, record_id, text, status, request: gr.Request) -> dict:
        if record_id is None:
            return {self.notice: "⚠️ Please choose the item to change."}
        r = self._record(did, record_id, request)
        if r is not None and (text or "").strip() == (r.get("text") or "").strip():
            text = ""  # the wording as it was: only its status changes, if that
        if r is not None and r["kind"] == "outcome" and not (text or "").strip() and \
                status == (r.get("detail") or {}).get("status"):
            return {self.notice: "⚠️ Nothing to save: change the wording, or what became of the action."}
        status = status if r is not None and r["kind"] == "outcome" else None
        if r is not None and r["kind"] != "outcome" and not (text or "").strip():
            return {self.notice: "⚠️ Nothing to save: type the new wording first."}
        return self._summary_change(request, did,
                                    lambda a: self.debriefs.reword(a, did, int(record_id), text, status=status),
                                    self.edit_text)

    def add_kind_chosen(self, kind) -> dict:
        """What became of an action: its status to choose, and what happened in their words."""
        outcome = str(kind or "").startswith(ADD_OUTCOME)
        return {self.add_status: gr.update(visible=outcome, value=None),
                self.add_text: gr.update(label=ADD_OUTCOME_TEXT if outcome else ADD_TEXT)}

    def add_item(self, did, kind, text, status, request: gr.Request) -> dict:
        if str(kind or "").startswith(ADD_OUTCOME):
            slot = str(kind)[len(ADD_OUTCOME):]
            return self._summary_change(request, did, lambda a: self.debriefs.add_outcome(a, did, slot, status, text),
                                        self.add_text)
        return self._summary_change(request, did, lambda a: self.debriefs.add_item(a, did, kind, text), self.add_text)

    def download_mine(self, request: gr.Request) -> str:
        """Everything stored about the signed-in participant: account and every debrief."""
        actor = self._actor(request)
        data = {"account": {"username": actor.username, "name": actor.display_name, "role": actor.role},
                "debriefs": [self.debriefs.export_data(actor, d) for d, *_ in self.ctx.accounts.own_debriefs(actor)],
                "sessions_and_check_ins": self.ctx.svc.sessions.export(actor)}
        path = self.ctx.scratch_folder() / "my-coach-data.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return str(path)

    def delete_mine(self, did, sure, request: gr.Request) -> dict:
        try:
            actor = self._actor(request)
            if not sure:
                return {self.did: did, **self.render(actor, did, "⚠️ Tick the box to confirm that you want to "
                                                                   "delete everything.")}
            what = "follow-up" if self.debriefs.view(actor, did).followup else "debrief"
            self.debriefs.delete(actor, did)
        except (AccessDenied, DebriefError) as e:  # back to the person's own list
            try:
                return {self.did: None, **self.render(self._actor(request), None, f"⚠️ {e}")}
            except AccessDenied:
                return {self.did: None, **self.render(None, None, f"⚠️ {e}")}
        return {self.did: None, **self.render(actor, None, f"Your {what} and everything recorded from it have been "
                                                            "deleted.")}

    def delete_account(self, sure, request: gr.Request) -> str:
        """Delete every debrief of the signed-in participant, their name on each pair, and the account."""
        actor = self._actor(request)
        if not sure:
            raise gr.Error("Tick the box to confirm that you want to delete your account and everything in it.")
        for did, _, _, _, source in self.ctx.accounts.own_debriefs(actor):
            if source != "followup":  # a follow-up goes with the debrief it follows
                self.debriefs.delete(actor, did, forget_name=True)
        # The account (and with it the sign-in) goes a moment later: this answer still has to reach
        # the browser, which fetches it with the same sign-in.
        threading.Timer(2.0, self.ctx.accounts.delete_user, args=(actor.id,)).start()
        return "Your account and all your debriefs have been deleted."
