"""Extraction: transcript -> grounded, classified records.

``run(name, turns, role)`` runs one extractor, then the shared guard (grounding, injection,
hedges, denials, rejected suggestions). Theme, depth and scope are derived when the items are
stored as records (coach.records). Extractors:

- ``offline``: structure + cue sentences, no generative model (default on the bundled model);
- ``cues``: the plain cue-phrase baseline the eval compares against;
- ``llm``: structured output through the model gateway (default with a capable model);
- ``llm_answer``: the same, one call per participant answer (see coach.extraction.llm).
"""

from __future__ import annotations

import time

from coach.extraction.checks import apply_checks, without_check_replies
from coach.extraction.feedback import session_feedback
from coach.extraction.guard import guard
from coach.extraction.offline import extract_cues, extract_offline
from coach.extraction.records import Extraction, Item, Turn, without_superseded

EXTRACTORS = ("offline", "cues", "llm", "llm_answer")


def default_extractor(settings) -> str:
    return "llm" if settings.step_uses_model("extraction") else "offline"


def run(name: str, turns: list[Turn], role: str = "senior", *, topic: str = "", gateway=None) -> Extraction:
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; choose one of {', '.join(EXTRACTORS)}")
    t0 = time.perf_counter()
    turns = without_superseded(turns)
    seen = without_check_replies(turns)  # replies to the coach's checks are settled below
    ex = Extraction(extractor=name)
    if name == "offline":
        items = extract_offline(seen, role)
    elif name == "cues":
        items = extract_cues(seen, role)
    else:
        from coach.extraction.llm import extract_llm

        if gateway is None:
            raise ValueError("the llm extractor needs a model gateway")
        items, ex = extract_llm(seen, role, gateway, ex, topic, per_answer=name == "llm_answer")
    ex.items, ex.dropped_ungrounded, ex.refused = guard(apply_checks(turns, items), turns, topic)
    ex.items += session_feedback(turns)
    ex.seconds = time.perf_counter() - t0
    return ex


__all__ = ["EXTRACTORS", "Extraction", "Item", "Turn", "default_extractor", "run"]
