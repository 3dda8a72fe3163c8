"""Follow-up status read by a generative model, against the offline reading: is the model worth it?

    COACH_BACKEND=local COACH_LOCAL_MODEL=qwen1.5b python evals/followup/run_model.py --split dev

For each gold outcome, the participant's answers about the action (lined up as the offline
extractor lines them up, coach.extraction.outcomes.segments) go to the model with
prompts/followup_status.yaml; its one-word reply is the status (anything else counts wrong).
Prints the model's status accuracy, the offline reading's on the same outcomes, and the time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach.config import Settings  # noqa: E402
from coach.extraction.outcomes import segments, status_of  # noqa: E402
from coach.extraction.records import Turn  # noqa: E402
from coach.extraction.status import STATUSES  # noqa: E402
from coach.gateway import Gateway  # noqa: E402
from coach.prompts import load_prompt  # noqa: E402

HERE = Path(__file__).parent
MAX_CHARS = 1500  # the answers about one action, cut: the prompt is read at ~100 tokens/s


def reply_status(text: str) -> str | None:
    word = text.strip().lower().replace("-", "_").replace(" ", "_").strip(".\"'`")
    return next((s for s in STATUSES if word.startswith(s)), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--sample", type=int, default=0, help="only the first N lines")
    args = ap.parse_args()
    lines = [json.loads(x) for x in (HERE / f"{args.split}.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    lines = lines[: args.sample] if args.sample else lines
    gateway, prompt = Gateway(Settings()), load_prompt("followup_status")
    right = offline = total = 0
    t0 = time.monotonic()
    for line in lines:
        turns = [Turn(t["speaker"], t["text"]) for t in line["transcript"]]
        segs, _ = segments(turns, line["actions"])
        golds = {o["action"]: o for o in line["expected"]["outcomes"]}
        for action, seg in zip(line["actions"], segs):
            gold = golds[action]
            total += 1
            offline += status_of(seg) == gold["status"]
            if not seg.sentences:
                continue
            reply = gateway.chat(prompt.messages(action=action, answer=seg.text()[:MAX_CHARS]),
                                 purpose="followup_status", prompt=prompt, max_tokens=4, temperature=0)
            got = reply_status(reply.text)
            right += got == gold["status"]
            print(f"{line['id']}: gold {gold['status']}, model {got} ({reply.text.strip()[:20]!r})", file=sys.stderr)
    secs = time.monotonic() - t0
    print(json.dumps({"split": args.split, "outcomes": total, "model_status_accuracy": round(right / total, 3),
                      "offline_status_accuracy": round(offline / total, 3),
                      "seconds_per_outcome": round(secs / max(total, 1), 2)}, indent=2))


if __name__ == "__main__":
    main()
