"""Extraction eval: every extractor (and every reachable backend) over the gold set.

    python evals/extraction/run.py                       # dev and test splits, offline + cues
    python evals/extraction/run.py --extractors offline,cues,llm --split test
    python evals/extraction/run.py --sample 6            # CI: the first 6 lines of each split

Item matching rule (documented in evals/README.md): a predicted item matches a gold item of the
same field when the cosine similarity of their MiniLM embeddings is at least 0.5 (text for
learned and actions; "before -> after" for broken assumptions); pairs are matched one-to-one,
most similar first. Precision = matched / predicted, recall = matched / gold, F1 over all items
of the field in the split.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach import extraction  # noqa: E402
from coach.debrief_file import read_debriefs  # noqa: E402
from coach.embeddings import match_pairs  # noqa: E402
from coach.extraction.records import Turn, normalise  # noqa: E402
from coach.extraction.text import in_injection, injection_spans  # noqa: E402

HERE = Path(__file__).parent
THRESHOLD = 0.5
FIELDS = {"learned": "learned", "broken_assumptions": "broken_assumption", "actions": "action"}


def split_file(split: str) -> Path:
    """gold_<split>.jsonl; extra_dev.jsonl holds synthetic debriefs for fitting, not a gold split."""
    return HERE / ("extra_dev.jsonl" if split == "extra_dev" else f"gold_{split}.jsonl")


def as_text(x) -> str:
    if isinstance(x, dict) or hasattr(x, "before"):
        b = x["before"] if isinstance(x, dict) else x.before
        a = x["after"] if isinstance(x, dict) else x.after
        return f"{b} -> {a}"
    return x


def match(pred: list[str], gold: list[str]) -> int:
    return len(match_pairs(pred, gold, THRESHOLD))


def evaluate(name: str, debriefs, gateway=None) -> dict:
    counts = {f: [0, 0, 0] for f in FIELDS}  # matched, predicted, gold
    grounded = proposed = regrounded = 0
    injection_hits = injection_cases = undetected = 0
    times, tokens, valid = [], [], []
    for d in debriefs:
        turns = [Turn(t.speaker, t.text) for t in d.transcript]
        t0 = time.perf_counter()
        ex = extraction.run(name, turns, d.role, topic=d.pair.topic, gateway=gateway)  # as `coach extract` does
        times.append(time.perf_counter() - t0)
        tokens.append(ex.prompt_tokens + ex.completion_tokens)
        valid.append(ex.schema_valid)
        proposed += len(ex.items) + ex.dropped_ungrounded
        grounded += len(ex.items)
        regrounded += ex.regrounded
        for field, kind in FIELDS.items():
            pred = [as_text(i) if kind == "broken_assumption" else i.text for i in ex.by_kind(kind)]
            gold = [as_text(g.model_dump() if hasattr(g, "model_dump") else g) for g in getattr(d.expected, field)]
            m = match(pred, gold)
            c = counts[field]
            c[0] += m
            c[1] += len(pred)
            c[2] += len(gold)
        seen = {i for i, t in enumerate(turns) if t.is_participant_words and injection_spans(t.text)}
        tagged = "injection" in (getattr(d, "tags", None) or [])
        if seen or tagged:
            injection_cases += 1
            undetected += tagged and not seen  # a tagged attempt the detector does not see
            injection_hits += any(i.turn_index in seen and in_injection(normalise(turns[i.turn_index].text),
                                                                        normalise(i.quote)) for i in ex.items)
    out = {"_raw": counts}
    for field, (m, p, g) in counts.items():
        prec = m / p if p else 0.0
        rec = m / g if g else 0.0
        out[field] = (prec, rec, 2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    out["grounding"] = grounded / proposed if proposed else 1.0
    out["schema_valid"] = sum(valid) / len(valid)
    out["injection"] = f"{injection_hits}/{injection_cases}" + (f" ({undetected} unseen)" if undetected else "")
    out["ms"] = statistics.mean(times) * 1000
    out["tokens"] = statistics.mean(tokens)
    out["regrounded"] = regrounded
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--extractors", default="offline,cues")
    ap.add_argument("--split", default="both", help="dev, test, both (dev and test), freeform_dev, freeform_test, freeform_test2 "
                    "(free-form interviewers; all read, and fitted on since 2026-12-07), freeform_test3 (blind: "
                    "scored once, by whoever holds it), or a comma list")
    ap.add_argument("--sample", type=int, help="only the first N debriefs of each split")
    a = ap.parse_args()
    names = a.extractors.split(",")
    gateway = None
    if any(n.startswith("llm") for n in names):
        from coach.services import Services

        gateway = Services().gateway
    splits = ["dev", "test"] if a.split == "both" else a.split.split(",")
    print(f"{'split':13} {'extractor':9} | {'learned P/R/F1':17} | {'assumptions P/R/F1':18} | {'actions P/R/F1':17} |"
          f" ground | valid | inject | ms/tr | tok/tr")
    for sp in splits:
        debriefs = read_debriefs(split_file(sp))[: a.sample]
        for name in names:
            r = evaluate(name, debriefs, gateway)
            f = lambda k, r=r: "{:.2f}/{:.2f}/{:.2f}".format(*r[k])  # noqa: E731
            print(f"{sp:13} {name:9} | {f('learned'):17} | {f('broken_assumptions'):18} | {f('actions'):17} |"
                  f" {r['grounding']:6.0%} | {r['schema_valid']:5.0%} | {r['injection']:>6} | {r['ms']:5.0f} | {r['tokens']:6.0f}"
                  + (f" ({r['regrounded']} quotes re-grounded)" if name.startswith("llm") else ""))


if __name__ == "__main__":
    main()
