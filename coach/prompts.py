"""Prompt files in ``prompts/``, loaded as langchain-core chat templates.

A prompt file is YAML::

    description: what the prompt is for
    messages:
      - [system, "You are ..."]
      - [human, "{transcript}"]

Its id is the file's stem; its hash is the first 12 hex digits of the SHA-256 of the file's
bytes. Every record produced with a prompt carries both, and the model name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate


class PromptError(ValueError):
    pass


def default_prompts_dir() -> Path:
    shipped = Path(__file__).parent / "_prompts"  # inside an installed wheel
    return shipped if shipped.is_dir() else Path(__file__).resolve().parent.parent / "prompts"


@dataclass(frozen=True)
class Prompt:
    id: str
    hash: str
    description: str
    template: ChatPromptTemplate

    def messages(self, **variables) -> list[BaseMessage]:
        return self.template.format_messages(**variables)

    @property
    def variables(self) -> list[str]:
        return sorted(self.template.input_variables)


def load_prompt(name: str, prompts_dir: Path | None = None) -> Prompt:
    return _load(name, (prompts_dir or default_prompts_dir()).resolve())


@cache
def _load(name: str, folder: Path) -> Prompt:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise PromptError(f"No prompt file {path}")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
        pairs = [tuple(m) for m in data["messages"]]
        # mustache keeps literal braces (JSON examples) in prompt text from being read as variables
        template = ChatPromptTemplate.from_messages(pairs, template_format=data.get("format", "f-string"))
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise PromptError(f"{path}: not a valid prompt file ({e})") from e
    return Prompt(
        id=name,
        hash=hashlib.sha256(raw).hexdigest()[:12],
        description=str(data.get("description", "")),
        template=template,
    )
