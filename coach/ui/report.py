"""The Report tab: the impact report of the facilitator's programme, or of the installation for
an admin (aggregates only), with a printable page (/report) and a PDF; a facilitator also chooses
the quotes it highlights and whether their programme has a second follow-up."""

from __future__ import annotations

import gradio as gr

from coach.policy import AccessDenied
from coach.records import KIND_LABEL
from coach.report import report_html, report_pdf
from coach.ui.common import Ctx

PRINTABLE = ('<p><a href="/report" target="_blank" rel="noopener" id="printable-report">Open the printable page'
             '</a> (opens in a new tab; print it from there)</p>')


def quote_label(q: dict) -> str:
    quote = q["quote"] if len(q["quote"]) <= 160 else q["quote"][:159].rsplit(" ", 1)[0] + "…"
    return f"“{quote}” ({KIND_LABEL.get(q['kind'], q['kind']).lower()}, a {q['role']})"


def report_body(document: str) -> str:
    """The report's page as it is shown inside the app: its body (the same words as the PDF)."""
    start, end = document.find("<body>"), document.rfind("</body>")
    style = document[document.find("<style>"):document.find("</style>") + 8]
    style = style.replace("body {", ".impact-report {").replace("</style>", ".impact-report { margin: 0 .5rem; }</style>")
    return f'<div class="impact-report">{style}' \
           f"{document[start + 6:end]}</div>"


class ReportTab:
    def __init__(self, ctx: Ctx):
        self.ctx, self.svc = ctx, ctx.svc

    def build(self) -> None:
        gr.HTML(PRINTABLE, padding=False)
        with gr.Row():
            self.pdf_btn = gr.Button("Download the report as PDF", variant="primary")
            self.refresh = gr.Button("Refresh")
        self.pdf = gr.File(label="Impact report (PDF)", visible=False, elem_id="report-pdf")
        self.note = gr.Markdown(elem_classes="coach-notice")
        with gr.Accordion("Choose the report's quotes, and a second follow-up", open=False,
                          visible=False) as self.options:
            self.quotes = gr.CheckboxGroup(label="Quotes to highlight (approved, shared items of your programme; "
                                                 "shown without names; up to five)", choices=[],
                                          elem_id="report-quotes")
            self.save_quotes = gr.Button("Save the chosen quotes")
            self.second = gr.Checkbox(label="Ask again about actions still not started, "
                                            f"{self.svc.settings.followup_second_days} days after the debrief "
                                            "(a second follow-up)")
        self.view = gr.HTML(elem_id="impact-report")

    def wire(self, tab: gr.Tab) -> None:
        outputs = [self.view, self.options, self.quotes, self.second, self.note]
        tab.select(self.show, outputs=outputs, api_name="report")
        self.refresh.click(self.show, outputs=outputs)
        self.pdf_btn.click(lambda: gr.File(visible=True), outputs=self.pdf).then(
            self.download, outputs=[self.pdf, self.note], api_name="report_pdf")
        self.save_quotes.click(self.choose, inputs=self.quotes, outputs=outputs, api_name="report_quotes")
        self.second.input(self.set_second, inputs=self.second, outputs=self.note, api_name="second_followup")

    def show(self, request: gr.Request, note: str = "") -> dict:
        actor = self.ctx.who(request, "facilitator", "admin")
        page = report_body(report_html(self.svc.report.build(actor)))
        if actor.role != "facilitator":
            return {self.view: page, self.options: gr.update(visible=False), self.quotes: gr.update(),
                    self.second: gr.update(), self.note: note}
        quotable = self.svc.report.quotable(actor)
        chosen = self.svc.followups.options(actor.programme or "").get("highlights") or []
        return {self.view: page, self.options: gr.update(visible=True),
                self.quotes: gr.update(choices=[(quote_label(q), q["id"]) for q in quotable],
                                       value=[i for i in chosen if i in {q["id"] for q in quotable}]),
                self.second: gr.update(value=bool(self.svc.followups.options(actor.programme or "")
                                                  .get("second_followup"))),
                self.note: note}

    def download(self, request: gr.Request) -> dict:
        actor = self.ctx.who(request, "facilitator", "admin")
        try:
            data = report_pdf(self.svc.report.build(actor))
        except OSError as e:  # WeasyPrint needs the system's Pango library
            return {self.pdf: gr.File(visible=False), self.note: f"⚠️ The PDF could not be made here ({e}). "
                                                                 "Use the printable page instead."}
        path = self.ctx.scratch_folder() / "impact-report.pdf"
        path.write_bytes(data)
        return {self.pdf: str(path), self.note: ""}

    def choose(self, ids, request: gr.Request) -> dict:
        actor = self.ctx.who(request, "facilitator")
        if len(ids or []) > 5:
            return self.show(request, "⚠️ Please choose at most five quotes.")
        self.svc.report.choose_highlights(actor, [int(i) for i in ids or []])
        return self.show(request, "Saved: the report shows these quotes.")

    def set_second(self, on: bool, request: gr.Request) -> str:
        try:
            self.svc.followups.set_option(self.ctx.who(request, "facilitator"), "second_followup", bool(on))
        except AccessDenied as e:
            return f"⚠️ {e}"
        return "A second follow-up is now " + ("on" if on else "off") + " for your programme."
