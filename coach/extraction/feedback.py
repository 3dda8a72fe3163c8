"""How the sessions went, in the participant's words: feedback for the facilitator (the sessions
were too short, the café was too loud), recorded whole, shared with the same consent as the rest
of the debrief, never evidence for topic ideas (coach.records.INDEXED_KINDS)."""

from __future__ import annotations

from coach.cues import INJECTION, is_vague
from coach.extraction.records import Item, Turn, answered_slots


def session_feedback(turns: list[Turn]) -> list[Item]:
    """Each substantive answer to the question about the sessions themselves, as one item."""
    out = []
    for i, slot in answered_slots(turns).items():
        text = turns[i].text.strip()
        if slot == "sessions" and text and not is_vague(text) and not INJECTION.search(text):
            out.append(Item(kind="session_feedback", text=text, quote=text, turn_index=i))
    return out
