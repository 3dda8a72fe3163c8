"""A small sentence classifier over MiniLM embeddings: is this sentence a learning / an action /
a stated belief (the "before" of a broken assumption)?

Features: the sentence embedding, what the coach's question was about (context), and a few cue
flags. Weights are logistic regressions fitted on every gold split that has been read (protocol
and free-form interviewers; a blind split is never used) by ``python evals/extraction/train.py``
and shipped as ``sentence_model.json`` (no training at run time, no network).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from coach.embeddings import MiniLM
from coach.extraction.text import ACTION_CUE, BEFORE_CUE, HEDGE, LEARN_CUE, Sentence

CONTEXT_NAMES = ("learned", "gained", "example", "beliefs", "action", "taught", "struggle", "surprise",
                 "sessions", "other", "learned_cue_only")
ENUMERATOR = __import__("re").compile(r"^\s*(first|second|third|also|and|another|the other thing|plus)\b", __import__("re").I)
# An anecdote illustrating a point ("She showed me ...", "Tom ran ...") rather than the point itself.
NARRATIVE = re.compile(r"^\W*(She|He|They|We|[A-Z][a-z]+) (showed|walked|typed|sent|asked|told|ran|rebuilt|opened|"
                       r"pulled|played|took|made|gave|searched|had|did|put|used|brought|demonstrated|went|got|"
                       r"started|spent|tried|found|built|set)\b")
EXAMPLE_CUE = re.compile(r"\b(for example|for instance|once|last (week|month|year)|in (the )?(first|second|third|last) "
                         r"session|one (day|time|moment)|at one point)\b", re.I)
WEIGHTS = Path(__file__).with_name("sentence_model.json")
LABELS = ("learned", "action", "belief")


def features(sents: list[Sentence], contexts: list[str]) -> np.ndarray:
    if not sents:
        return np.zeros((0, 384 + len(CONTEXT_NAMES) + 10), dtype=np.float32)
    emb = MiniLM.shared().embed([s.text for s in sents])
    ctx = np.zeros((len(sents), len(CONTEXT_NAMES)), dtype=np.float32)
    for r, c in enumerate(contexts):
        ctx[r, CONTEXT_NAMES.index(c if c in CONTEXT_NAMES else "other")] = 1
    flags = np.array([[s.pos == 0, bool(LEARN_CUE.search(s.text)), bool(ACTION_CUE.search(s.text)),
                       bool(BEFORE_CUE.search(s.text)), bool(ENUMERATOR.search(s.text)), bool(HEDGE.search(s.text)),
                       bool(NARRATIVE.search(s.text)), bool(re.search(r"\d", s.text)), bool(EXAMPLE_CUE.search(s.text)),
                       min(len(s.text.split()), 40) / 40]
                      for s in sents], dtype=np.float32)
    return np.hstack([emb, ctx, flags])


@lru_cache(maxsize=1)
def _weights() -> dict[str, tuple[np.ndarray, float]] | None:
    if not WEIGHTS.is_file():
        return None
    data = json.loads(WEIGHTS.read_text())
    return {k: (np.array(v["w"], dtype=np.float32), float(v["b"])) for k, v in data.items()}


def probabilities(sents: list[Sentence], contexts: list[str]) -> dict[str, np.ndarray] | None:
    """P(label) per sentence for each label (None for no sentences)."""
    if not sents:
        return None
    w = _weights()
    if w is None:
        raise RuntimeError(f"{WEIGHTS} is missing: it ships with coach (rebuild: python evals/extraction/train.py)")
    x = features(sents, contexts)
    return {k: 1 / (1 + np.exp(-(x @ wk + bk))) for k, (wk, bk) in w.items()}


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000, lr: float = 0.5) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression by gradient descent (small data: a few hundred rows)."""
    w, b = np.zeros(x.shape[1], dtype=np.float64), 0.0
    pos = max(y.mean(), 1e-3)
    sw = np.where(y == 1, 0.5 / pos, 0.5 / max(1 - pos, 1e-3))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = sw * (p - y)
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return w, b
