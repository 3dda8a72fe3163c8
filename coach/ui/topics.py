"""The Topic ideas tab: ideas for a new pair from the programme's shared debriefs (participants
and facilitators), what surprised similar seniors, and for facilitators similar past pairs and
suggestions for a batch of new pairs."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from coach.policy import AccessDenied, Actor
from coach.suggest import BatchError, batch_suggest, similar_pairs, suggest, surprises
from coach.ui.common import Ctx, esc, warn

NO_PROGRAMME = ("You are in no pair at the moment. Topic ideas draw on the shared debriefs of your "
                "programme, so they appear once your facilitator adds you to a pair.")


class TopicsTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.svc = ctx.svc

    def build(self) -> None:
        gr.Markdown("Topics for a new pair, from what earlier pairs of your programme discovered, with "
                    "the debriefs that support each one. Only debriefs whose participants agreed to share "
                    "are used, and no one is named.")
        with gr.Row():
            self.senior = gr.Textbox(label="The senior: role and context",
                                     placeholder="e.g. Head of store operations at a fashion retailer")
            self.junior = gr.Textbox(label="The junior: role and strengths",
                                     placeholder="e.g. Marketing assistant who runs the brand's TikTok")
        with gr.Row():
            self.k = gr.Slider(1, 10, value=5, step=1, label="How many ideas")
            self.go = gr.Button("Suggest topics", variant="primary")
            self.surprises_btn = gr.Button("What surprised similar seniors?")
        self.out = gr.Markdown(elem_id="topic-cards")
        with gr.Accordion("Facilitators: similar past pairs", open=False, visible=False) as self.similar_acc:
            with gr.Row():
                self.pair = gr.Dropdown(label="Pair", choices=[], scale=4)
                self.pair_refresh = gr.Button("Refresh pairs", scale=1)
            self.similar_btn = gr.Button("Show similar past pairs")
            self.similar_out = gr.Markdown()
        with gr.Accordion("Facilitators: suggestions for a batch of new pairs (CSV in, CSV out)", open=False,
                          visible=False) as self.batch_acc:
            self.batch_in = gr.File(label="CSV with columns senior, junior (optional: k)", file_types=[".csv"])
            self.batch_btn = gr.Button("Suggest for every pair")
            self.batch_out = gr.File(label="Suggestions")
            self.batch_note = gr.Markdown()

    def wire(self, tab: gr.Tab) -> None:
        self.go.click(self.ideas, inputs=[self.senior, self.junior, self.k], outputs=self.out, api_name="topic_ideas")
        self.surprises_btn.click(self.surprises, inputs=self.senior, outputs=self.out, api_name="senior_surprises")
        self.batch_btn.click(self.batch, inputs=self.batch_in, outputs=[self.batch_out, self.batch_note],
                             api_name="batch")
        self.pair_refresh.click(self.pair_choices, outputs=self.pair, api_name="pair_choices")
        self.similar_btn.click(self.similar, inputs=self.pair, outputs=self.similar_out, api_name="similar")
        tab.select(self.pair_choices_if_facilitator, outputs=self.pair)

    def on_load(self, actor: Actor) -> dict:
        fac = actor.role == "facilitator"
        return {self.similar_acc: gr.Accordion(visible=fac), self.batch_acc: gr.Accordion(visible=fac)}

    # -- handlers ----------------------------------------------------------------------------

    def cards_md(self, cards, programmes) -> str:
        later = ("Debriefs added a moment ago are still being indexed: ask again in a minute to draw on them."
                 if self.svc.corpus.catching_up else "")
        if not cards:
            return "No suggestions yet. " + later
        out = []
        if cards[0].generic:
            # nothing shared yet, or too little near this pair to make a topic (two records at least)
            why = ("Your programme's shared debriefs do not yet support a topic for this pair (a topic needs "
                   "at least two records close to it)" if self.svc.records.has_suggestible(programmes) else
                   "No shared past debriefs of your programme are in the index yet")
            out.append(f"_{why}: these are **generic starter topics**, not evidence from earlier pairs._ {later}")
        elif later:
            out.append(f"_{later}_")
        for n, c in enumerate(cards, 1):
            ev = ", ".join(f"`{e}`" for e in c.evidence) or "none (generic)"
            out.append(f'<div class="topic-card">\n\n**{n}. {esc(c.topic)}**\n\n{esc(c.why)}\n\n'
                       f"<small>Evidence: past debriefs {ev}</small>\n\n</div>")
        return "\n\n".join(out)

    def ideas(self, senior, junior, k, request: gr.Request) -> str:
        try:
            actor = self.ctx.who(request, "participant", "facilitator")
            programmes = self.ctx.accounts.programmes_of(actor)
            if not programmes:
                return NO_PROGRAMME
            cards = suggest(self.svc.corpus, senior, junior, k=int(k or 5), writer=self.svc.card_writer(),
                            programmes=programmes)
        except (AccessDenied, ValueError) as e:
            return warn(e)
        shown = sorted({e for c in cards for e in c.evidence})
        if shown:
            self.ctx.accounts.log(actor, "suggest", "debriefs:" + ",".join(shown), "shared, approved records as evidence")
        return self.cards_md(cards, programmes)

    def surprises(self, senior, request: gr.Request) -> str:
        try:
            actor = self.ctx.who(request, "participant", "facilitator")
        except AccessDenied as e:
            return warn(e)
        if not (senior or "").strip():
            return "⚠️ Describe the senior's role first."
        programmes = self.ctx.accounts.programmes_of(actor)
        if not programmes:
            return NO_PROGRAMME
        found = surprises(self.svc.corpus, senior, k=5, programmes=programmes)
        if not found:
            return "No earlier senior in a similar role has shared a changed view yet."
        self.ctx.accounts.log(actor, "surprises", "debriefs:" + ",".join(sorted({f["evidence"][0] for f in found})),
                              "shared, approved broken assumptions")
        return "\n".join(f"* {esc(f['finding'])} <small>(topic: {esc(f['topic'])}; evidence `{f['evidence'][0]}`)"
                         "</small>" for f in found)

    def pair_choices(self, request: gr.Request):
        actor = self.ctx.who(request, "facilitator")
        return gr.update(choices=[(f"{p.topic} · {p.senior} / {p.junior}", p.id)
                                  for p in self.svc.debriefs.pairs(actor.programme)])

    def pair_choices_if_facilitator(self, request: gr.Request):
        """The tab's select event fires for every role that has the tab: others get no change."""
        try:
            return self.pair_choices(request)
        except AccessDenied:
            return gr.update()

    def similar(self, pair_id, request: gr.Request) -> str:
        try:
            actor = self.ctx.who(request, "facilitator")
        except AccessDenied as e:
            return warn(e)
        p = next((x for x in self.svc.debriefs.pairs(actor.programme) if x.id == pair_id), None)
        if p is None:
            return "⚠️ Choose a pair of your programme."
        own = self.svc.debriefs.of_pair(p.id)
        rows = [r for r in similar_pairs(self.svc.corpus, p.senior, p.junior, p.topic, k=8, programmes={p.programme})
                if r["debrief"] not in own][:5]
        if not rows:
            return "No similar past pairs have shared their debriefs yet."
        self.ctx.accounts.log(actor, "similar_pairs", "debriefs:" + ",".join(r["debrief"] for r in rows),
                              f"for pair:{pair_id}")
        return "\n".join(f"* {esc(r['topic'])} <small>({r['role']} debrief `{r['debrief']}`, similarity "
                         f"{r['similarity']:.2f})</small>" for r in rows)

    def batch(self, file, request: gr.Request):
        try:
            actor = self.ctx.who(request, "facilitator")
        except AccessDenied as e:
            return None, warn(e)
        if file is None:
            return None, "⚠️ Upload a CSV with columns senior, junior (and optionally k)."
        try:
            out = batch_suggest(self.svc.corpus, Path(file), self.ctx.scratch_folder(), writer=self.svc.card_writer(),
                                programmes=self.ctx.accounts.programmes_of(actor))
        except BatchError as e:
            return None, warn(e)
        self.ctx.accounts.log(actor, "suggest.batch", f"file:{Path(file).name}", "shared, approved records as evidence")
        return str(out), f"Done: {out.name}"
