"""``python -m coach``: the command-line tool.

Subcommands: serve (the Gradio app), pair, session and user (pairs, their sessions, accounts), ingest (past debriefs),
extract, suggest, reindex (rebuild Chroma from SQL), status (configuration and health). Errors print one clear line to stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tqdm import tqdm


def _services(args):
    from coach.config import load_settings
    from coach.services import Services

    overrides = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    return Services(load_settings(**overrides))


def cmd_serve(args) -> int:
    if args.data_dir:
        os.environ["COACH_DATA_DIR"] = args.data_dir
    from coach.server import main as serve

    serve(host=args.host, port=args.port)
    return 0


def cmd_ingest(args) -> int:
    from coach.debrief_file import read_debriefs
    from coach.index import IndexInUse
    from coach.ingest import ingest
    from coach.store.models import DEFAULT_PROGRAMME

    programme = args.programme or DEFAULT_PROGRAMME
    debriefs = read_debriefs(args.path)  # validates every line before anything is written
    svc = _services(args)
    holder = ""
    try:
        indexer = svc.indexer  # the embedded index is free: this command indexes as it stores
    except IndexInUse as busy:  # the app holds it: store here, the app indexes from the outbox
        if not busy.by_app:
            raise
        indexer, holder = None, busy.holder
    with tqdm(total=len(debriefs), desc="storing", unit="debrief", disable=args.quiet) as stored:
        n = ingest(svc.db, debriefs, programme=programme, extract=_file_extractor(svc), progress=stored.update,
                   after_chunk=indexer.drain if indexer else None)
    if indexer is None:
        print(f"ingested {len(debriefs)} debriefs; {holder} indexes their {n} records in the background",
              file=sys.stderr)
    else:
        indexer.drain()
        print(f"ingested {len(debriefs)} debriefs, indexed {n} records", file=sys.stderr)
    from coach.records import fill_pair_vectors

    fill_pair_vectors(svc.db)  # the new pairs' topic and role, for topic ideas (the app does it too)
    _programme_hint(svc, debriefs, args.programme)
    svc.close()
    return 0


def _file_extractor(svc):
    """The installation's extractor over a file line (lines without ``expected`` records)."""
    from coach.extraction.records import Turn

    return lambda d: svc.extract([Turn(t.speaker, t.text) for t in d.transcript], d.role, d.pair.topic)


def _programme_hint(svc, debriefs, asked: str | None) -> None:
    """Say which programme the debriefs went to, and warn when none of the app's people is in it:
    topic ideas in the app draw on the asker's programme only."""
    from sqlalchemy import select

    from coach.store.models import DEFAULT_PROGRAMME, Debrief, Pair, User

    programme = asked or DEFAULT_PROGRAMME
    print(f"programme: {programme}" + ("" if asked else " (pass --programme NAME to file them under another)"),
          file=sys.stderr)
    if not any(d.shared for d in debriefs):
        return  # nothing of these feeds suggestions anyway
    with svc.db.session() as s:  # programmes someone in the app asks from: facilitators', participants' pairs'
        used = set(s.scalars(select(User.programme).where(User.role == "facilitator", User.programme.is_not(None))))
        used |= set(s.scalars(select(Pair.programme).join(Debrief, Debrief.pair_id == Pair.id)
                              .where(Debrief.participant_id.is_not(None))))
    if used and programme not in used:
        print(f"note: no one in the app is in programme {programme!r} (its people are in: {', '.join(sorted(used))}); "
              "topic ideas there draw on the asker's programme, so these debriefs reach no one until ingested "
              "again with --programme NAME", file=sys.stderr)


def cmd_extract(args) -> int:
    from coach import extraction
    from coach.config import load_settings
    from coach.debrief_file import read_debriefs
    from coach.extraction.records import Turn

    debriefs = read_debriefs(args.path)  # the whole file is checked before anything is printed
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = load_settings(**overrides)
    name = args.extractor or extraction.default_extractor(settings)
    gateway = None
    if name.startswith("llm"):
        from coach.services import Services

        gateway = Services(settings).gateway
    for d in tqdm(debriefs, desc=f"extracting ({name})", unit="debrief", disable=args.quiet, file=sys.stderr):
        turns = [Turn(t.speaker, t.text) for t in d.transcript]
        ex = extraction.run(name, turns, d.role, topic=d.pair.topic, gateway=gateway)
        print(json.dumps(ex.contract(d.id), ensure_ascii=False), flush=True)
    return 0


def cmd_suggest(args) -> int:
    from coach.index import IndexInUse
    from coach.services import Services
    from coach.suggest import suggest

    if args.k < 1:
        print("error: --k must be at least 1", file=sys.stderr)
        return 2
    svc = _services(args)
    try:
        corpus = svc.corpus
    except IndexInUse as busy:  # the app holds it: read it without writing (the app indexes)
        if not busy.by_app:
            raise
        svc.close()
        svc = Services(svc.settings, read_only_index=True)
        corpus = svc.corpus
    try:
        cards = suggest(corpus, args.senior, args.junior, k=args.k, writer=svc.card_writer(),
                        programmes=args.programme)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        svc.close()
    if args.json:
        print(json.dumps([c.contract() for c in cards], ensure_ascii=False, indent=2))
    else:
        for n, c in enumerate(cards, 1):
            tag = " (generic)" if c.generic else ""
            print(f"{n}. {c.topic}{tag}\n   {c.why}\n   evidence: {', '.join(c.evidence) or '-'}")
    return 0


def cmd_reindex(args) -> int:
    from sqlalchemy import select

    from coach.index import IndexInUse
    from coach.records import SUGGESTIBLE, enqueue
    from coach.store.models import Debrief, Pair, Record

    svc = _services(args)
    bar = tqdm(desc="reindexing", unit="record", disable=args.quiet)

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    try:
        indexer = svc.indexer
    except IndexInUse as busy:
        if not busy.by_app:
            raise
        with svc.db.engine.begin() as conn:  # queue every record: the app brings each in line
            rows = conn.execute(select(Record.id, Pair.programme).join(Debrief, Record.debrief_id == Debrief.id)
                                .join(Pair, Debrief.pair_id == Pair.id).where(*SUGGESTIBLE)).all()
            enqueue(conn, [(r.id, r.programme) for r in rows])
        bar.close()
        print(f"{busy.holder} holds the index: it brings the index in line with SQL in the background "
              f"({len(rows)} records queued). To rebuild it from scratch, stop that process and run reindex again.",
              file=sys.stderr)
        return 0
    n = indexer.rebuild(progress=progress)
    bar.close()
    svc.close()
    print(f"reindexed {n} records", file=sys.stderr)
    return 0


def cmd_pair(args) -> int:
    from datetime import date

    from coach.debriefs import DebriefError
    from coach.policy import OPERATOR

    svc = _services(args)
    debriefs = svc.debriefs
    if args.action == "list" and args.at_risk:
        for row in svc.risk.overview(OPERATOR, at_risk_only=True):  # worst first, one JSON object a line
            for k in ("last_activity", "next_planned"):
                row[k] = row[k].isoformat() if row[k] else None
            print(json.dumps(row, ensure_ascii=False))
        return 0
    if args.action == "list":
        rows = [{"pair": p.id, "programme": p.programme, "topic": p.topic, "senior": p.senior,
                 "junior": p.junior, "sessions": p.sessions} for p in debriefs.pairs()]
        print(json.dumps(rows, indent=2))
        return 0
    if not args.senior_user or not args.junior_user:
        raise DebriefError("--senior-user and --junior-user (each participant's sign-in name) are required")
    try:
        start = date.fromisoformat(args.start) if args.start else None
        end = date.fromisoformat(args.end) if args.end else None
    except ValueError as e:
        raise DebriefError(f"dates must look like 2026-03-31 ({e})") from None
    accounts = svc.accounts
    operator = OPERATOR
    for name in (args.senior_user, args.junior_user):  # check both before writing anything
        accounts.check_participant(name)
    pair = debriefs.create_pair(
        senior=args.senior, junior=args.junior, topic=args.topic, senior_name=args.senior_name,
        junior_name=args.junior_name, sessions=args.sessions, programme=args.programme,
        start_date=start, end_date=end, baseline=args.belief or [], every_days=args.every)
    people = {"senior": accounts.participant(args.senior_user, args.senior_name, operator),
              "junior": accounts.participant(args.junior_user, args.junior_name, operator)}
    base = args.base_url.rstrip("/")
    out = {"pair": pair.id, "debriefs": {}, "invitations": {}}
    for role, (user, token) in people.items():
        out["debriefs"][role] = debriefs.open(pair.id, role, participant_id=user.id)
        out["invitations"][role] = f"{base}/auth/invite/{token}" if token else None  # None: already has a password
    print(json.dumps(out, indent=2))
    return 0


def cmd_session(args) -> int:
    """Log a pair's session as the operator (its participants get their check-ins), or list them."""
    from coach.policy import OPERATOR

    svc = _services(args)
    try:
        sessions = svc.sessions
        if args.action == "log":  # every value is checked before anything is written
            sid = sessions.log(OPERATOR, args.pair, args.date, args.minutes, args.covered)
            row = next(r for r in sessions.sessions(OPERATOR, args.pair) if r["id"] == sid)
            st = sessions.status(OPERATOR, args.pair)
            print(json.dumps({"pair": args.pair, "session": _session_json(row), "held": st.held,
                              "planned": st.planned, "debrief_due": st.due}, indent=2))
        else:
            print(json.dumps([_session_json(r) for r in sessions.sessions(OPERATOR, args.pair)], indent=2))
    finally:
        svc.close()
    return 0


def _session_json(row: dict) -> dict:
    return {**row, "held_on": row["held_on"].isoformat()}


def cmd_user(args) -> int:
    from coach.accounts import RESET, AccountError
    from coach.policy import OPERATOR

    svc = _services(args)
    accounts = svc.accounts
    if args.action == "list":
        print(json.dumps([{"id": u.id, "username": u.username, "role": u.role, "programme": u.programme,
                           "state": "closed" if not u.active else ("reset" if u.password_hash == RESET else
                                                                   "active" if u.password_hash else "invited"),
                           "awaiting_approval": bool(u.review_pending)}
                          for u in accounts.users()], indent=2))
        return 0
    if not args.username:
        raise AccountError(f"`user {args.action}` needs a sign-in name")
    u = accounts.find(args.username)
    if args.action == "add":
        if u is not None:
            raise AccountError(f"“{u.username}” exists; use `user invite` for a new link")
        u = accounts.create_user(args.username, args.role, programme=args.programme, display_name=args.name)
    elif u is None:
        raise AccountError(f"no account “{args.username}”")
    if args.action == "approve":
        accounts.approve_facilitator(OPERATOR, u.id)
        print(json.dumps({"username": u.username, "programme": u.programme, "approved": True}, indent=2))
        return 0
    if args.action == "reset":
        token = accounts.reset(OPERATOR, u.id)[1]  # its sign-ins end and its old password stops working
    elif u.password_hash:
        raise AccountError(f"“{u.username}” has a password; `user reset {u.username}` ends their sign-ins "
                           "and prints a link to choose a new one")
    else:
        token = accounts.invite(u.id)
    link = f"{args.base_url.rstrip('/')}/auth/invite/{token}"
    print(json.dumps({"username": u.username, "role": u.role, "programme": u.programme, "invitation": link}, indent=2))
    return 0


def cmd_status(args) -> int:
    svc = _services(args)
    info = svc.status()
    if args.check_model:
        from coach.prompts import load_prompt

        p = load_prompt("selftest", svc.settings.prompts_dir)
        reply = "".join(svc.gateway.stream(p.messages(question="Say hello."), purpose="selftest", prompt=p, max_tokens=24))
        info["model_check"] = {"ok": bool(reply.strip()), "reply": reply.strip()[:200]}
        info["token_usage"] = svc.db.token_usage()
    print(json.dumps(info, indent=2, default=str))
    svc.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    from coach.store.models import DEFAULT_PROGRAMME

    p = argparse.ArgumentParser(prog="python -m coach", description="coach: debrief coach for reverse mentoring.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help):
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--data-dir", help="store to use (default: COACH_DATA_DIR or ~/.coach)")
        sp.set_defaults(fn=fn)
        return sp

    sp = add("serve", cmd_serve, "start the web app (same as `python app.py`)")
    sp.add_argument("--host", default=None, help="bind address (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    sp.add_argument("--port", type=int, default=None, help="port (default: GRADIO_SERVER_PORT or 7860)")

    sp = add("ingest", cmd_ingest, "store past debriefs from a JSONL debrief file and index them")
    sp.add_argument("path")
    sp.add_argument("--programme", help="programme to file the debriefs under (default: 'default'); topic ideas in "
                    "the app draw on the asker's programme. A debrief ingested before moves with its line")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    sp = add("extract", cmd_extract, "extract records from a JSONL debrief file; prints one JSON object per line")
    sp.add_argument("path")
    sp.add_argument("--extractor", choices=["offline", "cues", "llm", "llm_answer"],
                    help="default: llm with a capable model, else offline (see README); llm_answer asks the "
                         "model once per answer")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sp = add("suggest", cmd_suggest, "suggest topics for a new pair from past debriefs, with evidence")
    sp.add_argument("--senior", required=True, help="the senior's role and context")
    sp.add_argument("--junior", required=True, help="the junior's role and strengths")
    sp.add_argument("--k", type=int, default=5, help="at most this many suggestions (default 5)")
    sp.add_argument("--programme", action="append", metavar="NAME",
                    help="draw only on debriefs of this programme (repeatable; default: every programme)")
    sp.add_argument("--json", action="store_true", help="print JSON (the contract's format)")

    sp = add("reindex", cmd_reindex, "rebuild the semantic index from the SQL store")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sp = add("pair", cmd_pair, "create a pair (prints the participants' invitation links) or list pairs")
    sp.add_argument("action", choices=["create", "list"])
    sp.add_argument("--senior", help="the senior's role or context, e.g. 'Retail operations director'")
    sp.add_argument("--junior", help="the junior's role and strengths")
    sp.add_argument("--topic", help="the topic the junior knows better")
    sp.add_argument("--senior-name")
    sp.add_argument("--junior-name")
    sp.add_argument("--sessions", type=int)
    sp.add_argument("--start", help="first session, YYYY-MM-DD")
    sp.add_argument("--end", help="last session, YYYY-MM-DD")
    sp.add_argument("--every", type=int, metavar="DAYS", help="plan a session every DAYS days from --start "
                    "(\"log your session\" reminders follow the plan)")
    sp.add_argument("--programme", default=DEFAULT_PROGRAMME)
    sp.add_argument("--belief", action="append", help="a starting belief of the senior (up to 3, in order)")
    sp.add_argument("--base-url", default="http://127.0.0.1:7860", help="app address used in the printed links")
    sp.add_argument("--at-risk", action="store_true",
                    help="with list: only pairs at risk, worst first, one JSON object a line with the reasons")

    sp.add_argument("--senior-user", help="the senior's sign-in name (e.g. e-mail); created and invited if new")
    sp.add_argument("--junior-user", help="the junior's sign-in name; created and invited if new")

    sp = add("session", cmd_session, "log a pair's mentoring session (each participant gets a check-in) or list "
             "a pair's sessions")
    sp.add_argument("action", choices=["log", "list"])
    sp.add_argument("--pair", required=True, help="the pair's id (`pair list` shows them)")
    sp.add_argument("--date", help="with log: the day it was held, YYYY-MM-DD (not in the future)")
    sp.add_argument("--minutes", help="with log: how long it was, 5 to 480")
    sp.add_argument("--covered", help="with log: one optional line on what was covered")

    sp = add("user", cmd_user, "add an account or print a new invitation link (prints the single-use link); reset a "
             "password (ends the account's sign-ins; prints a link); approve a facilitator awaiting approval; list accounts")
    sp.add_argument("action", choices=["add", "invite", "reset", "approve", "list"])
    sp.add_argument("username", nargs="?", help="sign-in name, e.g. an e-mail address")
    sp.add_argument("--role", choices=["participant", "facilitator", "admin"], default="facilitator")
    sp.add_argument("--programme", help="the programme a facilitator runs")
    sp.add_argument("--name", help="display name")
    sp.add_argument("--base-url", default="http://127.0.0.1:7860", help="app address used in the printed link")

    sp = add("status", cmd_status, "print configuration, store and model status as JSON")
    sp.add_argument("--check-model", action="store_true", help="also make one streamed call to the model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from coach.accounts import AccountError
    from coach.config import ConfigError
    from coach.debrief_file import DebriefFileError
    from coach.debriefs import DebriefError
    from coach.gateway import GatewayError
    from coach.index import IndexUnavailable

    try:
        return args.fn(args)
    except (AccountError, ConfigError, DebriefFileError, DebriefError, GatewayError, IndexUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `coach extract f.jsonl | head -1`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
