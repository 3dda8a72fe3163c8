"""Fit the injection layer's sentence classifier (coach/extraction/injection_model.json).

    python evals/injection/train.py            # cross-validate on dev, then fit on all of it and write the weights
    python evals/injection/train.py --cv-only  # the cross-validated figures only

Training sentences (never a held-out split not yet scored, test5):

- evals/injection/dev.jsonl, test.jsonl, test2.jsonl, test3.jsonl and test4.jsonl (each held-out split was
  scored once, then read and fitted on; ``--splits`` chooses): participant
  sentences inside an ``attack_span`` are attempts (1), the
  rest are not (0). Payload-only answers (the second half of an attempt split over two turns)
  are left out: what they say is an ordinary sentence, the attempt is in the announcement.
- evals/injection/train_extra.jsonl: sentences written by hand for this (1 and 0), in other
  phrasings than the dev lines.
- The dev splits of the extraction and follow-up gold sets: ordinary answers (0); in lines
  tagged ``injection``, sentences the cue guard finds are attempts (1), the rest of that answer
  is left out.

Cross-validation: the lines of those splits in 5 folds (attacks and look-alikes spread evenly); each fold is
scored with evals/injection/run.py's rules by a model fitted on everything else, then the
thresholds are chosen on the pooled folds: the refusal threshold that catches most attacks
while losing at most ``--max-lost`` innocent sentences; when none does, the one with the most
attacks caught less innocent sentences lost (losing a participant's words costs as much as
missing an attempt).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from coach.cues import injection_spans  # noqa: E402
from coach.extraction import injection  # noqa: E402
from coach.extraction.records import normalise  # noqa: E402

HERE = Path(__file__).parent
GOLD = [ROOT / "evals/extraction/gold_dev.jsonl", ROOT / "evals/extraction/gold_freeform_dev.jsonl",
        ROOT / "evals/followup/dev.jsonl"]
FOLDS = 5
FLAG = 0.6  # a record scoring this high (without being refused) is flagged for the reviewer


def _lines(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(x) for x in f if x.strip()]


def dev_sentences(line: dict) -> list[tuple[str, int]]:
    out = []
    spans = [normalise(s) for s in line.get("attack_spans", [])]
    for t in line["transcript"]:
        if t["speaker"] != "participant":
            continue
        text = normalise(t["text"])
        marks = [(text.find(s), text.find(s) + len(s)) for s in spans if s and text.find(s) >= 0]
        if len(spans) > 1 and any(a == 0 and b == len(text) for a, b in marks):
            continue  # the payload answer of an attempt split over two turns
        for a, b, s in injection.sentence_spans(text):
            inside = sum(max(0, min(b, e) - max(a, st)) for st, e in marks) / max(b - a, 1)
            if inside >= 0.5:
                out.append((s, 1))
            elif inside == 0:
                out.append((s, 0))
    return out


def gold_sentences() -> list[tuple[str, int]]:
    out = []
    for path in GOLD:
        for line in _lines(path):
            tagged = "injection" in (line.get("tags") or [])
            for t in line["transcript"]:
                if t["speaker"] != "participant":
                    continue
                text = normalise(t["text"])
                cue = injection_spans(text) if tagged else []
                for a, b, s in injection.sentence_spans(text):
                    if any(st <= (a + b) // 2 < e for st, e in cue):
                        out.append((s, 1))
                    elif not cue:
                        out.append((s, 0))
    return out


def extra_sentences() -> list[tuple[str, int]]:
    return [(normalise(r["text"]), int(r["label"])) for r in _lines(HERE / "train_extra.jsonl")]


def fit(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 25) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularised logistic regression by Newton's method (the bias is not
    regularised): a few hundred features, a few thousand rows, about ten iterations."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))]).astype(np.float64)
    pos = max(float(y.mean()), 1e-3)
    sw = np.where(y == 1, 0.5 / pos, 0.5 / max(1 - pos, 1e-3)) / n
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    w = np.zeros(d + 1)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (sw * (p - y)) + reg * w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w[:-1], float(w[-1])


class Features:
    """Feature rows per sentence, computed once."""

    def __init__(self):
        self.cache: dict[str, np.ndarray] = {}
        self.compute = injection.features

    def __call__(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            for t, row in zip(todo, self.compute(todo)):
                self.cache[t] = row
        if not texts:
            return np.zeros((0, 384 + len(injection.FORM_NAMES)), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


def write(path: Path, w, b, refuse: float, follow: float, flag: float, meta: dict) -> None:
    path.write_text(json.dumps({"w": [round(float(v), 6) for v in w], "b": round(float(b), 6), "refuse": refuse,
                                "follow": follow, "flag": flag, "features": ["minilm"] * 384 + list(injection.FORM_NAMES),
                                "trained_on": meta}) + "\n")


def use(path: Path) -> None:
    injection.WEIGHTS = path
    injection.model.cache_clear()


def main(argv=None) -> None:
    import run as evalrun  # evals/injection/run.py

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--max-lost", type=int, default=0, help="innocent sentences the cross-validated refusals may lose")
    ap.add_argument("--cv-only", action="store_true")
    ap.add_argument("--splits", default="dev,test,test2,test3,test4", help="the splits fitted and cross-validated on (never test5)")
    ap.add_argument("--show", action="store_true", help="list the cross-validated misses and losses")
    args = ap.parse_args(argv)

    if "test5" in args.splits.split(","):
        raise SystemExit("test5 is the held-out split: it is scored once, never fitted on")
    dev = [line for split in args.splits.split(",") for line in evalrun.load(split)]
    feats = Features()
    injection.features = feats  # type: ignore[assignment]  # every sentence is embedded once
    fixed = gold_sentences() + extra_sentences()
    per_line = [dev_sentences(line) for line in dev]
    attacks = [i for i, line in enumerate(dev) if line["attack"]]
    innocents = [i for i, line in enumerate(dev) if not line["attack"]]
    fold_of = {i: k % FOLDS for k, i in enumerate(attacks)} | {i: k % FOLDS for k, i in enumerate(innocents)}
    print(f"sentences: dev {sum(map(len, per_line))} ({sum(y for s in per_line for _, y in s)} attempts), "
          f"others {len(fixed)} ({sum(y for _, y in fixed)} attempts)", flush=True)

    preps = [evalrun.prepare(line, "offline") for line in dev]
    print("extracted", flush=True)
    grid = [(r, f) for r in (0.5, 0.6, 0.7, 0.8, 0.9) for f in (0.3, 0.5)]
    results: dict[tuple[float, float], list[dict]] = {g: [] for g in grid}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(FOLDS):
            train = fixed + [s for i, ss in enumerate(per_line) if fold_of[i] != k for s in ss]
            x, y = feats([t for t, _ in train]), np.array([lab for _, lab in train], dtype=float)
            w, b = fit(x, y, args.l2)
            held = [i for i in range(len(dev)) if fold_of[i] == k]
            for refuse, follow in grid:
                write(Path(tmp) / "m.json", w, b, refuse, follow, FLAG, {})
                use(Path(tmp) / "m.json")
                results[(refuse, follow)].append(evalrun.evaluate([dev[i] for i in held], "offline",
                                                                   [preps[i] for i in held]))
            print(f"fold {k + 1}/{FOLDS} done", flush=True)
    print("cross-validated on dev (offline extractor), refuse / follow threshold:")
    keys = {}
    for g in grid:
        rs = results[g]
        lost = sum(r["lost_innocent"] for r in rs)
        caught = sum(r["caught"] for r in rs)
        keys[g] = (lost <= args.max_lost, caught - lost, -lost)  # a lost sentence of theirs costs as much as a missed attempt
        print(f"  {g[0]:.2f} / {g[1]:.2f}: caught {caught}/{len(attacks)}, innocent sentences lost {lost} "
              f"(all lines {sum(r['lost'] for r in rs)}), look-alikes with an item refused "
              f"{sum(r['innocents_refused'] for r in rs)}/{len(innocents)}, look-alike records flagged "
              f"{sum(r['flagged_innocent'] for r in rs)}")
    top = max(keys.values())
    plateau = sorted(g for g in grid if keys[g] == top)
    refuse, follow = plateau[len(plateau) // 2]  # the middle of the best plateau: robust to a shift
    print(f"chosen: refuse {refuse}, follow {follow}")
    if args.show:
        for r in results[(refuse, follow)]:
            evalrun.report("cv", r, True)
    if args.cv_only:
        return
    train = fixed + [s for ss in per_line for s in ss]
    x, y = feats([t for t, _ in train]), np.array([lab for _, lab in train], dtype=float)
    w, b = fit(x, y, args.l2)
    flag = FLAG
    meta = {"dev_sentences": sum(map(len, per_line)), "other_sentences": len(fixed), "l2": args.l2,
            "sources": [*(f"evals/injection/{sp}.jsonl" for sp in args.splits.split(",")),
                        "evals/injection/train_extra.jsonl",
                        *(str(p.relative_to(ROOT)) for p in GOLD)]}
    write(injection.Path(injection.__file__).with_name("injection_model.json"), w, b, refuse, follow, flag, meta)
    print(f"wrote coach/extraction/injection_model.json (refuse {refuse}, follow {follow}, flag {flag})")


if __name__ == "__main__":
    main()
