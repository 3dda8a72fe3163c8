"""Fit the offline extractor's sentence classifier on every gold split that has been read; write its weights.

    python evals/extraction/train.py               # fit on every read split, write sentence_model.json
    python evals/extraction/train.py --cv          # cross-validate POSITIVE, L2, LEARNED_MIN (writes nothing)
    python evals/extraction/train.py --cv shipped  # the shipped settings only
    python evals/extraction/train.py --cv rules    # ACTION_MIN, NEVER_LEARNED
    python evals/extraction/train.py --cv belief   # BELIEF_POSITIVE, BELIEF_MIN (also --cv-belief)
    python evals/extraction/train.py --cv alone    # LEARNED_MIN_ALONE (answers to questions we cannot place)
    python evals/extraction/train.py --cv stated   # STATED_MIN ("I thought ..." outside a beliefs question)
    python evals/extraction/train.py --cv shipped --fit dev --score all   # as before 2026-12-07: dev alone

A participant sentence is a positive example of "learned" (or "action") when its MiniLM
cosine similarity to one of the debrief's gold items of that field is at least POSITIVE; of
"belief" (a stated belief that later broke) when its similarity to a gold broken assumption's
"before", or to its "before after", is at least BELIEF_POSITIVE.
``--cv`` makes 5 folds of the debriefs of each split it scores (``--score``: the development
splits dev, freeform_dev and extra_dev by default; ``all``: every read split), fits on the other
4/5 of the ``--fit`` splits (every read split by default), runs the whole offline extractor on the
held-out fold of every split, and prints pooled precision/recall/F1 per split (and the free-form
splits pooled) for each setting; the values below are the best of that grid. A split in neither
list is never read; READ_SPLITS names the ones that may be (a blind split being written is not one).
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

from run import split_file  # noqa: E402

from coach.debrief_file import read_debriefs  # noqa: E402
from coach.embeddings import MiniLM  # noqa: E402
from coach.extraction import offline, sentence_model  # noqa: E402
from coach.extraction.offline import feature_context, units  # noqa: E402
from coach.extraction.records import Turn  # noqa: E402
from coach.extraction.sentence_model import LABELS, WEIGHTS, features, fit  # noqa: E402

# chosen by --cv and --cv belief (on dev, session 6-7; kept when fitting on every read split:
# figures in evals/HISTORY.md)
POSITIVE = 0.55
L2 = 3e-3
BELIEF_POSITIVE = 0.6
FOLDS = 5
# the splits written for development (extra_dev: synthetic free-form debriefs written for fitting,
# see extra_dev.jsonl): what --cv reports by default
DEV_SPLITS = ("dev", "freeform_dev", "extra_dev")
# every split that has been read and may be used in development since #17 part 2 (2026-12-07): the
# older test splits were scored after many changes, so they are development material now; a blind
# split being written (freeform_test3) is never read here
READ_SPLITS = DEV_SPLITS + ("test", "freeform_test", "freeform_test2")
# what the shipped weights are fitted on: every read split (cross-validated over debriefs, fitting on
# them all beats fitting on dev alone on the free-form splits and does not lose on the others)
FIT_SPLITS = READ_SPLITS


def dev_rows(split: str = "dev"):
    """Per debrief of a development split: (debrief, features, {label: best similarity of each
    sentence to a gold item}). Never the test splits."""
    assert split in READ_SPLITS, f"{split} is not a split development may read"
    rows = []
    for d in read_debriefs(split_file(split)):
        us = units([Turn(t.speaker, t.text) for t in d.transcript], d.role)
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
        rows.append((d, features(sents, [feature_context(c, d.role) for _, c in us]), sims))
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


def _memoise_embeddings() -> None:
    """Cross-validation runs the extractor over the same sentences many times: embed each once."""
    model, cache = MiniLM.shared(), {}
    embed = model.embed

    def cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, embed(missing)))
        return np.array([cache[t] for t in texts]) if texts else embed(texts)

    model.embed = cached  # type: ignore[method-assign]


def cross_validate(rows: dict, fit_splits: tuple[str, ...], grid: list[dict]) -> None:
    """FOLDS folds over the debriefs of every development split together: fit on the other folds
    of ``fit_splits``, run the whole offline extractor on the held-out fold, pool per split. Each
    grid entry: fit settings, and "sweep": offline.py thresholds -> values to try."""
    folds = [{sp: set(range(f, len(r), FOLDS)) for sp, r in rows.items()} for f in range(FOLDS)]
    original = sentence_model._weights, {k: getattr(offline, k) for g in grid for k in g["sweep"]}
    try:
        for g in grid:
            fold_weights = [fit_weights([r for sp in fit_splits for i, r in enumerate(rows[sp]) if i not in held[sp]],
                                        g["positive"], g["l2"], belief_positive=g["belief_positive"]) for held in folds]
            for values in itertools.product(*g["sweep"].values()):
                setting = dict(zip(g["sweep"], values))
                for k, v in setting.items():
                    setattr(offline, k, v)
                print(f"POSITIVE={g['positive']} L2={g['l2']:g} BELIEF_POSITIVE={g['belief_positive']} "
                      + " ".join(f"{k}={v}" for k, v in setting.items()), flush=True)
                _report(_pooled(rows, folds, fold_weights))
    finally:
        sentence_model._weights = original[0]
        for k, v in original[1].items():
            setattr(offline, k, v)


def _pooled(rows: dict, folds: list[dict], fold_weights: list[dict]) -> dict:
    import run  # evals/extraction/run.py: the same scoring as the eval table

    pooled = {sp: {f: [0, 0, 0] for f in run.FIELDS} for sp in rows}
    for held, w in zip(folds, fold_weights):
        sentence_model._weights = lambda w=w: w  # the extractor reads the fold's weights
        for sp in rows:
            raw = run.evaluate("offline", [rows[sp][i][0] for i in sorted(held[sp])])["_raw"]
            for f in run.FIELDS:
                pooled[sp][f] = [a + b for a, b in zip(pooled[sp][f], raw[f])]
    return pooled


def _report(pooled: dict) -> None:
    free = [sp for sp in pooled if sp.startswith("freeform")]
    if len(free) > 1:  # the free-form splits together: the target is on free-form transcripts
        pooled = {**pooled, "freeform_all": {f: [sum(pooled[sp][f][i] for sp in free) for i in range(3)]
                                             for f in pooled[free[0]]}}
    for sp, c in pooled.items():
        print(f"    {sp:13} learned {_prf(c['learned'])}  assumptions {_prf(c['broken_assumptions'])}"
              f"  actions {_prf(c['actions'])}", flush=True)


def grid(which: str) -> list[dict]:
    shipped = {"positive": POSITIVE, "l2": L2, "belief_positive": BELIEF_POSITIVE, "sweep": {}}
    if which == "shipped":
        return [shipped]
    if which == "belief":
        return [{**shipped, "belief_positive": bp, "sweep": {"BELIEF_MIN": [0.5, 0.6, 0.7, 0.8, 1.01]}}  # 1.01: unused
                for bp in (0.5, 0.55, 0.6, 0.65)]
    if which == "stated":
        return [{**shipped, "sweep": {"STATED_MIN": [0.3, 0.4, 0.5, 0.6, 0.7, 1.01]}}]  # 1.01: "I thought" never
    if which == "rules":  # the extractor's thresholds and rules over the classifier
        return [{**shipped, "sweep": {"ACTION_MIN": [0.5, 0.6, 0.7, 0.8, 0.85, 0.9],
                                      "NEVER_LEARNED": [("taught", "struggle"), ("taught",)]}}]
    if which == "alone":
        return [{**shipped, "sweep": {"LEARNED_MIN_ALONE": [0.5, 0.55, 0.6, 0.65]}}]
    return [{**shipped, "positive": p, "l2": l2, "sweep": {"LEARNED_MIN": [0.5, 0.6, 0.65, 0.7, 0.75]}}
            for p, l2 in itertools.product([0.55, 0.6], [1e-3, 3e-3, 1e-2])]


def _prf(c) -> str:
    m, p, g = c
    prec, rec = (m / p if p else 0.0), (m / g if g else 0.0)
    return f"{prec:.2f}/{rec:.2f}/{(2 * prec * rec / (prec + rec) if prec + rec else 0.0):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv", nargs="?", const="learned", choices=("learned", "belief", "alone", "stated", "rules", "shipped"),
                    help="cross-validate a grid of settings instead of writing weights (shipped: the current ones)")
    ap.add_argument("--cv-belief", action="store_true", help="the same as --cv belief")
    ap.add_argument("--fit", default=",".join(FIT_SPLITS), help="development splits to fit on (comma list; all: every read split)")
    ap.add_argument("--score", default=",".join(DEV_SPLITS), help="splits --cv reports (comma list; all: every read split)")
    a = ap.parse_args()
    fit_splits = READ_SPLITS if a.fit == "all" else tuple(a.fit.split(","))
    score_splits = READ_SPLITS if a.score == "all" else tuple(a.score.split(","))
    which = "belief" if a.cv_belief else a.cv
    _memoise_embeddings()
    rows = {sp: dev_rows(sp) for sp in dict.fromkeys(fit_splits + (score_splits if which else ()))}
    if which:
        cross_validate(rows, fit_splits, grid(which))
        return
    weights = fit_weights([r for sp in fit_splits for r in rows[sp]], POSITIVE, L2, verbose=True)
    WEIGHTS.write_text(json.dumps({k: {"w": [round(float(v), 6) for v in w], "b": b} for k, (w, b) in weights.items()}))
    print(f"wrote {WEIGHTS}")


if __name__ == "__main__":
    main()
