"""The debrief file format (JSON Lines, ``shared/contracts.md`` section 1).

``read_debriefs`` validates the whole file first and raises :class:`DebriefFileError` naming
the line and the problem, so callers never act on half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class FilePair(BaseModel):
    model_config = ConfigDict(extra="allow")
    senior: str
    junior: str
    topic: str
    sessions: int | None = None


class FileTurn(BaseModel):
    model_config = ConfigDict(extra="allow")
    speaker: Literal["coach", "participant"]
    text: str


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
    transcript: list[FileTurn]
    expected: FileExpected | None = None
    shared: bool = True

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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DebriefFileError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise DebriefFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DebriefFileError(f"{path}: cannot read ({e.strerror})") from None
    out, seen = [], {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DebriefFileError(f"{path}:{n}: invalid JSON ({e.msg} at column {e.colno})") from None
        try:
            d = FileDebrief.model_validate(obj)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "line"
            raise DebriefFileError(f"{path}:{n}: {loc}: {err['msg']}") from None
        if d.id in seen:
            raise DebriefFileError(f"{path}:{n}: duplicate id {d.id!r} (first on line {seen[d.id]})")
        seen[d.id] = n
        out.append(d)
    return out
