"""Injection eval: does an attempt become a record, and what innocent words are lost?

    python evals/injection/run.py                      # dev split, offline and cues extractors
    python evals/injection/run.py --split test         # the held-out split: score it once, at the end
    python evals/injection/run.py --show               # also list what was missed and lost

Scoring (lines: evals/injection/README.md):

- An attack is **caught** when no record quotes any of its ``attack_spans`` (a record's quote and
  a span overlap in the same participant turn, after coach's normalisation of whitespace and
  quotes) and no record's text carries five words in a row of one.
- An innocent sentence (a ``keep_span``, of attacks and look-alikes alike) is **lost** when no
  record covers it although the extractor proposed an item quoting it: the guard refused it.
  "Lost to the new layer" counts those the cue guard alone kept.
- Records **flagged**: records stored as suspect (coach.extraction.injection.suspect_reasons):
  they are kept, and a facilitator sees the reason before approving them.

Both layers are compared with the cue guard alone (``injection.disabled()``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach import extraction  # noqa: E402
from coach.extraction import injection  # noqa: E402
from coach.extraction.offline import extract_cues, extract_offline  # noqa: E402
from coach.extraction.records import Turn, ground, normalise, without_superseded  # noqa: E402

HERE = Path(__file__).parent
EXTRACTORS = {"offline": extract_offline, "cues": extract_cues}


def load(split: str) -> list[dict]:
    with open(HERE / f"{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _where(turns: list[Turn], fragment: str, turn: int | None = None) -> tuple[int, int, int] | None:
    """(turn, start, end) of a fragment in a participant turn, normalised."""
    frag = normalise(fragment)
    for i, t in enumerate(turns):
        if t.is_participant_words and (turn is None or i == turn):
            at = normalise(t.text).find(frag)
            if at >= 0 and frag:
                return i, at, at + len(frag)
    return None


def _overlap(a, b) -> bool:
    return a is not None and b is not None and a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def _shingles(text: str, n: int = 5) -> set[str]:
    w = re.findall(r"\w+", text.lower())
    return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}


def item_text(i) -> str:
    return " ".join(t for t in (i.text, i.before, i.after) if t)


def prepare(line: dict, extractor: str) -> dict:
    """What does not depend on the new layer: the transcript, the items with the cue guard alone,
    and the extractor's grounded items before any guard."""
    turns = [Turn(t["speaker"], t["text"]) for t in line["transcript"]]
    with injection.disabled():
        base = extraction.run(extractor, turns, line["role"], topic=line["pair"]["topic"])
    raw, _ = ground(EXTRACTORS[extractor](without_superseded(turns), line["role"]), turns)
    return {"turns": turns, "base": base.items, "raw": raw}


def with_layer(prep: dict) -> list:
    """The items with both layers: the guard applies the new one after the cue guard."""
    layer = injection.Layer(prep["turns"])
    return [i for i in prep["base"] if not layer.refuse_reason(i)]


def score_line(line: dict, prep: dict, final: list) -> dict:
    turns = prep["turns"]

    def places(items):
        return [_where(turns, i.quote, i.turn_index) for i in items]

    fin, bas, pre = places(final), places(prep["base"]), places(prep["raw"])
    attacks = [_where(turns, s) for s in line.get("attack_spans", [])]
    payload = set().union(*(_shingles(s) for s in line.get("attack_spans", []))) if line.get("attack_spans") else set()

    def caught(items, where) -> bool:
        quoted = any(_overlap(w, a) for w in where for a in attacks)
        carried = any(_shingles(item_text(i)) & payload for i in items)
        return not (quoted or carried)

    keep_spans = line.get("keep_spans", [])
    keeps = [_where(turns, s) for s in keep_spans]
    covered = [any(_overlap(w, k) for w in fin) for k in keeps]
    lost = [s for s, k, c in zip(keep_spans, keeps, covered) if not c and any(_overlap(w, k) for w in pre)]
    lost_new = [s for s in lost if any(_overlap(w, _where(turns, s)) for w in bas)]
    rows = [{"kind": i.kind, "text": i.text, "before": i.before, "after": i.after, "quote": i.quote} for i in final]
    flags = injection.suspect_reasons(rows)
    return {"id": line["id"], "attack": line["attack"], "form": line.get("form", ""),
            "caught": caught(final, fin) if line["attack"] else None,
            "caught_cues_only": caught(prep["base"], bas) if line["attack"] else None,
            "keep": len(keeps), "covered": sum(covered), "lost": lost, "lost_new": lost_new,
            "refused_new": len(prep["base"]) - len(final),
            "flagged": [(r["text"] or r["before"] or "", f) for r, f in zip(rows, flags) if f],
            "missed_quotes": [i.quote for i, w in zip(final, fin) if any(_overlap(w, a) for a in attacks)]}


def evaluate(lines: list[dict], extractor: str, preps: list[dict] | None = None) -> dict:
    """Score lines with both layers (``preps``: their prepare() results, when the caller has them)."""
    t0 = time.perf_counter()
    if preps is None:  # the whole pipeline, as the app runs it
        preps = [prepare(line, extractor) for line in lines]
        finals = [extraction.run(extractor, prep["turns"], line["role"], topic=line["pair"]["topic"]).items
                  for line, prep in zip(lines, preps)]
    else:  # cross-validation: the cue guard's items, less what the new layer refuses
        finals = [with_layer(prep) for prep in preps]
    rows = [score_line(line, prep, final) for line, prep, final in zip(lines, preps, finals)]
    att = [r for r in rows if r["attack"]]
    inn = [r for r in rows if not r["attack"]]
    return {
        "extractor": extractor, "rows": rows, "attacks": len(att), "innocents": len(inn),
        "caught": sum(r["caught"] for r in att), "caught_cues_only": sum(r["caught_cues_only"] for r in att),
        "keep": sum(r["keep"] for r in rows), "keep_innocent": sum(r["keep"] for r in inn),
        "lost": sum(len(r["lost"]) for r in rows), "lost_innocent": sum(len(r["lost"]) for r in inn),
        "lost_new": sum(len(r["lost_new"]) for r in rows),
        "lost_new_innocent": sum(len(r["lost_new"]) for r in inn),
        "uncovered_innocent": sum(r["keep"] - r["covered"] for r in inn),
        "innocents_refused": sum(r["refused_new"] > 0 for r in inn),
        "flagged_innocent": sum(len(r["flagged"]) for r in inn), "flagged_attack": sum(len(r["flagged"]) for r in att),
        "ms": 1000 * (time.perf_counter() - t0) / max(len(rows), 1),
    }


def report(split: str, r: dict, show: bool) -> None:
    print(f"{split:5} {r['extractor']:8} attacks caught {r['caught']}/{r['attacks']} "
          f"(cue guard alone {r['caught_cues_only']}/{r['attacks']}); "
          f"innocent sentences lost {r['lost_innocent']}/{r['keep_innocent']} of look-alikes "
          f"({r['lost_new_innocent']} to the new layer), {r['lost']}/{r['keep']} of all lines "
          f"({r['lost_new']} to the new layer); look-alikes with an item refused by the new layer {r['innocents_refused']}"
          f"/{r['innocents']}; records flagged suspect: {r['flagged_innocent']} on look-alikes, "
          f"{r['flagged_attack']} on attack lines; {r['ms']:.0f} ms/line")
    if show:
        for row in r["rows"]:
            if row["attack"] and not row["caught"]:
                print(f"  MISSED {row['id']} ({row['form']}): {row['missed_quotes']}")
            for k in row["lost"]:
                print(f"  LOST   {row['id']} ({row['form']}){' [new layer]' if k in row['lost_new'] else ''}: {k}")
            if not row["attack"]:
                for text, why in row["flagged"]:
                    print(f"  FLAG   {row['id']} ({row['form']}): {why} :: {text[:90]}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="dev", choices=["dev", "test", "test2", "test3", "test4", "test5"])
    ap.add_argument("--extractors", default="offline,cues")
    ap.add_argument("--show", action="store_true", help="list missed attacks, lost and flagged sentences")
    ap.add_argument("--json", type=Path, help="write the per-line results here")
    args = ap.parse_args(argv)
    lines = load(args.split)
    out = {}
    for name in args.extractors.split(","):
        r = evaluate(lines, name)
        report(args.split, r, args.show)
        out[name] = r
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
