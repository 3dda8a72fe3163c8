"""Interview eval: scripted personas through the real interview, slot coverage per persona/backend.

    python evals/interview/run.py                      # offline (rule-based) interview
    python evals/interview/run.py --backend local      # bundled model phrasing the questions
    python evals/interview/run.py --no-probes          # floor: main questions only, no follow-ups
    python evals/interview/run.py --samples out.jsonl  # also write what the model phrased

Each persona (personas.yaml) answers by the step the coach is on (slot and probe), so the same
persona meets every backend; a backend that phrases questions differently still has to keep
their intent. Coverage = share of a persona's target facts found in its stored turns.
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
MAX_TURNS = 25


def run_persona(persona: dict, backend: str, data_dir: Path, no_probes: bool = False) -> dict:
    overrides = {"data_dir": data_dir}
    if backend == "offline":
        overrides |= {"backend": "none"}
    else:
        overrides |= {"backend": "local", "interview_model": "on", "local_autostart": False}
    svc = Services(load_settings(**overrides))
    d = svc.debriefs
    if no_probes:
        d._protocols = {r: dataclasses.replace(p, max_probes=0) for r, p in d._protocols.items()}
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
    svc.close()
    hits = {k: v.lower() in said.lower() for k, v in persona["targets"].items()}
    return {"persona": persona["id"], "role": persona["role"], "style": persona["style"], "backend": backend,
            "coverage": sum(hits.values()) / len(hits), "missed": [k for k, v in hits.items() if not v],
            "turns": turns, "probes": probes, "phrased": phrased}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["offline", "local", "both"], default="offline")
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--samples", help="write model-phrased questions here (JSON lines)")
    ap.add_argument("--personas", default=str(PERSONAS), help="persona file (personas_heldout.yaml: not used in development)")
    a = ap.parse_args()
    personas = yaml.safe_load(Path(a.personas).read_text())
    backends = ["offline", "local"] if a.backend == "both" else [a.backend]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for b in backends:
            for i, p in enumerate(personas):
                results.append(run_persona(p, b, Path(tmp) / f"{b}-{i}", a.no_probes))
    print(f"{'persona':22} {'backend':8} {'coverage':>8} {'turns':>5} {'probes':>6}  missed")
    for r in results:
        print(f"{r['persona']:22} {r['backend']:8} {r['coverage']:8.0%} {r['turns']:5d} {r['probes']:6d}  {','.join(r['missed'])}")
    for b in backends:
        rs = [r for r in results if r["backend"] == b]
        model_shown = [q["model"] for r in rs for q in r["phrased"]]
        line = (f"{b}: mean slot coverage {statistics.mean(r['coverage'] for r in rs):.0%} over {len(rs)} personas, "
                f"{statistics.mean(r['turns'] for r in rs):.1f} answers per debrief")
        if b != "offline":
            line += f"; model phrasing shown for {sum(model_shown)}/{len(model_shown)} questions (rest fell back)"
        print(line)
    if a.samples:
        with open(a.samples, "w") as f:
            for r in results:
                for q in r["phrased"]:
                    f.write(json.dumps({"persona": r["persona"], "backend": r["backend"], **q}) + "\n")


if __name__ == "__main__":
    main()
