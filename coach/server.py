"""Starting the app as a process: ``python app.py`` and ``python -m coach serve`` call :func:`main`.

It wires the parts (coach.services), holds the embedded index and indexes in the background,
warms the embedded model, builds the Gradio app behind the sign-in gate (coach.web) and serves
it until it is stopped; then it stops the model server and the indexer with it.

Files served to browsers (downloads, exports, uploads) live in an owner-only folder of the data
dir, never in Gradio's default /tmp/gradio (readable by every user, shared by every Gradio app on
the host): GRADIO_TEMP_DIR is set before Gradio is imported. They are removed SCRATCH_MINUTES
after they were made (swept every minute; Gradio's own ``delete_cache`` never runs in an app
mounted like this one), all of them at start, and at once when a participant deletes data they
hold (the database's erasure hook).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from coach.config import load_settings

SWEEP_SECONDS = 60


def main(host: str | None = None, port: int | None = None) -> None:
    settings = load_settings()
    os.environ["GRADIO_TEMP_DIR"] = str(settings.data_dir / "served")  # before Gradio is imported

    import gradio as gr

    from coach.index import IndexUnavailable
    from coach.services import Services
    from coach.ui import CSS, build_app
    from coach.ui.common import download_folders, purge, sweep, use_private_temp_dir
    from coach.web import build_server, first_admin_link, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM ends the app like Ctrl-C does, so the local model server is stopped with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    svc = Services(settings, app=True)
    use_private_temp_dir(settings.data_dir)
    folders = download_folders(settings.data_dir)
    sweep(folders, older_than=0)  # no one can fetch what an earlier run served
    svc.db.on_erase.append(lambda keys: purge(folders, keys))
    stop_sweeping = threading.Event()
    threading.Thread(target=_sweeper, args=(folders, stop_sweeping), name="sweep-downloads", daemon=True).start()
    try:
        svc.indexer.start()  # the embedded index is this process's while the app runs
    except IndexUnavailable as e:
        sys.exit(f"error: {e}")
    svc.start_local_model_in_background()
    if settings.mail_configured:  # queued mail waits in SQL until a mail server is configured
        svc.mail_worker.start()
    threading.Thread(target=svc.records.refresh_derived, name="refresh-records", daemon=True).start()
    blocks = build_app(svc).queue(default_concurrency_limit=16)
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    server = build_server(blocks, svc.accounts, secure_cookie=svc.settings.cookie_secure, css=CSS,
                          theme=gr.themes.Soft(), trusted_proxies=svc.settings.trusted_proxy_list, report=svc.report)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    link = first_admin_link(svc.accounts, f"http://{shown}:{port}")
    if link:  # printed, never stored: only its hash is in the database
        print(f"\n  No administrator has signed in yet. Open this single-use link to choose the\n"
              f"  password of the account `admin`:\n\n    {link}\n", flush=True)
    print(f"coach is running on http://{shown}:{port}", flush=True)
    try:
        serve(server, host, port)
    finally:
        stop_sweeping.set()
        svc.close()


def _sweeper(folders: list[Path], stop: threading.Event) -> None:
    from coach.ui.common import sweep

    while not stop.wait(SWEEP_SECONDS):
        try:
            sweep(folders)
        except Exception:  # a sweep that failed is done again a minute later
            logging.getLogger("coach").exception("sweeping old downloads failed")
