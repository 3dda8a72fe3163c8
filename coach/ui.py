"""The Gradio app. ``python app.py`` and ``python -m coach serve`` both call :func:`main`.

Participants reach their own debrief through a private link (``/?debrief=<code>``) that the
facilitator gets when creating the pair; the link is also how a reloaded page resumes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from datetime import date

import gradio as gr

from coach.debriefs import DebriefError, Debriefs, View
from coach.gateway import GatewayError
from coach.interview import baseline_questions
from coach.prompts import load_prompt
from coach.services import Services

log = logging.getLogger("coach")

CSS = """
.coach-note { font-size: 0.95em; opacity: 0.85; }
.coach-progress ul { list-style: none; padding-left: 0; margin: 0; }
.coach-progress li { display: inline-block; margin: 0 0.9em 0.3em 0; opacity: 0.7; }
.coach-progress li.st-done, .coach-progress li.st-current { opacity: 1; }
.coach-progress li.st-current { font-weight: 600; }
.coach-notice { color: #b45309; }
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
  with your programme's facilitators. Nothing is shared unless you agree.
* **Runs on this machine:** with no API key configured, coach uses only models installed here.

To start, open the private link your facilitator sent you, or paste its code in the **Debrief** tab.
"""

STATUS_WORD = {"done": "done", "current": "now", "skipped": "skipped", "partial": "in part", "todo": "to do"}


def _progress_md(v: View) -> str:
    covered = sum(st in ("done", "partial") for _, st in v.progress)
    items = "".join(f'<li class="st-{st}">{label} <em>({STATUS_WORD.get(st, st)})</em></li>' for label, st in v.progress)
    return f"**Debrief on “{v.topic}”**: {covered} of {len(v.progress)} parts covered<ul>{items}</ul>"


def _summary_md(v: View) -> str:
    if not v.summary:
        return "Nothing has been recorded yet."
    lines = ["### Your summary"]
    for label, answers in v.summary:
        lines.append(f"**{label}**")
        lines += [f"> {a}" for a in answers]
    if v.confirmed:
        lines.append("\n**Confirmed.** " + ("You agreed to share this summary with your facilitators."
                                            if v.shared else "It stays private to you."))
    return "\n\n".join(lines)


def _chat(v: View) -> list[dict]:
    return [{"role": "assistant" if sp == "coach" else "user", "content": tx} for sp, tx in v.turns]


def build_app(svc: Services) -> gr.Blocks:
    debriefs = Debriefs(svc)

    # -- debrief handlers ------------------------------------------------------------------

    def render(did: str | None, notice: str = ""):
        """All debrief outputs for the current state (the store is the source of truth)."""
        if not did:
            return (gr.update(visible=True), gr.update(visible=False), [], "", gr.update(), "",
                    gr.update(visible=False), "", gr.update(), gr.update(visible=True), notice)
        v = debriefs.view(did)
        slots = [(label, sid) for sid, label in v.slots]
        return (gr.update(visible=False), gr.update(visible=True), _chat(v), _progress_md(v),
                gr.update(choices=slots, value=None), "",
                gr.update(visible=v.done), _summary_md(v),
                gr.update(interactive=not v.confirmed, value=v.shared),
                gr.update(visible=not v.done), notice)

    def open_code(code: str):
        code = (code or "").strip().split("debrief=")[-1].strip()
        try:
            return (code, *render(code))
        except DebriefError as e:
            return (None, *render(None, f"⚠️ {e}"))

    def on_load(request: gr.Request):
        code = request.query_params.get("debrief") if request else None
        if code:
            return open_code(code)
        return (None, *render(None))

    def stream_reply(did, gen_factory, shown_user: str | None):
        """Yield chat updates while the coach's reply is produced; errors become a calm notice."""
        v = debriefs.view(did)
        chat = _chat(v)
        if shown_user is not None:
            chat.append({"role": "user", "content": shown_user})
        chat.append({"role": "assistant", "content": "…"})
        try:
            gen = gen_factory()
            first = True
            for text in gen:
                chat[-1]["content"] = text
                if first:
                    first = False
                    yield gr.update(value=""), chat, gr.update(), ""  # stored: clear the box
                else:
                    yield gr.update(), chat, gr.update(), ""
        except DebriefError as e:
            v = debriefs.view(did)
            yield gr.update(), _chat(v), gr.update(), f"⚠️ {e}"
            return

    def after(did):
        return render(did)[1:-1]  # all but the chooser and the notice (which may hold an error)

    def send(did, text):
        if not did:
            yield gr.update(), [], gr.update(), "⚠️ Please open your debrief first."
            return
        yield from stream_reply(did, lambda: debriefs.say(did, text), text)

    def skip(did):
        yield from stream_reply(did, lambda: debriefs.skip(did), "(skipped this question)")

    def end(did):
        yield from stream_reply(did, lambda: debriefs.end(did), "(ended the interview here)")

    def correct(did, slot, text):
        if not slot:
            yield gr.update(), gr.update(), gr.update(), "⚠️ Please choose which answer you are correcting."
            return
        for box, chat, _, notice in stream_reply(did, lambda: debriefs.correct(did, slot, text), text):
            yield box, chat, gr.update(), notice

    def confirm(did, share):
        try:
            debriefs.confirm(did, share)
            return render(did)[1:]
        except DebriefError as e:
            return render(did, f"⚠️ {e}")[1:]  # with the notice

    # -- pair handlers ---------------------------------------------------------------------

    def create_pair(programme, senior_name, senior, junior_name, junior, topic, sessions, start, end_,
                    b1, b2, b3, request: gr.Request):
        try:
            pair = debriefs.create_pair(
                programme=programme or "default", senior_name=senior_name, senior=senior,
                junior_name=junior_name, junior=junior, topic=topic,
                sessions=int(sessions) if sessions else None,
                start_date=_date(start), end_date=_date(end_), baseline=[b1, b2, b3])
        except (DebriefError, ValueError) as e:
            return f"⚠️ {e}"
        base = f"{request.request.url.scheme}://{request.headers.get('host')}/" if request else "/"
        links = {r: f"{base}?debrief={debriefs.open(pair.id, r)}" for r in ("senior", "junior")}
        return (f"**Pair created** for “{pair.topic}”. Send each person their own private link "
                f"(anyone with a link can open that debrief):\n\n"
                f"* Senior ({pair.senior_name or pair.senior}): `{links['senior']}`\n"
                f"* Junior ({pair.junior_name or pair.junior}): `{links['junior']}`")

    # -- system handlers -------------------------------------------------------------------

    def status_json() -> str:
        return json.dumps(svc.status(), indent=2, default=str)

    def check_model():
        """Stream a one-line self-test reply from the configured backend."""
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

    with gr.Blocks(title="coach — reverse-mentoring debriefs") as app:
        did = gr.Textbox(visible="hidden", elem_id="debrief-id")
        with gr.Tabs(selected="welcome") as tabs:
            with gr.Tab("Welcome", id="welcome"):
                gr.Markdown(WELCOME)
            with gr.Tab("Debrief", id="debrief"):
                with gr.Column(visible=True) as chooser:
                    gr.Markdown("Open your debrief with the private link your facilitator sent you, "
                                "or paste the link or its code here.")
                    code = gr.Textbox(label="Debrief link or code", max_lines=1)
                    open_btn = gr.Button("Open my debrief", variant="primary")
                with gr.Column(visible=False) as chat_col:
                    progress = gr.Markdown(elem_classes="coach-progress")
                    chatbot = gr.Chatbot(label="Debrief", height=460, elem_id="coach-chat", render_markdown=False,
                                         allow_tags=False, feedback_options=None, buttons=[])
                    with gr.Column() as answer_col:
                        msg = gr.Textbox(label="Your answer", placeholder="Type your answer…", lines=2, max_lines=8)
                        with gr.Row():
                            send_btn = gr.Button("Send", variant="primary")
                            skip_btn = gr.Button("Skip question")
                            end_btn = gr.Button("End now")
                    with gr.Accordion("Correct an earlier answer", open=False):
                        corr_slot = gr.Dropdown(label="Which answer", choices=[])
                        corr_text = gr.Textbox(label="Your correction", lines=2)
                        corr_btn = gr.Button("Save correction")
                    with gr.Column(visible=False) as summary_col:
                        summary = gr.Markdown()
                        share = gr.Checkbox(label="I agree to share this summary with my programme's facilitators")
                        confirm_btn = gr.Button("Confirm summary", variant="primary")
                notice = gr.Markdown(elem_classes="coach-notice")
            with gr.Tab("New pair", id="pairs"):
                gr.Markdown("For facilitators: create a pair, then send each person their private debrief link.")
                with gr.Row():
                    programme = gr.Textbox(label="Programme", value="default")
                    topic = gr.Textbox(label="Topic the junior knows better")
                with gr.Row():
                    senior_name = gr.Textbox(label="Senior's name")
                    senior = gr.Textbox(label="Senior's role", placeholder="e.g. Retail operations director")
                with gr.Row():
                    junior_name = gr.Textbox(label="Junior's name")
                    junior = gr.Textbox(label="Junior's role and strengths", placeholder="e.g. Social media associate")
                with gr.Row():
                    sessions = gr.Number(label="Planned sessions", value=4, precision=0, minimum=1, maximum=50)
                    start = gr.Textbox(label="First session (YYYY-MM-DD)")
                    end_date = gr.Textbox(label="Last session (YYYY-MM-DD)")
                gr.Markdown("**Senior's starting beliefs** (optional; best answered by the senior before the "
                            "first session; the debrief will come back to them):")
                baseline = [gr.Textbox(label=q, lines=1) for q in baseline_questions(svc.settings.prompts_dir)]
                create_btn = gr.Button("Create pair", variant="primary")
                created = gr.Markdown()
            with gr.Tab("System", id="system"):
                gr.Markdown("Configuration and health of this installation (for administrators).",
                            elem_classes="coach-note")
                status = gr.Code(label="Status", language="json", value=status_json)
                with gr.Row():
                    refresh = gr.Button("Refresh")
                    check = gr.Button("Check the model")
                reply = gr.Textbox(label="Model self-test", interactive=False)

        view_outputs = [chooser, chat_col, chatbot, progress, corr_slot, corr_text, summary_col, summary, share,
                        answer_col, notice]
        after_outputs = view_outputs[1:-1]
        set_url = ("(id) => { if (id) { const u = new URL(window.location);"
                   " u.searchParams.set('debrief', id); window.history.replaceState(null, '', u); } }")

        app.load(on_load, outputs=[did, *view_outputs]).then(
            lambda d: gr.Tabs(selected="debrief") if d else gr.Tabs(), inputs=did, outputs=tabs)
        open_btn.click(open_code, inputs=code, outputs=[did, *view_outputs]).then(None, inputs=did, js=set_url)
        code.submit(open_code, inputs=code, outputs=[did, *view_outputs]).then(None, inputs=did, js=set_url)
        stream_out = [msg, chatbot, progress, notice]
        for trigger in (send_btn.click, msg.submit):
            trigger(send, inputs=[did, msg], outputs=stream_out).then(after, inputs=did, outputs=after_outputs)
        skip_btn.click(skip, inputs=did, outputs=stream_out).then(after, inputs=did, outputs=after_outputs)
        end_btn.click(end, inputs=did, outputs=stream_out).then(after, inputs=did, outputs=after_outputs)
        corr_btn.click(correct, inputs=[did, corr_slot, corr_text], outputs=[corr_text, chatbot, progress, notice]).then(
            after, inputs=did, outputs=after_outputs)
        confirm_btn.click(confirm, inputs=[did, share], outputs=view_outputs[1:])
        create_btn.click(create_pair, inputs=[programme, senior_name, senior, junior_name, junior, topic, sessions,
                                              start, end_date, *baseline], outputs=created)
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM ends the app like Ctrl-C does, so the local model server is stopped with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    svc = Services()
    svc.start_local_model_in_background()
    app = build_app(svc)
    try:
        # Gradio reads GRADIO_SERVER_PORT itself when server_port is None.
        app.queue(default_concurrency_limit=16).launch(
            server_name=host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
            server_port=port,
            theme=gr.themes.Soft(),
            css=CSS,
            footer_links=[],
        )
    finally:
        svc.close()
