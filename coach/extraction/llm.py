"""The LLM extractor: structured output through the model gateway, then the shared guard.

Two ways to ask (``llm`` and ``llm_answer`` in coach.extraction): the whole transcript in one
call, or one call per participant answer with the question it answers (short prompts a small
local model reads better, and each item's turn is known). Either way, a quote the model copied
almost word for word is re-grounded: replaced by the participant's own sentence it came from
(``Extraction.regrounded`` counts them), so the record still quotes only what was said.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from coach.extraction.records import Extraction, Item, LLMExtraction, Turn, normalise
from coach.extraction.text import sentences
from coach.gateway import StructuredOutputError
from coach.prompts import load_prompt

REGROUND = 0.85  # how alike (difflib ratio, lower-cased) a model's quote and a sentence must be


def format_transcript(turns: list[Turn]) -> str:
    return "\n".join(f"[{i}] {t.speaker}: {t.text}" for i, t in enumerate(turns)
                     if t.speaker == "coach" or t.is_participant_words)


def extract_llm(turns: list[Turn], role: str, gateway, ex: Extraction, topic: str = "",
                per_answer: bool = False) -> tuple[list[Item], Extraction]:
    name = "extract_answer" if per_answer else "extract"
    prompt = load_prompt(name, gateway.settings.prompts_dir)
    ex.model, ex.prompt_id, ex.prompt_hash = gateway.model, prompt.id, prompt.hash
    if not per_answer:
        return _reground(_ask(gateway, prompt, ex, role=role, topic=topic, transcript=format_transcript(turns)),
                         turns, None, ex), ex
    items: list[Item] = []
    for i, t in enumerate(turns):
        if not t.is_participant_words or not t.text.strip():
            continue
        question = next((turns[j].text for j in range(i - 1, -1, -1) if turns[j].speaker == "coach"), "")
        got = _ask(gateway, prompt, ex, role=role, topic=topic, question=question, answer=t.text)
        items += _reground(got, turns, i, ex)
    return items, ex


def _ask(gateway, prompt, ex: Extraction, **variables) -> list[Item]:
    usage: dict = {}
    try:
        out = gateway.structured(prompt.messages(**variables), LLMExtraction, purpose="extraction", prompt=prompt,
                                 usage=usage, max_tokens=1200, temperature=0)
    except StructuredOutputError:
        ex.schema_valid = False
        return []
    finally:
        ex.prompt_tokens += usage.get("prompt_tokens", 0)
        ex.completion_tokens += usage.get("completion_tokens", 0)
    items = [Item(kind="learned", text=i.text, quote=i.quote) for i in out.learned]
    items += [Item(kind="broken_assumption", before=a.before, after=a.after, quote=a.quote) for a in out.broken_assumptions]
    items += [Item(kind="action", text=i.text, quote=i.quote) for i in out.actions]
    return items


def _reground(items: list[Item], turns: list[Turn], turn: int | None, ex: Extraction) -> list[Item]:
    """Items whose quote is not verbatim get the participant sentence most like it (in ``turn``,
    or in any participant turn), when that is close enough; the guard drops the rest."""
    out = []
    for it in items:
        q = normalise(it.quote)
        where = [turn] if turn is not None else [i for i, t in enumerate(turns) if t.is_participant_words]
        if any(q and q in normalise(turns[i].text) for i in where):
            out.append(it)
            continue
        best, score = None, 0.0
        for i in where:
            for s in sentences(turns[i].text, i):
                r = SequenceMatcher(None, q.lower(), normalise(s.text).lower()).ratio()
                if r > score:
                    best, score = s.text, r
        if best is not None and score >= REGROUND:
            ex.regrounded += 1
            it = it.model_copy(update={"quote": best})
        out.append(it)
    return out
