"""The Topic ideas tab: ideas for a new pair from the programme's shared debriefs (participants
and facilitators), what surprised similar seniors, and for facilitators similar past pairs and
suggestions for a batch of new pairs.

Participant text is shown as plain text (:func:`plain`): HTML escaped and Markdown's own
characters turned into entities, so nothing a participant wrote is rendered as markup or a link.
Names inside quotes are replaced in coach.suggest. A participant never sees their own pair's
debriefs as evidence, and sees no one's words until their programme holds enough shared debriefs
of other pairs (``COACH_MIN_SHARED_DEBRIEFS``); facilitators, who review those debriefs anyway,
also see the debrief ids (to open them in Review).
"""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr

from coach.policy import AccessDenied, Actor
from coach.records import STATUS_WORDS, pairs_of_participant
from coach.suggest import (
    BATCH_COLUMNS,
    BatchError,
    Quote,
    Suggestion,
    batch_results,
    cited,
    read_batch,
    similar_pairs,
    starter_topics,
    suggest,
    surprises,
    write_batch,
)
from coach.ui.common import Ctx, esc, warn

NO_PROGRAMME = ("You are in no pair at the moment. Topic ideas draw on the shared debriefs of your "
                "programme, so they appear once your facilitator adds you to a pair.")
# HTML's and Markdown's own characters (and those that start a link or a numbered list) as numeric
# entities, in one pass: shown as typed, never as markup, a link or Markdown
_PLAIN = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~:@=."} | {"\n": " ", "\r": " "})


def plain(text: str | None) -> str:
    """Participant (or asker) text for the page: as typed, never markup, links or Markdown."""
    return (text or "").translate(_PLAIN)


def _id(debrief_id: str, markdown: bool = False) -> str:
    """A debrief id (coach makes them from letters, digits, - and _) as code, as it is: a
    facilitator copies it into Review. In HTML (a card) or in a Markdown line (a list)."""
    if not re.fullmatch(r"[\w-]+", debrief_id or ""):
        return plain(debrief_id)
    return f"`{debrief_id}`" if markdown else f"<code>{debrief_id}</code>"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


KIND = {"learned": "learned", "broken_assumption": "changed view", "action": "action"}


class TopicsTab:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.svc = ctx.svc

    def build(self) -> None:
        gr.Markdown("Topics for a new pair, from what earlier pairs of your programme discovered. Each idea says "
                    "why it fits this senior and this junior and shows what earlier pairs said (open "
                    "“Evidence”). Only debriefs whose participants agreed to share are used, and names are "
                    "replaced.")
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
            gr.Markdown("A CSV with a header row naming the columns senior and junior (any letter case; commas or "
                        "semicolons; quote a value that contains the separator), optionally k (ideas for that "
                        "pair). Each pair gets as many ideas as asked (k, else “How many ideas” above): those "
                        "that fit well first, then weaker ones, then generic starter topics, each marked.")
            self.batch_in = gr.File(label="CSV with columns senior, junior (optional: k)", file_types=[".csv"])
            self.batch_btn = gr.Button("Suggest for every pair")
            self.batch_note = gr.Markdown()
            self.batch_preview = gr.Dataframe(headers=BATCH_COLUMNS, interactive=False, wrap=True,
                                              label="Preview", visible=False, elem_id="batch-preview")
            self.batch_out = gr.File(label="Suggestions (CSV)")

    def wire(self, tab: gr.Tab) -> None:
        self.go.click(self.ideas, inputs=[self.senior, self.junior, self.k], outputs=self.out, api_name="topic_ideas")
        self.surprises_btn.click(self.surprises, inputs=self.senior, outputs=self.out, api_name="senior_surprises")
        self.batch_btn.click(self.batch, inputs=[self.batch_in, self.k],
                             outputs=[self.batch_out, self.batch_note, self.batch_preview], api_name="batch")
        self.pair_refresh.click(self.pair_choices, outputs=self.pair, api_name="pair_choices")
        self.similar_btn.click(self.similar, inputs=self.pair, outputs=self.similar_out, api_name="similar")
        tab.select(self.pair_choices_if_facilitator, outputs=self.pair)

    def on_load(self, actor: Actor) -> dict:
        fac = actor.role == "facilitator"
        return {self.similar_acc: gr.Accordion(visible=fac), self.batch_acc: gr.Accordion(visible=fac)}

    # -- who may see what --------------------------------------------------------------------

    def _scope(self, actor: Actor) -> tuple[set[str], set[str], bool]:
        """(programmes, the asker's own pairs, whether earlier pairs' words may be shown)."""
        programmes = self.ctx.accounts.programmes_of(actor)
        if actor.role == "facilitator":
            return programmes, set(), True
        own = pairs_of_participant(self.svc.db, actor.id)
        enough = self.svc.corpus.enough_shared(programmes, own, self.svc.settings.min_shared_debriefs)
        return programmes, own, enough

    def _not_enough(self) -> str:
        n = self.svc.settings.min_shared_debriefs
        return (f"Your programme does not yet hold enough shared debriefs from other pairs to quote them (at least "
                f"{n} are needed; your own pair's are never shown to you), so no one's words are shown here yet")

    # -- handlers ----------------------------------------------------------------------------

    def cards_md(self, cards: list[Suggestion], programmes, facilitator: bool = False, note: str = "") -> str:
        later = ("Debriefs added a moment ago are still being indexed: ask again in a minute to draw on them."
                 if self.svc.corpus.catching_up else "")
        if not cards:
            return "No suggestions yet. " + later
        out = []
        if cards[0].generic:
            # nothing shared yet, too little of others' shared yet, or nothing close enough to this pair
            why = note or ("Your programme's shared debriefs do not yet support a topic for this pair (none is close "
                           "enough to both the senior and the junior, with at least two records behind it)"
                           if self.svc.records.has_suggestible(programmes) else
                           "No shared past debriefs of your programme are in the index yet")
            out.append(f"_{esc(why)}: these are **generic starter topics**, not evidence from earlier pairs._ {later}")
            out += [self._starter(n, c) for n, c in enumerate(cards, 1)]
            return "\n\n".join(out)
        strong = [c for c in cards if c.strength == "strong"]
        weaker = [c for c in cards if c.strength == "weaker"]
        if strong:
            head = f"**{_plural(len(strong), 'idea fits', 'ideas fit')} this pair well**"
            head += f"; {_plural(len(weaker), 'weaker one')} below." if weaker else "."
        else:
            head = (f"**No idea fits this pair well yet.** {_plural(len(weaker), 'weaker idea').capitalize()} below: "
                    "less evidence that they suit both this senior and this junior.")
        out.append(head + (f" _{later}_" if later else ""))
        out += [self._card(n, c, facilitator) for n, c in enumerate(strong, 1)]
        if weaker and strong:
            out.append("**Weaker ideas** <small>(close to this pair, but less clearly than those above)</small>")
        out += [self._card(n, c, facilitator) for n, c in enumerate(weaker, len(strong) + 1)]
        return "\n\n".join(out)

    @staticmethod
    def _starter(n: int, c: Suggestion) -> str:
        return (f'<div class="topic-card"><p><strong>{n}. {plain(c.topic)}</strong> <small>generic starter topic'
                f"</small></p><p>{plain(c.why)}</p></div>")

    def _card(self, n: int, c: Suggestion, facilitator: bool) -> str:
        tag = "fits well" if c.strength == "strong" else "weaker fit"
        pairs = f" · {_plural(c.pairs, 'earlier pair')}" if c.pairs else ""
        parts = [f"<p><strong>{n}. {plain(c.topic)}</strong> <small>{tag}{pairs}</small></p>"]
        if c.written_by == "model":
            parts.append(f"<p>{plain(c.why)}</p>")
        if c.fit:
            parts.append(f"<p><strong>Why for this pair:</strong> {plain(c.fit)}</p>")
        if c.finding:
            parts.append(f"<p><strong>What the earlier senior found:</strong> {plain(c.finding)}</p>")
        if c.quotes:
            items = "".join(f"<li>{self._quote(q, facilitator)}</li>" for q in c.quotes)
            summary = f"Evidence: {_plural(len(c.quotes), 'record')} from {_plural(max(c.pairs, 1), 'earlier pair')}"
            parts.append(f"<details><summary>{summary}</summary><ul>{items}</ul></details>")
        return '<div class="topic-card">' + "".join(parts) + "</div>"

    @staticmethod
    def _quote(q: Quote, facilitator: bool) -> str:
        whose = "the senior's" if q.role == "senior" else "the junior's"
        said = f"<br><small>In their words: “{plain(q.said)}”</small>" if q.said else ""
        if q.later:
            said += f"<br><small>A month on: {plain(STATUS_WORDS.get(q.later, q.later))}</small>"
        ref = f" <small>(debrief {_id(q.debrief_id)}, for Review)</small>" if facilitator and q.debrief_id else ""
        text = plain(q.text) if q.kind == "broken_assumption" else f"“{plain(q.text)}”"  # its parts are quoted
        return (f"{text} <small>({KIND.get(q.kind, q.kind)}, {whose} debrief; earlier pair: "
                f"“{plain(q.topic)}”, {plain(q.senior_role)} with {plain(q.junior_role)})</small>{said}{ref}")

    def ideas(self, senior, junior, k, request: gr.Request) -> str:
        try:
            actor = self.ctx.who(request, "participant", "facilitator")
            programmes, own, enough = self._scope(actor)
            if not programmes:
                return NO_PROGRAMME
            if not (senior or "").strip() or not (junior or "").strip():
                raise ValueError("Describe both the senior (role, context) and the junior (role, strengths).")
            if not enough:
                return self.cards_md(starter_topics(int(k or 5)), programmes, note=self._not_enough())
            cards = suggest(self.svc.corpus, senior, junior, k=int(k or 5), writer=self.svc.card_writer(),
                            programmes=programmes, exclude_pairs=own)
        except (AccessDenied, ValueError) as e:
            return warn(e)
        shown = cited(cards)
        if shown:
            self.ctx.accounts.log(actor, "suggest", "debriefs:" + ",".join(shown), "shared, approved records as evidence")
        return self.cards_md(cards, programmes, facilitator=actor.role == "facilitator")

    def surprises(self, senior, request: gr.Request) -> str:
        try:
            actor = self.ctx.who(request, "participant", "facilitator")
        except AccessDenied as e:
            return warn(e)
        if not (senior or "").strip():
            return "⚠️ Describe the senior's role first."
        programmes, own, enough = self._scope(actor)
        if not programmes:
            return NO_PROGRAMME
        if not enough:
            return f"_Not enough yet. {esc(self._not_enough())}._"
        found = surprises(self.svc.corpus, senior, k=5, programmes=programmes, exclude_pairs=own)
        if not found:
            return "No earlier senior in a similar role has shared a changed view yet."
        self.ctx.accounts.log(actor, "surprises", "debriefs:" + ",".join(sorted({f["evidence"][0] for f in found})),
                              "shared, approved broken assumptions")
        fac = actor.role == "facilitator"
        lines = ["What earlier seniors found surprising (names replaced):"]
        for f in found:
            who = "an earlier senior in a related role" if f["related"] else "an earlier senior"
            ref = f"; debrief {_id(f['evidence'][0], markdown=True)}" if fac else ""
            lines.append(f"* {plain(f['finding'])} <small>({who}: {plain(f['senior_role'])}; topic: "
                         f"{plain(f['topic'])}{ref})</small>")
        return "\n".join(lines)

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
        return "\n".join(f"* {plain(r['topic'])} <small>({r['role']} debrief {_id(r['debrief'], markdown=True)}, similarity "
                         f"{r['similarity']:.2f})</small>" for r in rows)

    def batch(self, file, k, request: gr.Request):
        hidden = gr.update(visible=False, value=None)
        try:
            actor = self.ctx.who(request, "facilitator")
        except AccessDenied as e:
            return None, warn(e), hidden
        if file is None:
            return None, "⚠️ Upload a CSV with columns senior, junior (and optionally k).", hidden
        src = Path(file)
        try:
            rows = read_batch(src)
            results = batch_results(self.svc.corpus, rows, writer=self.svc.card_writer(), default_k=int(k or 5),
                                    programmes=self.ctx.accounts.programmes_of(actor))
        except BatchError as e:
            return None, warn(e), hidden
        out = write_batch(results, self.ctx.scratch_folder() / f"{src.stem}-suggestions.csv")
        shown = sorted({d for r in results for d in str(r[8]).split()})
        self.ctx.accounts.log(actor, "suggest.batch", f"file:{src.name}",
                              "shared, approved records as evidence" + (f"; debriefs:{','.join(shown)}" if shown else ""))
        counts = {f: sum(r[4] == f for r in results) for f in ("fits well", "weaker", "starter (generic)")}
        note = (f"Done: {_plural(len(rows), 'pair')}, {_plural(len(results), 'idea')} ({counts['fits well']} fit well, "
                f"{counts['weaker']} weaker, {counts['starter (generic)']} generic starter topics). Download "
                f"{esc(out.name)} below.")
        return str(out), note, gr.update(visible=True, value=[[str(v) for v in r] for r in results])
