"""What every tab of the app shares: the parts it calls (:class:`Ctx`), the signed-in person, text
escaping, downloads and the page's CSS. Each role's tabs live in their own module and call the
domain (coach.debriefs, coach.records, coach.review, coach.suggest), which checks what the
person may do; hiding a tab is only layout."""

from __future__ import annotations

import html
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from coach.accounts import Accounts
from coach.policy import AccessDenied, Actor

if TYPE_CHECKING:
    from coach.services import Services

CSS = """
.coach-note { font-size: 0.95em; opacity: 0.85; }
.coach-progress ul { list-style: none; padding-left: 0; margin: 0; }
.coach-progress li { display: inline-block; margin: 0 0.9em 0.3em 0; opacity: 0.7; }
.coach-progress li.st-done, .coach-progress li.st-current { opacity: 1; }
.coach-progress li.st-current { font-weight: 600; }
/* warnings stay in view at the bottom of the window, wherever the page is scrolled */
.coach-notice { color: #b45309; position: sticky; bottom: 0; z-index: 5; background: var(--background-fill-primary); }
.topic-card { border-left: 3px solid #818cf8; padding: 0.2em 0.9em; margin: 0.6em 0; }
#review-transcript mark { background: #fde68a; padding: 0 2px; }
#coach-chat button[aria-label="Clear"] { display: none !important; }  /* the store keeps every turn */
.coach-signout button { font: inherit; font-size: 0.9em; padding: 0.35em 0.8em; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); }
"""

SCRATCH_MINUTES = 10  # downloads are kept this long (Gradio's copies too: Blocks(delete_cache=...))


@dataclass
class Ctx:
    """The parts the tabs call. Built once by coach.ui.build_app from coach.services."""

    svc: Services  # the settings, and the parts the tabs call
    accounts: Accounts

    def who(self, request: gr.Request | None, *roles: str) -> Actor:
        """The signed-in person (and, given roles, one of them), or AccessDenied."""
        actor = self.accounts.actor(getattr(request, "username", None))
        if actor is None:
            raise AccessDenied("Please sign in again.")
        return actor.require(*roles) if roles else actor

    def scratch_folder(self) -> Path:
        """A new folder for one download. Gradio serves its own copy of the file, so ours are
        removed after SCRATCH_MINUTES: exported debriefs do not pile up on disk."""
        scratch = self.svc.settings.data_dir / "exports" / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - SCRATCH_MINUTES * 60
        for old in scratch.iterdir():
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=scratch))

    def base_url(self, request: gr.Request) -> str:
        """This app's address as the browser sees it (for the links it shows)."""
        if request is None or request.request is None:
            return ""
        return f"{request.request.url.scheme}://{request.headers.get('host')}"


def esc(text: str | None) -> str:
    """Participant text is shown as text, never as markup."""
    return html.escape(text or "").replace("\n", " ")


def warn(e: Exception | str) -> str:
    return f"⚠️ {esc(str(e))}"


def parse_date(text: str | None) -> date | None:
    from coach.debriefs import DebriefError

    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DebriefError(f"“{text}” is not a date like 2026-03-31.") from None


def unchanged(*components) -> dict:
    """A handler's answer that changes none of these components."""
    return {c: gr.update() for c in components}
