"""The LLM extractor: structured output through the model gateway, then the shared guard."""

from __future__ import annotations

from coach.extraction.records import Extraction, Item, LLMExtraction, Turn
from coach.gateway import StructuredOutputError
from coach.prompts import load_prompt


def format_transcript(turns: list[Turn]) -> str:
    return "\n".join(f"[{i}] {t.speaker}: {t.text}" for i, t in enumerate(turns)
                     if t.speaker == "coach" or t.is_participant_words)


def extract_llm(turns: list[Turn], role: str, gateway, ex: Extraction, topic: str = "") -> tuple[list[Item], Extraction]:
    prompt = load_prompt("extract", gateway.settings.prompts_dir)
    ex.model, ex.prompt_id, ex.prompt_hash = gateway.model, prompt.id, prompt.hash
    usage: dict = {}
    try:
        out = gateway.structured(prompt.messages(role=role, topic=topic, transcript=format_transcript(turns)),
                                 LLMExtraction, purpose="extraction", prompt=prompt, usage=usage,
                                 max_tokens=1200, temperature=0)
    except StructuredOutputError:
        ex.schema_valid = False
        out = None
    finally:
        ex.prompt_tokens = usage.get("prompt_tokens", 0)
        ex.completion_tokens = usage.get("completion_tokens", 0)
    if out is None:
        return [], ex
    items = [Item(kind="learned", text=i.text, quote=i.quote) for i in out.learned]
    items += [Item(kind="broken_assumption", before=a.before, after=a.after, quote=a.quote) for a in out.broken_assumptions]
    items += [Item(kind="action", text=i.text, quote=i.quote) for i in out.actions]
    return items, ex

