"""The Gradio app. ``python app.py`` and ``python -m coach serve`` both call :func:`main`."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

import gradio as gr

from coach.gateway import GatewayError
from coach.prompts import load_prompt
from coach.services import Services

log = logging.getLogger("coach")

CSS = """
.coach-header h1 { margin-bottom: 0.2em; }
.coach-note { font-size: 0.95em; opacity: 0.85; }
"""

WELCOME = """
# coach
**A debrief coach for reverse mentoring.** After a few short sessions in which a junior colleague
mentors a senior one, coach interviews each of them separately, records what the senior actually
learned and which assumptions broke, what the junior gained, and helps new pairs choose topics
from what earlier pairs discovered.

* **Your words stay yours.** Every message is saved the moment you send it, so a closed tab loses nothing.
* **Nothing is shared without your agreement.** Facilitators see a summary only after you agree to share it.
* **Runs on this machine.** With no API key, coach uses only models installed on this computer.
"""


def build_app(svc: Services) -> gr.Blocks:
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

    with gr.Blocks(title="coach — reverse-mentoring debriefs") as app:
        with gr.Tabs():
            with gr.Tab("Welcome", id="welcome"):
                gr.Markdown(WELCOME, elem_classes="coach-header")
            with gr.Tab("System", id="system"):
                gr.Markdown("Configuration and health of this installation (for administrators).",
                            elem_classes="coach-note")
                status = gr.Code(label="Status", language="json", value=status_json)
                with gr.Row():
                    refresh = gr.Button("Refresh")
                    check = gr.Button("Check the model", variant="primary")
                reply = gr.Textbox(label="Model self-test", interactive=False)
                refresh.click(status_json, outputs=status)
                check.click(check_model, outputs=reply).then(status_json, outputs=status)
    return app


def main(host: str | None = None, port: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM ends the app like Ctrl-C does, so the local model server is stopped with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    svc = Services()
    svc.start_local_model_in_background()
    app = build_app(svc)
    try:
        # Gradio reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT itself when these are None.
        app.queue(default_concurrency_limit=16).launch(
            server_name=host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
            server_port=port,
            theme=gr.themes.Soft(),
            css=CSS,
            footer_links=[],
        )
    finally:
        svc.close()
