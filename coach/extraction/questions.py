"""What a coach question asks about, read from its meaning rather than its exact words.

Interviewers who are not the app ask in their own words ("What stands out when you look back?",
"Q: anything you had wrong?"), so a question is compared (MiniLM cosine) with every question and
probe of the participant's protocol (``prompts/protocol/<role>.yaml``) and with paraphrases kept
as data (``prompts/protocol/question_contexts.yaml``); the nearest one names the context. A
question close to none of them, or one that asks nothing ("Mm.", "Go on."), leaves the answer to
be read on its own.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import yaml

from coach.cues import sentences_of
from coach.embeddings import MiniLM
from coach.prompts import default_prompts_dir

# below this the nearest paraphrase is not a paraphrase: the question says nothing we know
MIN_SIMILARITY = 0.5
PROBE_CONTEXT = {"example": "example", "before": "beliefs", "after": "after"}  # other probes: the slot's own
SHARED_SLOTS = ("action",)  # juniors are asked the senior's action question too
NOTE_LABEL = re.compile(r"^\W*(q|question|re|topic)\s*[:.-]\s*", re.I)  # "Q: next steps?" in call notes


def _protocol_exemplars(role: str) -> list[tuple[str, str]]:
    out = []
    for r in ("senior", "junior"):
        out += [e for e in _slot_exemplars(r) if r == role or e[1] in SHARED_SLOTS]
    return out


def _slot_exemplars(role: str) -> list[tuple[str, str]]:
    path = default_prompts_dir() / "protocol" / f"{role}.yaml"
    out = []
    for slot in yaml.safe_load(path.read_text(encoding="utf-8"))["slots"]:
        out.append((slot["question"], slot["id"]))
        for text in ([q] if isinstance(q := slot.get("baseline_question") or [], str) else q):
            out.append((text.replace("“{belief}”", "").strip(), slot["id"]))
        out += [(text, PROBE_CONTEXT.get(kind, slot["id"])) for kind, text in slot.get("probes", {}).items()]
    return out


def _paraphrases(role: str) -> list[tuple[str, str]]:
    data = yaml.safe_load((default_prompts_dir() / "protocol" / "question_contexts.yaml").read_text(encoding="utf-8"))
    return [(text, ctx) for part in (role, "any") for ctx, texts in (data.get(part) or {}).items() for text in texts]


@lru_cache(maxsize=4)
def _exemplars(role: str) -> tuple[tuple[str, ...], np.ndarray]:
    role = role if role in ("senior", "junior") else "senior"
    pairs = _protocol_exemplars(role) + _paraphrases(role)
    return tuple(c for _, c in pairs), MiniLM.shared().embed([t for t, _ in pairs])


def asks(text: str) -> list[str]:
    """The parts of a coach turn that ask: its questions, or all of it when nothing ends in "?"
    (note headings such as "Q: actions"), without note labels."""
    parts = [NOTE_LABEL.sub("", s) for s in sentences_of(text)]
    parts = [p for p in parts if p.strip()]
    questions = [p for p in parts if p.rstrip().endswith("?")]
    return questions or parts[-1:]


_known: dict[tuple[str, str], tuple[str, float]] = {}  # (question, role) -> context: questions repeat


def classify(text: str, role: str = "senior") -> tuple[str, float]:
    """(context, similarity) of the best-matching part of the question; ("other", s) below
    MIN_SIMILARITY. Several questions in one turn: the one closest to a known question."""
    return classify_all([text], role)[0]


def classify_all(texts: list[str], role: str = "senior") -> list[tuple[str, float]]:
    """classify() for every coach turn of a transcript, with one call to the model for the new ones."""
    new = [t for t in dict.fromkeys(texts) if (t, role) not in _known]
    parts = {t: asks(t) for t in new}
    flat = [p for t in new for p in parts[t]]
    if flat:
        names, ex = _exemplars(role)
        sims = MiniLM.shared().embed(flat) @ ex.T
        if len(_known) > 4096:
            _known.clear()
        at = 0
        for t in new:
            block = sims[at: at + len(parts[t])]
            at += len(parts[t])
            r, c = np.unravel_index(int(np.argmax(block)), block.shape)
            best = float(block[r, c])
            _known[(t, role)] = (names[c] if best >= MIN_SIMILARITY else "other"), best
    for t in new:
        _known.setdefault((t, role), ("nudge", 1.0))  # nothing in it asks anything
    return [_known[(t, role)] for t in texts]
