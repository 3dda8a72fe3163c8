"""The Gradio app: a shell (the account line, the tabs) around each role's tabs, which live in
their own modules and wire their own events:

- :mod:`coach.ui.participant`: the Debrief tab;
- :mod:`coach.ui.topics`: Topic ideas (participants and facilitators);
- :mod:`coach.ui.facilitator`: Pairs and Review;
- :mod:`coach.ui.admin`: People and System.

Everyone signs in (coach.web); each handler resolves the signed-in person from the request and
the domain checks what they may do. A participant's debrief can be opened as
``/?debrief=<id>`` (that is also how a reloaded page resumes), but only by its owner.
"""

from __future__ import annotations

import gradio as gr

from coach.policy import Actor
from coach.ui.admin import PeopleTab, SystemTab
from coach.ui.common import CSS, SCRATCH_MINUTES, Ctx, esc
from coach.ui.facilitator import PairsTab, ReviewTab
from coach.ui.participant import SET_URL, DebriefTab
from coach.ui.report import ReportTab
from coach.ui.sessions import SessionsTab
from coach.ui.topics import TopicsTab

__all__ = ["CSS", "build_app"]

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
{where}

Log each session with your mentoring partner in the **Sessions** tab (a few seconds), and answer
the two-question check-in after it: only your programme's facilitator sees your answers. Your
debrief is in the **Debrief** tab; it becomes due when the planned sessions are logged. About a
month after it, a short follow-up asks what became of what you said you would do: it appears at
the top of the Debrief tab.
"""

WELCOME_STAFF = {
    "facilitator": """
# coach
**A debrief coach for reverse mentoring.** You run a programme: create its pairs, review what
participants agreed to share, and help new pairs choose topics.

* **Pairs:** create a pair (each person gets a sign-in name; new people get a single-use invitation link), and look after each: a new link for a lost invitation, its topic and sessions, closing it. Every pair shows its sessions held and planned, the pairing-fit answers, each side's debrief, and whether it is at risk (and why), worst first; you can log a session for a pair, read its check-ins (logged) and open its debrief early.
  Optionally record the senior's starting beliefs: the debrief comes back to them.
* **Review:** shared debriefs of your programme. Check each item against the participant's own
  words (highlighted in the transcript), then approve, edit or reject it. The dashboard and the
  export (CSV, JSON) draw on approved items only. Every opening and decision is in the access log.
* **Report:** the programme's impact report (what was learned, what became of the actions a month
  later, decisions changed), as a page to print and a PDF; no group of fewer than five people is
  shown. Choose the quotes it highlights, and whether actions still not started are asked about again.
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
* **Report:** the installation's impact report, aggregates only (no quotes), as a page to print and a PDF.
""",
}


def build_app(svc, accounts=None) -> gr.Blocks:
    """The Gradio Blocks over the parts ``svc`` (coach.services.Services) wires."""
    ctx = Ctx(svc, accounts or svc.accounts)
    debrief, topics, sessions = DebriefTab(ctx), TopicsTab(ctx), SessionsTab(ctx)
    pairs, review, people, system = PairsTab(ctx), ReviewTab(ctx), PeopleTab(ctx), SystemTab(ctx)
    report = ReportTab(ctx)
    with gr.Blocks(title="coach — reverse-mentoring debriefs",
                   delete_cache=(SCRATCH_MINUTES * 60, SCRATCH_MINUTES * 60)) as app:
        with gr.Row(elem_classes="coach-account"):
            signed_in = gr.Markdown(elem_id="signed-in")
            gr.Button("Change password", link="/account/password", size="sm", scale=0, elem_id="change-password")
            # a POST from this page: a sign-out link could be followed from any site
            gr.HTML('<form method="post" action="/auth/logout" class="coach-signout">'
                    '<button type="submit" id="sign-out">Sign out</button></form>', padding=False)
        with gr.Tabs(selected="welcome") as tabs:
            with gr.Tab("Welcome", id="welcome"):
                welcome = gr.Markdown(WELCOME.format(where=where_answers_go(svc.settings)))
            with gr.Tab("Debrief", id="debrief", visible=False) as debrief_tab:
                sessions.build_due()
                debrief.build()
            with gr.Tab("Sessions", id="sessions", visible=False) as sessions_tab:
                sessions.build()
            with gr.Tab("Pairs", id="pairs", visible=False) as pairs_tab:
                pairs.build()
            with gr.Tab("Topic ideas", id="topics", visible=False) as topics_tab:
                topics.build()
            with gr.Tab("Review", id="review", visible=False) as review_tab:
                review.build()
            with gr.Tab("Report", id="report", visible=False) as report_tab:
                report.build()
            with gr.Tab("People", id="people", visible=False) as people_tab:
                people.build()
            with gr.Tab("System", id="system", visible=False) as system_tab:
                system.build()
        debrief.wire()
        sessions.wire(sessions_tab)
        pairs.wire(pairs_tab)
        topics.wire(topics_tab)
        review.wire(review_tab)
        people.wire(people_tab)
        system.wire(system_tab)
        report.wire(report_tab)
        visible_to = {debrief_tab: ("participant",), sessions_tab: ("participant",), pairs_tab: ("facilitator",),
                      topics_tab: ("participant", "facilitator"), review_tab: ("facilitator",),
                      report_tab: ("facilitator", "admin"),
                      people_tab: ("admin",), system_tab: ("admin",)}

        def on_load(request: gr.Request) -> dict:
            actor = ctx.who(request)
            out = {signed_in: signed_in_line(actor),
                   welcome: WELCOME_STAFF.get(actor.role, WELCOME.format(where=where_answers_go(svc.settings))),
                   **{tab: gr.Tab(visible=actor.role in roles) for tab, roles in visible_to.items()},
                   **topics.on_load(actor)}
            if actor.role == "participant":
                out |= debrief.on_load(actor, request)
            else:
                out |= {debrief.did: None, **debrief.render(None, None)}
            return out

        load_out = [signed_in, *visible_to, debrief.did, *debrief.view_outputs, welcome, topics.similar_acc,
                    topics.batch_acc]
        loaded = app.load(on_load, outputs=load_out, api_name="on_load").then(
            lambda d: gr.Tabs(selected="debrief") if d else gr.Tabs(), inputs=debrief.did, outputs=tabs)
        debrief.restore_draft(loaded)
        # the page's address names the debrief shown, so a reload comes back to it
        loaded.then(None, inputs=debrief.did, js=SET_URL)
        app.load(sessions.on_load, outputs=sessions.outputs)  # the due line; the tab itself is filled when opened
    return app


def where_answers_go(settings) -> str:
    """The welcome's line on where a participant's words go, true for this installation."""
    from coach.config import STEPS
    from coach.gateway import is_external

    if not is_external(settings) or not any(settings.step_uses_model(s) for s in STEPS):
        return ("* **Where your words go:** they stay on your organisation's coach server; no outside service "
                "reads them.")
    removed = " (with e-mail addresses and phone numbers removed)" if settings.redact_external else ""
    return (f"* **Where your words go:** coach sends your answers{removed} to the AI service your organisation "
            "has chosen, to word its questions and draft your summary.")


def signed_in_line(actor: Actor) -> str:
    return (f"Signed in as **{esc(actor.name)}** ({actor.role}"
            + (f", programme “{esc(actor.programme)}”" if actor.programme else "") + ")")
