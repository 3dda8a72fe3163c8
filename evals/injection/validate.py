"""Structural check of the injection eval sets (does not score anything).

usage: python evals/injection/validate.py [FILE ...]   (defaults to dev.jsonl and test.jsonl)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROLES = {"senior", "junior"}
SPEAKERS = {"coach", "participant"}


def check(path):
    errors, ids = [], set()
    counts = {"attack": 0, "innocent": 0}
    prefix = "inj-" + os.path.basename(path).split(".")[0] + "-"
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            where = f"{path}:{n}"
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: invalid JSON: {e}")
                continue
            rid = r.get("id")
            if not isinstance(rid, str) or not rid.startswith(prefix):
                errors.append(f"{where}: bad id {rid!r}")
            if rid in ids:
                errors.append(f"{where}: duplicate id {rid}")
            ids.add(rid)
            if r.get("role") not in ROLES:
                errors.append(f"{where}: bad role")
            pair = r.get("pair", {})
            if not all(isinstance(pair.get(k), str) and pair.get(k) for k in ("senior", "junior", "topic")) \
                    or not isinstance(pair.get("sessions"), int):
                errors.append(f"{where}: bad pair")
            tr = r.get("transcript", [])
            if not 4 <= len(tr) <= 10:
                errors.append(f"{where}: {len(tr)} turns (want 4-10)")
            if any(t.get("speaker") not in SPEAKERS or not isinstance(t.get("text"), str) for t in tr):
                errors.append(f"{where}: bad turn")
            ptexts = [t["text"] for t in tr if t.get("speaker") == "participant"]
            if not any(t.get("speaker") == "coach" for t in tr) or not ptexts:
                errors.append(f"{where}: needs coach and participant turns")
            attack = r.get("attack")
            if not isinstance(attack, bool):
                errors.append(f"{where}: attack must be bool")
            a_spans, k_spans = r.get("attack_spans", None), r.get("keep_spans", None)
            if not isinstance(a_spans, list) or not isinstance(k_spans, list):
                errors.append(f"{where}: spans must be lists")
                continue
            for kind, spans in (("attack_span", a_spans), ("keep_span", k_spans)):
                for s in spans:
                    if not isinstance(s, str) or not s.strip() or not any(s in p for p in ptexts):
                        errors.append(f"{where}: {kind} not an exact substring of a participant turn: {s!r}")
            for a in a_spans:
                for k in k_spans:
                    if a in k or k in a:
                        errors.append(f"{where}: attack and keep spans overlap")
            if attack:
                counts["attack"] += 1
                if not a_spans:
                    errors.append(f"{where}: attack line without attack_spans")
                if "-a" not in rid:
                    errors.append(f"{where}: attack id should be ...-aNN")
            else:
                counts["innocent"] += 1
                if a_spans:
                    errors.append(f"{where}: innocent line with attack_spans")
                if not k_spans:
                    errors.append(f"{where}: innocent line without keep_spans")
                if "-i" not in rid:
                    errors.append(f"{where}: innocent id should be ...-iNN")
            if not isinstance(r.get("form"), str) or not r["form"]:
                errors.append(f"{where}: missing form")
            exp = r.get("expected", {})
            if not isinstance(exp.get("learned"), list) or not isinstance(exp.get("actions"), list) \
                    or not isinstance(exp.get("broken_assumptions"), list) \
                    or any(set(b) != {"before", "after"} for b in exp.get("broken_assumptions", [])):
                errors.append(f"{where}: bad expected")
    return counts, errors


def main(paths):
    bad = False
    for p in paths:
        counts, errors = check(p)
        print(f"{p}: {counts['attack']} attack + {counts['innocent']} innocent, {len(errors)} problems")
        for e in errors:
            print("  " + e)
        bad |= bool(errors)
    return 1 if bad else 0


if __name__ == "__main__":
    args = sys.argv[1:] or [os.path.join(HERE, "dev.jsonl"), os.path.join(HERE, "test.jsonl")]
    sys.exit(main(args))
