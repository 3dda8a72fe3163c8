"""Fit the offline extractor's sentence classifier on the DEV split only; write its weights.

    python evals/extraction/train.py          # fit on all of dev, write sentence_model.json
    python evals/extraction/train.py --cv     # 5-fold cross-validation over dev debriefs (writes nothing)

    python evals/extraction/train.py --cv-belief  # the same for the "belief" label

A participant sentence is a positive example of "learned" (or "action") when its MiniLM
cosine similarity to one of the debrief's gold items of that field is at least POSITIVE; of
"belief" (a stated belief that later broke) when its similarity to a gold broken assumption's
"before", or to its "before after", is at least BELIEF_POSITIVE.
``--cv`` fits on 4/5 of the dev debriefs, runs the whole offline extractor on the other 1/5, and
prints pooled precision/recall/F1 for each setting of POSITIVE, L2 and LEARNED_MIN (``--cv-belief``:
BELIEF_POSITIVE and BELIEF_MIN); the values below are the best of that grid.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from coach.debrief_file import read_debriefs  # noqa: E402
from coach.embeddings import MiniLM  # noqa: E402
from coach.extraction import offline, sentence_model  # noqa: E402
from coach.extraction.offline import units  # noqa: E402
from coach.extraction.records import Turn  # noqa: E402
from coach.extraction.sentence_model import LABELS, WEIGHTS, features, fit  # noqa: E402

POSITIVE = 0.55  # with L2 and LEARNED_MIN 0.65: cross-validated learned F1 0.61 on 78 dev debriefs (`--cv`)
L2 = 3e-3
BELIEF_POSITIVE = 0.6  # with BELIEF_MIN 0.6: cross-validated assumptions F1 0.79 (0.77 without the label)
FOLDS = 5


def dev_rows():
    """Per dev debrief: (debrief, features, {label: best similarity of each sentence to a gold item})."""
    rows = []
    for d in read_debriefs(Path(__file__).with_name("gold_dev.jsonl")):
        us = units([Turn(t.speaker, t.text) for t in d.transcript])
        if not us:
            rows.append((d, None, None))
            continue
        sents = [s for s, _ in us]
        emb = MiniLM.shared().embed([s.text for s in sents])
        sims = {label: (emb @ MiniLM.shared().embed(list(gold)).T).max(axis=1) if gold else np.zeros(len(sents))
                for label, gold in (("learned", d.expected.learned), ("action", d.expected.actions))}
        beliefs = d.expected.broken_assumptions
        sims["belief"] = np.zeros(len(sents))
        if beliefs:
            before = MiniLM.shared().embed([b.before for b in beliefs])
            both = MiniLM.shared().embed([f"{b.before} {b.after}" for b in beliefs])
            sims["belief"] = np.maximum((emb @ before.T).max(axis=1), (emb @ both.T).max(axis=1))
        rows.append((d, features(sents, [c for _, c in us]), sims))
    return rows


def fit_weights(rows, positive: float, l2: float, verbose: bool = False,
                belief_positive: float = BELIEF_POSITIVE) -> dict:
    x = np.vstack([f for _, f, _ in rows if f is not None]).astype(np.float64)
    out = {}
    for label in LABELS:
        cut = belief_positive if label == "belief" else positive
        y = np.concatenate([(s[label] >= cut).astype(np.float64) for _, f, s in rows if f is not None])
        w, b = fit(x, y, l2=l2)
        if verbose:
            acc = (((1 / (1 + np.exp(-(x @ w + b)))) >= 0.5) == y).mean()
            print(f"{label}: {int(y.sum())} positives of {len(y)} sentences; training accuracy {acc:.2f}")
        out[label] = (w, float(b))
    return out


def cross_validate(rows) -> None:
    import run  # evals/extraction/run.py: the same scoring as the eval table

    folds = [list(range(i, len(rows), FOLDS)) for i in range(FOLDS)]
    original = sentence_model._weights, offline.LEARNED_MIN
    try:
        for positive, l2 in itertools.product([0.55, 0.6], [1e-3, 3e-3, 1e-2]):
            fold_weights = [fit_weights([r for i, r in enumerate(rows) if i not in set(f)], positive, l2) for f in folds]
            for learned_min in (0.5, 0.6, 0.65, 0.7, 0.75):
                offline.LEARNED_MIN = learned_min
                pooled = {"learned": [0, 0, 0], "actions": [0, 0, 0]}
                for f, w in zip(folds, fold_weights):
                    sentence_model._weights = lambda w=w: w  # the extractor reads the fold's weights
                    raw = run.evaluate("offline", [rows[i][0] for i in f])["_raw"]
                    for field in pooled:
                        pooled[field] = [a + b for a, b in zip(pooled[field], raw[field])]
                print(f"POSITIVE={positive} L2={l2:g} LEARNED_MIN={learned_min}: "
                      + "  ".join(f"{k} P/R/F1 {_prf(c)}" for k, c in pooled.items()), flush=True)
    finally:
        sentence_model._weights, offline.LEARNED_MIN = original


def cross_validate_belief(rows) -> None:
    import run

    folds = [list(range(i, len(rows), FOLDS)) for i in range(FOLDS)]
    original = sentence_model._weights, offline.BELIEF_MIN
    try:
        for belief_positive in (0.5, 0.55, 0.6, 0.65):
            fold_weights = [fit_weights([r for i, r in enumerate(rows) if i not in set(f)], POSITIVE, L2,
                                        belief_positive=belief_positive) for f in folds]
            for belief_min in (0.5, 0.6, 0.7, 0.8, 1.01):  # 1.01: the label unused
                offline.BELIEF_MIN = belief_min
                pooled = [0, 0, 0]
                for f, w in zip(folds, fold_weights):
                    sentence_model._weights = lambda w=w: w
                    raw = run.evaluate("offline", [rows[i][0] for i in f])["_raw"]
                    pooled = [a + b for a, b in zip(pooled, raw["broken_assumptions"])]
                print(f"BELIEF_POSITIVE={belief_positive} BELIEF_MIN={belief_min}: "
                      f"assumptions P/R/F1 {_prf(pooled)}", flush=True)
    finally:
        sentence_model._weights, offline.BELIEF_MIN = original


def _prf(c) -> str:
    m, p, g = c
    prec, rec = (m / p if p else 0.0), (m / g if g else 0.0)
    return f"{prec:.2f}/{rec:.2f}/{(2 * prec * rec / (prec + rec) if prec + rec else 0.0):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv", action="store_true", help="cross-validate the settings instead of writing weights")
    ap.add_argument("--cv-belief", action="store_true", help="cross-validate the belief label's settings")
    a = ap.parse_args()
    rows = dev_rows()
    if a.cv or a.cv_belief:
        (cross_validate if a.cv else cross_validate_belief)(rows)
        return
    weights = fit_weights(rows, POSITIVE, L2, verbose=True)
    WEIGHTS.write_text(json.dumps({k: {"w": [round(float(v), 6) for v in w], "b": b} for k, (w, b) in weights.items()}))
    print(f"wrote {WEIGHTS}")


if __name__ == "__main__":
    main()
