"""Rules every extractor's items pass before they can become records.

Grounding (the quote is the participant's own words) comes first; then participant text is
treated as data: a quote that carries an injection attempt, a hedge, a denial, the rejection
of something the coach suggested, a question, a remark about the tool or nothing specific
produces no record.
"""

from __future__ import annotations

import re

from coach.cues import NOT_A_PLAN, about_the_tool, hedged_not_kind_of, is_question, says_nothing, topic_words
from coach.extraction.injection import Layer
from coach.extraction.records import Item, Turn, ground, normalise
from coach.extraction.text import DENIAL, INJECTION, REJECT_START, SUGGESTION, in_injection, sentences


def rejected_spans(turns: list[Turn]) -> list[tuple[int, str]]:
    """(turn, sentence) pairs where the participant rejects what the coach just suggested."""
    out = []
    for i in range(1, len(turns)):
        prev, cur = turns[i - 1], turns[i]
        if cur.is_participant_words and prev.speaker == "coach" and SUGGESTION.search(prev.text):
            first = sentences(cur.text, i)[:1]
            if first and REJECT_START.search(first[0].text):
                out.append((i, normalise(first[0].text)))
    return out


def refuse_reason(item: Item, turns: list[Turn], rejected: list[tuple[int, str]],
                  topic: frozenset[str] = frozenset()) -> str | None:
    q = normalise(item.quote)
    if INJECTION.search(q):
        return "injection"
    if item.turn_index is not None and 0 <= item.turn_index < len(turns) and in_injection(
            normalise(turns[item.turn_index].text), q):
        return "injection"
    confirmed = item.provenance == "confirmed"
    # an item the participant confirmed or put in their own words when the coach said it back is
    # settled: a hedge, a terse wording or a tentative plan no longer makes it doubtful
    if not confirmed and hedged_not_kind_of(q, belief=item.kind == "broken_assumption"):
        return "hedge"
    for turn, sent in rejected:
        if item.turn_index == turn and (q in sent or sent in q):
            return "rejected suggestion"
    if DENIAL.search(q) and item.kind != "broken_assumption" and not confirmed:
        return "denial"
    why = not_a_record(q, item.kind, topic)
    if confirmed and why == "question" and not ASKS.match(q):
        return None  # their own wording said with a rising tone ("... on Reddit?"), not a question to the coach
    return None if confirmed and why in ("vague", "not a plan") else why


# how a question to the coach starts (a statement with a question mark does not)
ASKS = re.compile(r"^\W*(\w+,\s*)?(sorry|pardon|what|why|how|when|where|who|which|do|does|did|is|are|was|were|can|could|would|"
                  r"should|will|shall|may|might|have|has|had|isn'?t|aren'?t|don'?t|doesn'?t)\b", re.I)


def not_a_record(quote: str, kind: str, topic: frozenset[str] = frozenset()) -> str | None:
    """Words that say nothing to record: a question (to the coach, or still open), a remark about
    the debrief tool ("My summary lost my two actions."), or praise without content ("it was very
    interesting, I learned a lot"), the answer the interview's follow-up was chasing; and as an
    action, a wish or an open decision ("I'd love to ... one day", "I haven't decided")."""
    if is_question(quote):
        return "question"
    if about_the_tool(quote):
        return "about the tool"
    if kind != "broken_assumption" and says_nothing(quote, topic):
        return "vague"
    if kind == "action" and NOT_A_PLAN.search(quote):
        return "not a plan"
    return None


def guard(items: list[Item], turns: list[Turn], topic: str = "") -> tuple[list[Item], int, dict[str, int]]:
    """Ground, then refuse what must not be recorded. Returns (items, ungrounded, refused by reason)."""
    kept, ungrounded = ground(items, turns)
    rejected = rejected_spans(turns)
    second = Layer(turns)  # attempts found by meaning, whatever their phrasing (coach.extraction.injection)
    out: list[Item] = []
    refused: dict[str, int] = {}
    for it in kept:
        why = refuse_reason(it, turns, rejected, topic_words(topic)) or second.refuse_reason(it)
        if why:
            refused[why] = refused.get(why, 0) + 1
        else:
            out.append(it)
    return out, ungrounded, refused
