"""What every tab of the app shares: the parts it calls (:class:`Ctx`), the signed-in person, text
escaping, downloads and the page's CSS. Each role's tabs live in their own module and call the
domain (coach.debriefs, coach.records, coach.review, coach.suggest), which checks what the
person may do; hiding a tab is only layout."""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gradio as gr

from coach.accounts import Accounts
from coach.policy import AccessDenied, Actor

if TYPE_CHECKING:
    from coach.services import Services

CSS = """
.coach-note { font-size: 0.95em; opacity: 0.85; }
.coach-progress ul { list-style: none; padding-left: 0; margin: 0; }
.coach-progress li { display: inline-block; margin: 0 0.9em 0.3em 0; color: #4b5563; }
.coach-progress li.st-done, .coach-progress li.st-added, .coach-progress li.st-current { color: inherit; }
.coach-progress li.st-current { font-weight: 600; }
/* warnings stay in view at the bottom of the window, wherever the page is scrolled */
.coach-notice { color: #b45309; position: sticky; bottom: 0; z-index: 5; background: var(--background-fill-primary); }
/* a follow-up waiting for the participant: the first thing on their page */
.coach-ready { border-left: 4px solid #4338ca !important; background: #eef2ff !important; padding: 0.4em 1em 0.9em !important;
  border-radius: 6px; }
.coach-ready h3 { margin-top: 0.3em; }
.topic-card { border-left: 3px solid #818cf8; padding: 0.2em 0.9em; margin: 0.6em 0; }
#review-transcript mark { background: #fde68a; padding: 0 2px; }
/* suspected injections: a record to check before approving, words the guard refused */
#review-transcript mark.suspect { background: #fecaca; outline: 2px solid #b91c1c; }
#review-transcript .attempt { background: #fee2e2; text-decoration: line-through; }
#review-transcript .suspect-badge { color: #991b1b; font-weight: 600; margin-right: 0.4em; }
#coach-chat button[aria-label="Clear"] { display: none !important; }  /* the store keeps every turn */
/* contrast (WCAG AA, checked with axe-core in the browser tests): the theme's primary buttons and
   field labels are too pale for small text */
button.primary { background: #4338ca !important; border-color: #4338ca !important; color: #fff !important; }
[data-testid="block-info"], .label > p, .max_value, .min_value { color: #1f2937 !important; }
label[data-testid="block-label"] { color: #1f2937 !important; background: #eef2ff !important; }
/* long paths wrap on a phone instead of making the status a scrolling box */
#system-status, #system-status code { overflow-wrap: anywhere; word-break: break-word; white-space: normal; }
/* invitation links wrap on a phone rather than run off the edge */
#pair-created code, #pair-note code { overflow-wrap: anywhere; word-break: break-all; white-space: normal; }
/* a dropdown's long choice stops short of its arrow, with "…", rather than running under it */
.secondary-wrap input[role="combobox"] { padding-right: 22px !important; text-overflow: ellipsis; }
label.selected, label:has(input:checked) { background: #4338ca !important; color: #fff !important; }
label:has(input:checked) .label-text { color: #fff !important; }
button[role="tab"].selected { color: #4338ca !important; }
/* on a phone every tab stays in view: Gradio moves the tabs that do not fit into a "..." menu,
   which people miss, so that menu's entries are shown as a second row of tabs */
@media (max-width: 720px) {
  .tab-wrapper { flex-wrap: wrap; height: auto !important; padding-bottom: 0.2em; }
  .tab-wrapper .overflow-menu > button { display: none !important; }
  .tab-wrapper .overflow-dropdown, .tab-wrapper .overflow-dropdown.hide {
    display: flex !important; flex-wrap: wrap; position: static !important; box-shadow: none !important;
    border: 0 !important; background: transparent !important; padding: 0 !important; min-width: 0 !important; }
  .tab-wrapper .overflow-dropdown button { width: auto !important; padding: 0.4em 0.75em !important; }
}
.coach-account { flex-wrap: wrap !important; align-items: center; gap: 0.5em; }
#signed-in { flex: 1 1 16em !important; min-width: 14em !important; }
.coach-signout button { font: inherit; font-size: 0.9em; padding: 0.35em 0.8em; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); }
"""

SCRATCH_MINUTES = 10  # downloads are kept this long (Gradio's copies too: swept by coach.server)


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
        """A new folder (owner-only) for one download. Gradio serves its own copy of the file
        (from served_folder()); both are removed after SCRATCH_MINUTES (coach.server sweeps them),
        and at once when a participant deletes what they hold (purge())."""
        scratch = scratch_root(self.svc.settings.data_dir)
        private_folder(scratch)
        sweep([scratch])
        return Path(tempfile.mkdtemp(dir=scratch))

    def base_url(self, request: gr.Request) -> str:
        """This app's address as the browser sees it (for the links it shows)."""
        if request is None or request.request is None:
            return ""
        return f"{request.request.url.scheme}://{request.headers.get('host')}"


# Characters HTML or Markdown give a meaning to, and those that start a link or an autolink (the ":"
# of "http://", the "@" of an e-mail address), as numeric character references: the browser shows
# them as typed, while Markdown and HTML read them as plain text. A "$" goes in an element of its
# own, so that no "$$" reaches the page's LaTeX renderer (it reads the text the browser shows).
_PLAIN = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~:@=^"}
                       | {"\n": " ", "\r": " ", "$": "<span>&#36;</span>"})
_LIST_OR_LINK_DOT = re.compile(r"(?<=\d)\.|(?<=www)\.", re.I)  # "1." starts a list; "www." is autolinked


def missing_fields(*fields: tuple[str, str | None]) -> str:
    """One message naming every empty field of a form, given as (what to call it, value); ""
    when none is empty."""
    empty = [name for name, value in fields if not (value or "").strip()]
    if not empty:
        return ""
    return "Please fill in " + (", ".join(empty[:-1]) + " and " if len(empty) > 1 else "") + empty[-1] + "."


# -- files served to a browser ---------------------------------------------------------------

def private_folder(path: Path) -> Path:
    """``path`` (and its parents up to it) created if need be, readable by this user only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def served_folder(data_dir: Path) -> Path:
    """Gradio's temp folder (GRADIO_TEMP_DIR): uploads, and its copies of the files it serves."""
    return data_dir / "served"


def scratch_root(data_dir: Path) -> Path:
    """Where coach writes a download before Gradio copies it (one folder per download)."""
    return data_dir / "exports" / "scratch"


def use_private_temp_dir(data_dir: Path) -> Path:
    """Point Gradio's temp folder at an owner-only folder in the data dir (its default, under
    /tmp, is readable by every user and shared by every Gradio app on the host). Call before the
    Blocks are built: Gradio reads GRADIO_TEMP_DIR when it builds them and when it serves."""
    folder = private_folder(served_folder(data_dir))
    private_folder(data_dir / "exports")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    return folder


def _files(folders) -> list[Path]:
    return [f for folder in folders if Path(folder).is_dir() for f in Path(folder).rglob("*")
            if f.is_file() or f.is_symlink()]


def _prune(folders) -> None:
    """Empty folders left by a sweep or a purge (deepest first; the roots stay)."""
    for folder in folders:
        for d in sorted((d for d in Path(folder).rglob("*") if d.is_dir() and not d.is_symlink()),
                        key=lambda d: len(d.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass  # not empty: still in use


def sweep(folders, older_than: float = SCRATCH_MINUTES * 60) -> int:
    """Remove files older than ``older_than`` seconds (created or last handed out: Gradio
    touches a copy it hands out again) from these folders; returns how many."""
    cutoff, n = time.time() - older_than, 0
    for f in _files(folders):
        try:
            st = f.lstat()
            if max(st.st_mtime, st.st_ctime) <= cutoff:
                f.unlink()
                n += 1
        except OSError:
            continue
    _prune(folders)
    return n


def purge(folders, keys: set[str]) -> int:
    """Remove every file in these folders that holds one of ``keys`` (deleted debriefs' ids,
    deleted accounts' sign-in names): a participant's own download, and exports or batch
    suggestions that cite their debriefs. Returns how many."""
    needles = [k.encode() for k in keys if k]
    n = 0
    for f in _files(folders):
        try:
            data = f.read_bytes()
        except OSError:
            continue
        if any(k in data for k in needles):
            f.unlink(missing_ok=True)
            n += 1
    _prune(folders)
    return n


def download_folders(data_dir: Path) -> list[Path]:
    return [served_folder(data_dir), scratch_root(data_dir)]


def esc(text: str | None) -> str:
    """User text (participants' answers and records, topics, names) for a Markdown or HTML
    component: shown exactly as typed, never as markup, Markdown, a link or an image."""
    return _LIST_OR_LINK_DOT.sub("&#46;", (text or "").translate(_PLAIN))


def code(text: str | None) -> str:
    """User text as code (a sign-in name, a path) in a Markdown component: an HTML element, as
    a Markdown code span would show esc()'s character references as they are written."""
    return f"<code>{esc(text)}</code>"


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


# the browser's time zone, sent with an event (``js=BROWSER_TZ``): times are stored in UTC and shown
# in the viewer's zone
BROWSER_TZ = "() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'"


# a date picker's narrowest: on a phone it takes a line of its own rather than hide its calendar button
DATE_WIDTH = 230

# the browser's own date (the viewer's time zone) for an empty date field, so "today" is theirs
TODAY_JS = ("(v) => { if (v) return v; const d = new Date(); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); "
            "return d.toISOString().slice(0, 10); }")


def as_typed(dates: dict[int, str], tz_at: int | None = None) -> str:
    """js for an event: each date picker's input (``dates``: the input's position -> the picker's
    elem_id) sent as typed, and the browser's time zone at position ``tz_at``. A picker keeps its
    last good value when the text typed in it is not a date, which the server would otherwise take
    as what was meant: as typed, it is refused with a clear message."""
    picks = "".join(f"const e{i} = document.querySelector('#{eid} input'); if (e{i}) a[{i}] = e{i}.value; "
                    for i, eid in dates.items())
    tz = "" if tz_at is None else f"a[{tz_at}] = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; "
    return f"(...a) => {{ {picks}{tz}return a; }}"


def today_in(tz: str | None) -> date | None:
    """Today's date in the viewer's time zone (None when it is unknown or not a zone)."""
    try:
        return datetime.now(ZoneInfo(tz)).date() if tz else None
    except (ValueError, ZoneInfoNotFoundError):
        return None


def local_time(t: datetime | None, tz: str | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A stored (UTC) time in the viewer's time zone (UTC when it is unknown or not a zone)."""
    if t is None:
        return ""
    try:
        zone: tzinfo = ZoneInfo(tz) if tz else UTC
    except (ValueError, ZoneInfoNotFoundError):
        zone = UTC
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(zone).strftime(fmt)


def unchanged(*components) -> dict:
    """A handler's answer that changes none of these components."""
    return {c: gr.update() for c in components}
