"""Interview eval: scripted personas through the real interview, slot coverage per persona/backend.

    python evals/interview/run.py                      # offline (rule-based) interview
    python evals/interview/run.py --backend local      # bundled model phrasing the questions
    python evals/interview/run.py --no-probes          # floor: main questions only, no follow-ups
    python evals/interview/run.py --samples out.jsonl  # also write what the model phrased

Each persona (personas.yaml) answers by the step the coach is on (slot and probe), so the same
persona meets every backend; a backend that phrases questions differently still has to keep
their intent. Coverage = share of a persona's target facts found in its stored turns.

Personas with ``records`` (personas_confirm_test.yaml) also meet the coach's checks (the coach
says back an item it will record): they agree when the item matches one of their records of that
kind (the extraction eval's matching rule: MiniLM cosine >= 0.5), and otherwise correct it with
their own wording of it (``restate``). Reported: F1 of the records stored at the end against the
persona's records (same matching rule, one-to-one), and the coach turns the checks added.

    python evals/interview/run.py --personas evals/interview/personas_confirm_test.yaml
    python evals/interview/run.py --personas evals/interview/personas_confirm_test.yaml --no-checks
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from coach.config import load_settings  # noqa: E402
from coach.policy import OPERATOR  # noqa: E402
from coach.services import Services  # noqa: E402
from coach.store.models import Debrief  # noqa: E402

PERSONAS = Path(__file__).with_name("personas.yaml")
MAX_TURNS = 30
THRESHOLD = 0.5  # as evals/extraction/run.py
# a checked slot -> the persona's record field its item belongs to
CHECK_FIELD = {"learned": "learned", "beliefs": "broken_assumptions", "action": "actions", "taught": "taught",
               "gained": "learned"}
STORED_FIELD = {"learned": "learned", "broken_assumption": "broken_assumptions", "action": "actions",
                "taught": "taught"}


def as_text(x) -> str:
    if isinstance(x, dict):
        if x.get("before") and x.get("after"):
            return f"{x['before']} -> {x['after']}"
        return x.get("text") or x.get("quote") or ""
    return x


def similar(a: str, b: str) -> float:
    from coach.embeddings import MiniLM

    va, vb = MiniLM.shared().embed([a, b])
    return float(va @ vb)


def reply_to_check(persona: dict, meta: dict) -> str:
    """Agree if the checked item is one of the persona's records of that kind; else give the
    persona's own wording of the record it is closest to (a bare "no" if it has none)."""
    # the item's kind says which records it is one of (a junior's step is checked after the last
    # question, whatever that asked); the slot where an item has no kind
    kind = (meta.get("item") or {}).get("kind")
    field = STORED_FIELD.get(kind or "") or CHECK_FIELD.get(meta.get("slot") or "")
    wanted = persona.get("records", {}).get(field or "", [])
    own = persona.get("restate", {}).get(field or "", [])
    item = as_text(meta.get("item") or {})
    if not wanted:
        return "No, that's not something I'd record."
    sims = [similar(item, as_text(w)) for w in wanted]
    best = max(range(len(wanted)), key=lambda k: sims[k])
    if sims[best] >= THRESHOLD and meta.get("probe") != "instead":
        return "Yes, that's it."
    words = as_text(own[best]) if best < len(own) else as_text(wanted[best])
    words = words.replace(" -> ", "; now ")
    return words if meta.get("probe") == "instead" else f"No, it's more like this: {words}"


def records_f1(persona: dict, stored: list[dict]) -> dict[str, tuple[int, int, int]]:
    """(matched, predicted, gold) per field of the persona's records."""
    from coach.embeddings import match_pairs

    out = {}
    for field, gold in persona.get("records", {}).items():
        pred = [as_text(r) for r in stored if STORED_FIELD.get(r["kind"]) == field and r["status"] != "withdrawn"]
        gold_t = [as_text(g) for g in gold]
        out[field] = (len(match_pairs(pred, gold_t, THRESHOLD)) if pred and gold_t else 0, len(pred), len(gold_t))
    return out


def run_persona(persona: dict, backend: str, data_dir: Path, no_probes: bool = False, no_checks: bool = False) -> dict:
    overrides = {"data_dir": data_dir}
    if backend == "offline":
        overrides |= {"backend": "none"}
    else:
        overrides |= {"backend": "local", "interview_model": "on", "local_autostart": False}
    svc = Services(load_settings(**overrides))
    d = svc.debriefs
    if no_probes:
        d._protocols = {r: dataclasses.replace(p, max_probes=0) for r, p in d._protocols.items()}
    if no_checks:
        d._protocols = {r: dataclasses.replace(p, max_checks=0) for r, p in d._protocols.items()}
    pair = d.create_pair(senior="Senior leader", junior="Junior colleague", topic=persona["topic"],
                         baseline=persona.get("baseline", []))
    did = d.open(pair.id, persona["role"])
    used: set[tuple[str, str]] = set()
    turns = 0
    for _ in range(MAX_TURNS):
        with svc.db.session() as s:
            last = s.get(Debrief, did).turns[-1]
            meta = last.meta or {}
        if meta.get("kind") == "closing":
            break
        if meta.get("kind") == "check":
            text = reply_to_check(persona, meta)
        else:
            slot, probe = meta.get("slot"), meta.get("probe") or "question"
            entry = persona["answers"].get(slot, {})
            text = entry.get(probe) if (slot, probe) not in used else None
            used.add((slot, probe))
        for _ in d.say(OPERATOR, did, text or persona["fallback"]):
            pass
        turns += 1
    with svc.db.session() as s:
        deb = s.get(Debrief, did)
        said = " ".join(t.text for t in deb.turns if t.speaker == "participant")
        said += " " + " ".join(b.answer for b in deb.pair.baseline)
        coach_turns = [t for t in deb.turns if t.speaker == "coach" and (t.meta or {}).get("kind") in ("question", "probe")]
        phrased = [{"intent": t.meta.get("intent", t.text), "shown": t.text, "model": t.meta.get("model_shown", False),
                    "model_text": t.meta.get("model_text")} for t in coach_turns]
        probes = sum((t.meta or {}).get("kind") == "probe" for t in coach_turns)
        checks = sum((t.meta or {}).get("kind") == "check" for t in deb.turns)
        dialogue = [(t.speaker, t.text, (t.meta or {}).get("kind")) for t in deb.turns]
    stored = svc.records.for_debrief(did)
    svc.close()
    hits = {k: v.lower() in said.lower() for k, v in persona["targets"].items()}
    return {"persona": persona["id"], "role": persona["role"], "style": persona["style"], "backend": backend,
            "coverage": sum(hits.values()) / len(hits), "missed": [k for k, v in hits.items() if not v],
            "turns": turns, "probes": probes, "phrased": phrased, "checks": checks,
            "f1": records_f1(persona, stored), "stored": stored, "dialogue": dialogue}


def f1_of(counts: dict[str, tuple[int, int, int]]) -> float:
    m, p, g = (sum(c[i] for c in counts.values()) for i in range(3))
    prec, rec = (m / p if p else 0.0), (m / g if g else 0.0)
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def print_detail(result: dict, persona: dict) -> None:
    """Where a persona's records F1 goes: each check and its reply, then stored vs wanted per field."""
    if not result["f1"]:
        return
    print(f"\n== {result['persona']}  F1 {f1_of(result['f1']):.2f}")
    turns = result["dialogue"]
    for i, (speaker, text, kind) in enumerate(turns):
        if speaker == "coach" and kind == "check" and i + 1 < len(turns):
            print(f"  check: {text}\n   -> {turns[i + 1][1]}")
    for field, (m, p, g) in result["f1"].items():
        print(f"  {field}: {m} matched, {p} stored, {g} wanted")
        for r in result["stored"]:
            if STORED_FIELD.get(r["kind"]) == field and r["status"] != "withdrawn":
                print(f"    stored [{r.get('provenance', '')}]: {as_text(r)}")
        for w in persona["records"].get(field, []):
            print(f"    wanted: {as_text(w)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["offline", "local", "both"], default="offline")
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--no-checks", action="store_true", help="the coach never checks items back")
    ap.add_argument("--detail", action="store_true", help="per persona: the checks, their replies, stored vs wanted records")
    ap.add_argument("--samples", help="write model-phrased questions here (JSON lines)")
    ap.add_argument("--personas", default=str(PERSONAS), help="persona file (personas_heldout.yaml: not used in development)")
    a = ap.parse_args()
    personas = yaml.safe_load(Path(a.personas).read_text())
    backends = ["offline", "local"] if a.backend == "both" else [a.backend]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for b in backends:
            for i, p in enumerate(personas):
                results.append(run_persona(p, b, Path(tmp) / f"{b}-{i}", a.no_probes, a.no_checks))
    print(f"{'persona':36} {'backend':8} {'coverage':>8} {'turns':>5} {'probes':>6} {'checks':>6} {'F1':>5}  missed")
    for r in results:
        f1 = f"{f1_of(r['f1']):5.2f}" if r["f1"] else "    -"
        print(f"{r['persona']:36} {r['backend']:8} {r['coverage']:8.0%} {r['turns']:5d} {r['probes']:6d} {r['checks']:6d} "
              f"{f1}  {','.join(r['missed'])}")
    if a.detail:
        for r, p in zip(results, personas * len(backends)):
            print_detail(r, p)
    for b in backends:
        rs = [r for r in results if r["backend"] == b]
        model_shown = [q["model"] for r in rs for q in r["phrased"]]
        line = (f"{b}: mean slot coverage {statistics.mean(r['coverage'] for r in rs):.0%} over {len(rs)} personas, "
                f"{statistics.mean(r['turns'] for r in rs):.1f} answers per debrief")
        if b != "offline":
            line += f"; model phrasing shown for {sum(model_shown)}/{len(model_shown)} questions (rest fell back)"
        print(line)
        scored = [r["f1"] for r in rs if r["f1"]]
        if scored:
            fields = sorted({f for x in scored for f in x})
            per = {f: f1_of({f: tuple(map(sum, zip(*[x[f] for x in scored if f in x])))}) for f in fields}
            total = tuple(map(sum, zip(*[v for x in scored for v in x.values()])))
            prec, rec = (total[0] / total[1] if total[1] else 0.0), (total[0] / total[2] if total[2] else 0.0)
            print(f"{b}: records F1 {f1_of({'all': total}):.3f}, precision {prec:.3f}, recall {rec:.3f} (" + ", ".join(f"{f} {v:.2f}" for f, v in per.items())
                  + f"); checks added {statistics.mean(r['checks'] for r in rs):.1f} coach turns per debrief "
                  f"(max {max(r['checks'] for r in rs)})")
    if a.samples:
        with open(a.samples, "w") as f:
            for r in results:
                for q in r["phrased"]:
                    f.write(json.dumps({"persona": r["persona"], "backend": r["backend"], **q}) + "\n")


if __name__ == "__main__":
    main()
