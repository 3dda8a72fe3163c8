"""Follow-up eval: the offline outcome extractor (coach.extraction.outcomes) over the gold
follow-up transcripts.

    python evals/followup/run.py                 # dev split
    python evals/followup/run.py --split test    # the first held-out split (scored once; read since)
    python evals/followup/run.py --split test2   # the second (scored once, read since)
    python evals/followup/run.py --split test3   # the third (scored once, read since)
    python evals/followup/run.py --split test4   # the fourth (scored once, read since)
    python evals/followup/run.py --split test5   # the fifth held-out split (score it once)
    python evals/followup/run.py --errors        # also list every wrong status

Each line's transcript (coach questions as written, participant answers as given) and its
``actions`` go through the same extractor the app runs after a follow-up; the coach turns carry
no markers, so answers are lined up with actions by the words the questions repeat.

- status accuracy: gold outcomes whose action got the gold status (no outcome = wrong);
- outcome F1: a predicted outcome is right when its action's gold status is the same and what it
  says happened is close in meaning to the gold ``what_happened`` (MiniLM cosine >= 0.5);
  precision over predicted outcomes, recall over gold ones;
- decision-changed accuracy: whether a decision was named (filled or null) agrees with the gold;
- said plainly: first answers whose reading is plain (coach.extraction.status.reading), and the
  status accuracy on those and on the rest;
- opened with status: first answers that open by naming their status (status.said_outright: the
  live follow-up asks no status question after those), and how many of those are right.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach.embeddings import MiniLM  # noqa: E402
from coach.extraction.outcomes import extract_outcomes, segments  # noqa: E402
from coach.extraction.records import Turn  # noqa: E402
from coach.extraction.status import reading, said_outright  # noqa: E402

HERE = Path(__file__).parent
SIMILAR = 0.5


def load(split: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def first_answers(line: dict) -> dict[str, str]:
    """Action -> the participant's first answer about it, as the extractor lines answers up."""
    turns = [Turn(t["speaker"], t["text"]) for t in line["transcript"]]
    segs, _ = segments(turns, line["actions"])
    return {a: " ".join(s for k, s, _ in seg.sentences if k == seg.sentences[0][0]) if seg.sentences else ""
            for a, seg in zip(line["actions"], segs)}


def predict(line: dict) -> dict[str, dict]:
    """Action -> predicted outcome (status, what happened, decision changed)."""
    turns = [Turn(t["speaker"], t["text"]) for t in line["transcript"]]
    actions = [{"text": a, "record": None} for a in line["actions"]]
    out = {}
    for it in extract_outcomes(turns, actions, line["role"]):
        if it.kind == "outcome" and it.detail:
            out[it.detail["action"]] = {"status": it.detail["status"], "what_happened": it.text,
                                        "decision_changed": it.detail["decision_changed"]}
    return out


def evaluate(lines: list[dict], errors: bool = False) -> dict:
    right = total = dec_right = predicted = matched = 0
    confusion: Counter = Counter()
    pairs = []
    plain, opened = Counter(), Counter()
    for line in lines:
        pred = predict(line)
        firsts = first_answers(line)
        predicted += len(pred)
        for g in line["expected"]["outcomes"]:
            total += 1
            p = pred.get(g["action"])
            got = p["status"] if p else None
            first = firsts.get(g["action"], "")
            plain[(bool(first) and reading(first)[1], got == g["status"])] += 1
            if first and (named := said_outright(first)):  # the live follow-up asks no status question then
                opened[named == g["status"]] += 1
            confusion[(g["status"], got)] += 1
            right += got == g["status"]
            dec_right += bool(p and p["decision_changed"]) == bool(g["decision_changed"])
            if p and got == g["status"]:
                pairs.append((p["what_happened"], g["what_happened"]))
            if errors and got != g["status"]:
                print(f"  {line['id']}: {g['action'][:60]!r}: gold {g['status']}, got {got}", file=sys.stderr)
    if pairs:
        va = MiniLM.shared().embed([a for a, _ in pairs])
        vb = MiniLM.shared().embed([b for _, b in pairs])
        matched = int(sum(float(x @ y) >= SIMILAR for x, y in zip(va, vb)))
    prec = matched / predicted if predicted else 0.0
    rec = matched / total if total else 0.0
    return {"lines": len(lines), "outcomes": total, "status_accuracy": right / total if total else 0.0,
            "outcome_precision": prec, "outcome_recall": rec,
            "outcome_f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
            "decision_changed_accuracy": dec_right / total if total else 0.0,
            "said_plainly": (plain[(True, True)] + plain[(True, False)]) / total if total else 0.0,
            "status_accuracy_when_plain": _share(plain[(True, True)], plain[(True, False)]),
            "status_accuracy_otherwise": _share(plain[(False, True)], plain[(False, False)]),
            "opened_with_status": opened[True] + opened[False], "right_when_opened": opened[True],
            "confusion (gold, predicted)": {f"{g}->{p}": n for (g, p), n in sorted(confusion.items(), key=str)}}


def _share(right: int, wrong: int) -> float:
    return right / (right + wrong) if right + wrong else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("dev", "test", "test2", "test3", "test4", "test5"), default="dev")
    ap.add_argument("--errors", action="store_true", help="list each wrong status on stderr")
    args = ap.parse_args()
    res = evaluate(load(args.split), args.errors)
    res = {"split": args.split, "date": datetime.now(UTC).strftime("%Y-%m-%d"), **res}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()}, indent=2))


if __name__ == "__main__":
    main()
