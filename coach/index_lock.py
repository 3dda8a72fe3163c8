"""One process at a time on an embedded Chroma index.

Chroma's embedded (persistent) index is not safe for two processes: a second one does not see
the first one's writes (its queries can fail outright), and two writers damage the HNSW files.
So the app takes this lock when it starts and every command that opens the index takes it too.
A command that finds it taken either asks the holder to catch up with SQL (``coach ingest`` and
``coach reindex``: :func:`request_sync`) or stops with a clear error. A Chroma server
(``COACH_CHROMA_URL``) has no such limit and needs no lock. The kernel drops the lock when its
process exits, however it ends.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock (one process at a time is then up to the operator)
    fcntl = None

LOCK_FILE = "in-use.lock"
SYNC_FILE = "sync-requested"  # touched by a command that changed SQL while another process held the index
SYNCED_FILE = "sync-done"  # the request the index was last brought in line with
# Present while SQL has changes Chroma has not been given yet (or failed to take); only the lock
# holder writes it, so the next holder knows to catch up after a crash or a failed Chroma write.
BEHIND_FILE = "behind-sql"


class IndexLockError(RuntimeError):
    """The lock file itself cannot be used (permissions, a folder in its place...)."""


class IndexInUse(RuntimeError):
    def __init__(self, index_dir: Path, holder: str):
        self.holder = holder
        self.by_app = holder.startswith("the app")
        then = ("`coach ingest` and `coach reindex` leave the indexing to the app" if self.by_app
                else "wait for that command to finish")
        super().__init__(
            f"the index in {index_dir} is in use by {holder}. Chroma's embedded index serves one process "
            f"at a time: {then}; or run a Chroma server (`chroma run --path DIR`) and set COACH_CHROMA_URL "
            "for the app and the commands."
        )


_held: dict[str, list] = {}  # resolved index dir -> [open lock file, holders in this process]
_guard = threading.Lock()


def _who(role: str) -> str:
    if role == "app":
        return f"the app (process {os.getpid()})"
    args = sys.argv[1:2] if sys.argv else []
    program = "python -m coach" if sys.argv and sys.argv[0].endswith("__main__.py") else Path(sys.argv[0]).name
    return f"a command (process {os.getpid()}: {' '.join([program, *args])})"


def hold(index_dir: Path, role: str = "command", wait: bool = False) -> str:
    """Take the index directory's lock, or share it if this process already holds it.

    ``role`` ("app" or "command") is recorded for whoever finds it taken. Returns the key for
    :func:`release`. If another process holds it: wait for it (``wait``, said on stderr) or
    raise :class:`IndexInUse`."""
    index_dir.mkdir(parents=True, exist_ok=True)
    key = str(index_dir.resolve())
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return key
        try:
            f = open(index_dir / LOCK_FILE, "a+", encoding="utf-8")
        except OSError as e:
            raise IndexLockError(
                f"cannot open the index's lock file {index_dir / LOCK_FILE}: {e.strerror}. The data dir must be "
                "writable by the user running coach."
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                who = f.read().strip() or "another process"
                if not wait:
                    f.close()
                    raise IndexInUse(index_dir, who) from None
                print(f"waiting for {who} to finish with the index in {index_dir} ...", file=sys.stderr, flush=True)
                fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(_who(role) + "\n")
        f.flush()
        _held[key] = [f, 1]
        return key


def release(key: str) -> None:
    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            if fcntl is not None:
                fcntl.flock(entry[0], fcntl.LOCK_UN)
            entry[0].close()
            del _held[key]


def request_sync(index_dir: Path) -> None:
    """Ask the process holding the index to bring it in line with SQL (on its next query)."""
    (index_dir / SYNC_FILE).write_text(f"{os.getpid()} {time.time_ns()}\n", encoding="utf-8")


def sync_state(index_dir: Path):
    """Changes whenever :func:`request_sync` is called (content differs every time)."""
    try:
        return (index_dir / SYNC_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def synced_state(index_dir: Path):
    """The :func:`sync_state` the index was last synced to (kept across restarts, so a request
    left by a process that stopped before syncing is honoured by the next one)."""
    try:
        return (index_dir / SYNCED_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def mark_synced(index_dir: Path, state) -> None:
    if state is not None:
        (index_dir / SYNCED_FILE).write_text(state, encoding="utf-8")


def mark_behind(index_dir: Path, behind: bool) -> None:
    """Record whether SQL holds changes the index has not taken yet (see BEHIND_FILE)."""
    path = index_dir / BEHIND_FILE
    if behind:
        path.write_text(f"{os.getpid()} {time.time_ns()}\n", encoding="utf-8")
    else:
        path.unlink(missing_ok=True)


def is_behind(index_dir: Path) -> bool:
    return (index_dir / BEHIND_FILE).exists()
