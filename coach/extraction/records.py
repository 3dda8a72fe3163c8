"""Extracted records and the grounding check every extractor's output goes through.

An item is grounded when its quote occurs verbatim in one of the participant's own turns, after
normalising only whitespace and quote characters. An item whose quote fails is dropped and
counted, never stored as if grounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

# learned (for a junior: what they gained), broken_assumption, action; a junior's taught and the
# senior's pushback; session_feedback (how the sessions went, for the facilitator)
Kind = Literal["learned", "broken_assumption", "action", "taught", "pushback", "session_feedback", "outcome"]


class Item(BaseModel):
    """One extracted item. ``text`` for learned/action; ``before``/``after`` for assumptions."""

    kind: Kind
    text: str = ""
    before: str | None = None
    after: str | None = None
    quote: str
    turn_index: int | None = None  # index in the transcript of the participant turn quoted
    # extracted | confirmed (the participant agreed, or gave these words, when the coach checked it
    # back) | participant (written or reworded by them in their summary)
    provenance: str = "extracted"
    # an outcome's: {"action": their words, "action_record": id, "status": done | partly | not_yet
    # | dropped, "decision_changed": their words or None, "decision_quote": ...}
    detail: dict | None = None

    def contract(self) -> dict:
        """The item as ``coach extract`` prints it (shared/contracts.md section 2)."""
        if self.kind == "broken_assumption":
            return {"before": self.before, "after": self.after, "quote": self.quote}
        return {"text": self.text, "quote": self.quote}


@dataclass
class Turn:
    speaker: str
    text: str
    meta: dict | None = None

    @property
    def is_participant_words(self) -> bool:
        """Participant turns, minus commands such as 'skip' that the app stored for them."""
        return self.speaker == "participant" and not (self.meta or {}).get("command")


def answered_slots(turns: list[Turn]) -> dict[int, str]:
    """Participant turn -> the protocol slot it answers: the one the coach asked about (live
    interviews record it on the coach turn), or the one a correction is about."""
    out: dict[int, str] = {}
    for i, t in enumerate(turns):
        if not t.is_participant_words:
            continue
        slot = (t.meta or {}).get("correction_of")
        if not slot and i and turns[i - 1].speaker == "coach":
            slot = (turns[i - 1].meta or {}).get("slot")
        if slot:
            out[i] = slot
    return out


def superseded_turns(turns: list[Turn]) -> set[int]:
    """Participant turns that a later correction replaced ("Correct an earlier answer", with
    ``replaces``): their words stay in the transcript, but no record comes from them. A correction
    too slight to stand as an answer (a date fixed, a name) amends rather than replaces: it drops
    nothing it does not contradict."""
    from coach.cues import content_words

    slots = answered_slots(turns)
    out: set[int] = set()
    for i, t in enumerate(turns):
        meta = t.meta or {}
        if i in slots and meta.get("correction_of") and meta.get("replaces") and content_words(t.text) >= 6:
            out |= {j for j, s in slots.items() if j < i and s == meta["correction_of"]}
    return out


def without_superseded(turns: list[Turn]) -> list[Turn]:
    """The transcript as extractors see it: replaced answers blanked (indices unchanged), so no
    extractor, model or rule, can take a record from them."""
    gone = superseded_turns(turns)
    return [Turn(t.speaker, "", t.meta) if i in gone else t for i, t in enumerate(turns)] if gone else turns


@dataclass
class Extraction:
    items: list[Item] = field(default_factory=list)
    dropped_ungrounded: int = 0
    regrounded: int = 0  # model quotes replaced by the participant's sentence they came from (llm)
    schema_valid: bool = True
    extractor: str = ""
    model: str | None = None
    prompt_id: str | None = None
    prompt_hash: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refused: dict = field(default_factory=dict)  # reason -> count (injection, hedge, ...)
    seconds: float = 0.0

    def by_kind(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]

    def contract(self, debrief_id: str) -> dict:
        out = {"id": debrief_id,
               "learned": [i.contract() for i in self.by_kind("learned")],
               "broken_assumptions": [i.contract() for i in self.by_kind("broken_assumption")],
               "actions": [i.contract() for i in self.by_kind("action")]}
        for kind in ("taught", "pushback", "session_feedback"):
            if self.by_kind(kind):  # extra fields only when there is something in them (contracts.md)
                out[kind] = [i.contract() for i in self.by_kind(kind)]
        return out


_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "`": "'"})
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Whitespace and quote characters only: nothing looser, so a quote stays the participant's."""
    return _SPACE.sub(" ", text.translate(_QUOTES)).strip()


def locate(quote: str, turns: list[Turn]) -> int | None:
    """Index of the participant turn containing ``quote`` (normalised), or None."""
    q = normalise(quote)
    if len(q) < 3:
        return None
    for i, t in enumerate(turns):
        if t.is_participant_words and q in normalise(t.text):
            return i
    return None


def ground(items: list[Item], turns: list[Turn]) -> tuple[list[Item], int]:
    """Keep items whose quote is in a participant turn (setting ``turn_index``); count the rest."""
    kept, dropped = [], 0
    for it in items:
        idx = locate(it.quote, turns)
        if idx is None:
            dropped += 1
            continue
        kept.append(it.model_copy(update={"turn_index": idx}))
    return kept, dropped


class LLMItem(BaseModel):
    text: str = Field(description="what was learned / gained, or the action, in a short phrase")
    quote: str = Field(description="exact words copied from ONE participant turn that show it")


class LLMAssumption(BaseModel):
    before: str = Field(description="what the participant believed before the sessions")
    after: str = Field(description="what they believe now")
    quote: str = Field(description="exact words copied from ONE participant turn that show it")


class LLMExtraction(BaseModel):
    """The schema the LLM extractor fills (structured output through the gateway)."""

    learned: list[LLMItem]
    broken_assumptions: list[LLMAssumption]
    actions: list[LLMItem]
