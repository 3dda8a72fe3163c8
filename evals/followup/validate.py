"""Validate follow-up eval files (dev.jsonl, test.jsonl).

Checks: every line parses as a JSON object; ids are unique (within and across files);
required fields and types; 1-3 recorded actions; speakers are coach/participant; every
outcome.action is one of the line's actions; exactly one outcome per action; statuses valid;
decision_changed is a string or null.

Prints per-file counts and status distributions only (never transcript content).
Usage: python evals/followup/validate.py [FILE ...]   (defaults to dev.jsonl and test.jsonl)
Exit code 1 on any problem.
"""
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATUSES = {"done", "partly", "not_yet", "dropped"}
ROLES = {"senior", "junior"}
SPEAKERS = {"coach", "participant"}


def check_file(path, seen_ids):
    problems, statuses, roles = [], Counter(), Counter()
    n = 0
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                problems.append(f"{path}:{lineno}: blank line")
                continue
            n += 1
            where = f"{path}:{lineno}"
            try:
                d = json.loads(raw)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: invalid JSON ({e})")
                continue
            if not isinstance(d, dict):
                problems.append(f"{where}: not an object")
                continue
            for k in ("id", "role", "pair", "actions", "transcript", "expected", "tags", "style"):
                if k not in d:
                    problems.append(f"{where}: missing {k}")
            i = d.get("id")
            if not isinstance(i, str) or not i:
                problems.append(f"{where}: bad id")
            elif i in seen_ids:
                problems.append(f"{where}: duplicate id {i} (also {seen_ids[i]})")
            else:
                seen_ids[i] = where
            if d.get("role") not in ROLES:
                problems.append(f"{where}: bad role {d.get('role')!r}")
            roles[d.get("role")] += 1
            pair = d.get("pair", {})
            if not (isinstance(pair, dict) and all(isinstance(pair.get(k), str) and pair.get(k)
                                                   for k in ("senior", "junior", "topic"))
                    and isinstance(pair.get("sessions"), int) and pair["sessions"] > 0):
                problems.append(f"{where}: bad pair")
            actions = d.get("actions")
            if not (isinstance(actions, list) and 1 <= len(actions) <= 3
                    and all(isinstance(a, str) and a.strip() for a in actions)):
                problems.append(f"{where}: actions must be 1-3 non-empty strings")
                actions = actions if isinstance(actions, list) else []
            if len(set(actions)) != len(actions):
                problems.append(f"{where}: duplicate action strings")
            tr = d.get("transcript")
            if not (isinstance(tr, list) and tr):
                problems.append(f"{where}: empty transcript")
                tr = []
            for t in tr:
                if not (isinstance(t, dict) and t.get("speaker") in SPEAKERS
                        and isinstance(t.get("text"), str) and t["text"].strip()):
                    problems.append(f"{where}: bad turn {t!r:.80}")
            if not any(isinstance(t, dict) and t.get("speaker") == "participant" for t in tr):
                problems.append(f"{where}: no participant turn")
            exp = d.get("expected", {})
            if not isinstance(exp, dict):
                problems.append(f"{where}: expected not an object")
                continue
            for k in ("learned", "actions"):
                v = exp.get(k)
                if not (isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)):
                    problems.append(f"{where}: expected.{k} must be a list of strings")
            ba = exp.get("broken_assumptions")
            if not (isinstance(ba, list) and all(isinstance(x, dict) and isinstance(x.get("before"), str)
                                                 and isinstance(x.get("after"), str) for x in ba)):
                problems.append(f"{where}: bad expected.broken_assumptions")
            outs = exp.get("outcomes")
            if not isinstance(outs, list):
                problems.append(f"{where}: expected.outcomes must be a list")
                continue
            covered = Counter()
            for o in outs:
                if not isinstance(o, dict):
                    problems.append(f"{where}: outcome not an object")
                    continue
                if o.get("action") not in actions:
                    problems.append(f"{where}: outcome action not among actions: {o.get('action')!r}")
                covered[o.get("action")] += 1
                if o.get("status") not in STATUSES:
                    problems.append(f"{where}: bad status {o.get('status')!r}")
                statuses[o.get("status")] += 1
                if not (isinstance(o.get("what_happened"), str) and o["what_happened"].strip()):
                    problems.append(f"{where}: empty what_happened")
                dc = o.get("decision_changed", "MISSING")
                if not (dc is None or (isinstance(dc, str) and dc.strip())):
                    problems.append(f"{where}: decision_changed must be a string or null")
            for a in actions:
                if covered[a] != 1:
                    problems.append(f"{where}: action has {covered[a]} outcomes (need 1): {a!r}")
    return n, statuses, roles, problems


def main(argv):
    files = [Path(a) for a in argv] or [HERE / "dev.jsonl", HERE / "test.jsonl"]
    seen, all_problems = {}, []
    for p in files:
        n, st, roles, probs = check_file(p, seen)
        total = sum(st.values())
        dist = ", ".join(f"{s}={st[s]} ({100 * st[s] / total:.0f}%)" for s in
                         ("done", "partly", "not_yet", "dropped")) if total else "-"
        print(f"{p.name}: {n} lines ({roles['senior']} senior, {roles['junior']} junior), "
              f"{total} outcomes: {dist}")
        all_problems += probs
    for pr in all_problems:
        print("PROBLEM", pr)
    print("OK" if not all_problems else f"{len(all_problems)} problem(s)")
    return 1 if all_problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
