"""The debrief file format (JSON Lines, ``shared/contracts.md`` section 1).

``read_debriefs`` validates the whole file first and raises :class:`DebriefFileError` naming
the line and the problem, so callers never act on half a file. Sizes are bounded (a line, a
turn, the turns of a line) so that time and memory stay bounded whatever the file holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

MAX_LINE_BYTES = 1_000_000  # one debrief; the longest real transcripts are a few tens of KB
MAX_TURN_CHARS = 20_000  # a turn of notes or a pasted answer (the app caps a message at 6,000)
MAX_TURNS = 400


class FilePair(BaseModel):
    model_config = ConfigDict(extra="allow")
    senior: str
    junior: str
    topic: str
    sessions: int | None = None


class FileTurn(BaseModel):
    model_config = ConfigDict(extra="allow")
    speaker: Literal["coach", "participant"]
    text: str = Field(max_length=MAX_TURN_CHARS)


class FileAssumption(BaseModel):
    before: str
    after: str


class FileExpected(BaseModel):
    model_config = ConfigDict(extra="allow")
    learned: list[str] = Field(default_factory=list)
    broken_assumptions: list[FileAssumption] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)


class FileDebrief(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=64)
    role: Literal["senior", "junior"]
    pair: FilePair
    transcript: list[FileTurn] = Field(max_length=MAX_TURNS)
    expected: FileExpected | None = None
    shared: bool = True
    _line: int = PrivateAttr(default=0)  # line number in the file it came from

    @property
    def line(self) -> int:
        return self._line

    @field_validator("transcript")
    @classmethod
    def _has_participant(cls, v: list[FileTurn]) -> list[FileTurn]:
        if not any(t.speaker == "participant" for t in v):
            raise ValueError("transcript has no participant turn")
        return v


class DebriefFileError(ValueError):
    pass


def read_debriefs(path: str | Path) -> list[FileDebrief]:
    path = Path(path)
    out: list[FileDebrief] = []
    seen: dict[str, int] = {}  # id -> line
    try:
        with path.open("rb") as f:
            for n, raw in enumerate(_lines(f, path), start=1):
                d = _parse(raw, path, n)
                if d is None:
                    continue
                if d.id in seen:
                    raise DebriefFileError(f"{path}:{n}: duplicate id {d.id!r} (first on line {seen[d.id]})")
                seen[d.id] = n
                out.append(d)
    except FileNotFoundError:
        raise DebriefFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DebriefFileError(f"{path}: is a folder, not a file") from None
    except OSError as e:
        raise DebriefFileError(f"{path}: cannot read ({e.strerror})") from None
    return out


def _lines(f, path: Path):
    """The file's lines as bytes, refusing one longer than MAX_LINE_BYTES without reading it whole."""
    n = 0
    while True:
        n += 1
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise DebriefFileError(f"{path}:{n}: line longer than {MAX_LINE_BYTES:,} bytes (one debrief per line)")
        yield raw


def _parse(raw: bytes, path: Path, n: int) -> FileDebrief | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DebriefFileError(f"{path}:{n}: not UTF-8 text ({e.reason} at column {e.start + 1})") from None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DebriefFileError(f"{path}:{n}: invalid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise DebriefFileError(f"{path}:{n}: invalid JSON (nested too deeply)") from None
    try:
        d = FileDebrief.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "line"
        raise DebriefFileError(f"{path}:{n}: {loc}: {err['msg']}") from None
    d._line = n
    return d
