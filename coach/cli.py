"""``python -m coach``: the command-line tool.

Subcommands: serve (the Gradio app), ingest (past debriefs), reindex (rebuild Chroma from SQL),
status (configuration and health). Errors print one clear line to stderr and exit non-zero.
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
    from coach.ui import main as serve

    serve(host=args.host, port=args.port)
    return 0


def cmd_ingest(args) -> int:
    from coach.debrief_file import read_debriefs
    from coach.ingest import ingest

    debriefs = read_debriefs(args.path)  # validates every line before anything is written
    svc = _services(args)
    with tqdm(total=len(debriefs), desc="storing", unit="debrief", disable=args.quiet) as bar:
        to_index, removed = ingest(svc.db, debriefs, programme=args.programme, progress=bar.update)
    svc.index.delete(removed)
    with tqdm(total=len(to_index), desc="indexing", unit="record", disable=args.quiet) as bar:
        n = svc.index.index_records(svc.db, to_index, progress=lambda done, total: bar.update(done - bar.n))
    print(f"ingested {len(debriefs)} debriefs, indexed {n} records", file=sys.stderr)
    return 0


def cmd_reindex(args) -> int:
    svc = _services(args)
    bar = tqdm(desc="reindexing", unit="record", disable=args.quiet)

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    n = svc.index.rebuild(svc.db, progress=progress)
    bar.close()
    print(f"reindexed {n} records", file=sys.stderr)
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
    sp.add_argument("--programme", default="default", help="programme the debriefs belong to")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    sp = add("reindex", cmd_reindex, "rebuild the semantic index from the SQL store")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sp = add("status", cmd_status, "print configuration, store and model status as JSON")
    sp.add_argument("--check-model", action="store_true", help="also make one streamed call to the model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from coach.config import ConfigError
    from coach.debrief_file import DebriefFileError
    from coach.gateway import GatewayError

    try:
        return args.fn(args)
    except (ConfigError, DebriefFileError, GatewayError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
