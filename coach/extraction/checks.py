"""What the participant said when the coach checked an item back (coach.interview: a ``check``
turn says back the item it will record and asks whether that is it).

Their replies are not read by the extractors (they would find the same item twice); instead
:func:`apply_checks` settles each checked item: agreed -> confirmed; their own words -> the
item in those words (grounded in that reply); a bare "no" -> dropped, replaced by what they say
it was instead; more to say, without objecting -> confirmed, and the reply is read by the
extractors as a further answer to the question. Such items carry provenance "confirmed", and
an extracted item that one of them already says is dropped (:func:`without_repeats`).

What is said back comes from here too when the extractor finds nothing in a slot's answers
(:func:`fallback_item`: the participant's own words) and for a step heard in passing
(:func:`step_item`).
"""

from __future__ import annotations

import re

from coach.cues import (
    AGREE,
    ASKED_OF_ME,
    BEFORE_CUE,
    COMMITTED,
    DISAGREE,
    DONE_ALREADY,
    content_words,
    has_time,
    sentence_spans,
    unrecordable,
)
from coach.extraction.records import Item, Turn, normalise
from coach.extraction.text import INJECTION
from coach.interview import check_reply

# what a checked slot's item is
CHECK_KIND = {"learned": "learned", "beliefs": "broken_assumption", "action": "action", "taught": "taught",
              "gained": "learned", "step": "action"}  # step: a plan heard in any answer (Protocol.check_step)


def replies_to_checks(turns: list[Turn]) -> dict[int, dict]:
    """Participant turn -> the check it answers (the coach turn's meta)."""
    out = {}
    for i in range(1, len(turns)):
        prev, cur = turns[i - 1], turns[i]
        meta = prev.meta or {}
        if prev.speaker == "coach" and meta.get("kind") == "check" and cur.is_participant_words:
            out[i] = meta
    return out


def without_check_replies(turns: list[Turn]) -> list[Turn]:
    """The transcript as extractors see it: replies to checks, and what was written in the summary,
    blanked (indices unchanged): both are settled by :func:`apply_checks`."""
    # a reply with more to say is a further answer (but not to "what was it instead?": settled below)
    replies = {i for i, c in replies_to_checks(turns).items()
               if c.get("probe") == "instead" or check_reply(turns[i].text) != "more"}
    gone = replies | {i for i, t in enumerate(turns) if (t.meta or {}).get("summary")}
    return [Turn(t.speaker, "", t.meta) if i in gone else t for i, t in enumerate(turns)] if gone else turns


def apply_checks(turns: list[Turn], items: list[Item]) -> list[Item]:
    """Settle every checked item by what the participant replied, drop what the settled items
    already say, then apply what they wrote in their summary (an item reworded, or one the coach
    missed)."""
    return _apply_summary(turns, without_repeats(_apply_replies(turns, items)))


def _apply_summary(turns: list[Turn], items: list[Item]) -> list[Item]:
    out = list(items)
    for i, t in enumerate(turns):
        meta = t.meta or {}
        if t.speaker != "participant" or meta.get("summary") not in ("add", "reword") or not t.text.strip():
            continue
        if meta["summary"] == "reword":
            old = _same(out, {"kind": meta.get("kind"), "quote": meta.get("quote")})
            if old is not None:
                out.remove(old)
        out.append(Item(kind=meta.get("kind", "learned"), text=t.text.strip(), quote=t.text.strip(), turn_index=i,
                        provenance="participant"))
    return out


def _apply_replies(turns: list[Turn], items: list[Item]) -> list[Item]:
    out = list(items)
    for i, check in sorted(replies_to_checks(turns).items()):
        checked = check.get("item")
        if not checked:
            continue
        how = check_reply(turns[i].text)
        if check.get("probe") == "instead" and how in ("yes", "no"):
            continue  # "what was it instead?" answered without an instead: nothing to record
        found = _same(out, checked)
        agreed = how == "yes" or (how == "more" and AGREE.match(turns[i].text) is not None)
        if agreed and check.get("probe") != "instead":
            if found is None:
                out.append(Item(**_fields(checked), provenance="confirmed"))
            else:
                out[out.index(found)] = found.model_copy(update={"provenance": "confirmed"})
        elif how == "more" and check.get("probe") != "instead":
            pass  # the story went on without a yes ("Nothing else."): an extracted item stays extracted only
        elif found is not None:  # "no", or their own words: the checked wording goes
            out.remove(found)
        if how == "words" or (how == "more" and check.get("probe") == "instead"):
            out.append(_in_their_words(checked, turns[i].text, i))
    return out


def _same(items: list[Item], checked: dict) -> Item | None:
    q = normalise(checked.get("quote") or "")
    return next((it for it in items if it.kind == checked.get("kind") and normalise(it.quote) == q), None)


def _fields(checked: dict) -> dict:
    return {k: checked.get(k) for k in ("kind", "text", "before", "after", "quote", "turn_index")
            if checked.get(k) is not None}


# how a correction is introduced ("No, it's more like this: ..."): not part of the item
LEAD_IN = re.compile(r"^\W*(it'?s|it was|it is|that'?s|what i (meant|mean|said) (was|is))?\s*"
                     r"(more|rather|really|actually)?\s*(like|that)?\s*(this|that)?\s*[:,–—-]\s*", re.I)
# where a restated change of view turns from the earlier belief to the present one
NOW = re.compile(r"\s*(?:[;.]\s*|,\s*(?:but\s+)?|\s+but\s+)(?:and\s+)?(?:now|these days|today)\b[,:]?\s*", re.I)


def their_words(reply: str) -> str:
    """A correcting reply without its yes / no and lead-in: the item in the participant's words."""
    words = AGREE.sub("", DISAGREE.sub("", reply, count=1), count=1).strip(" ,;:–—-")
    rest = LEAD_IN.sub("", words, count=1).strip()
    words = rest if content_words(rest) >= 2 else words
    return words[:1].upper() + words[1:] if words else reply.strip()


def split_change(words: str) -> tuple[str, str] | None:
    """(before, after) of a restated change of view ("I thought X; now Y"), or None."""
    parts = NOW.split(words, maxsplit=1)
    if len(parts) != 2 or content_words(parts[0]) < 2 or content_words(parts[1]) < 2:
        return None
    before, after = (p.strip(" ,;:–—-") for p in parts)
    return before, after[:1].upper() + after[1:]


def _in_their_words(checked: dict, reply: str, turn: int) -> Item:
    """The item as the participant put it in their reply (the reply is the quote): their new
    words replace the checked wording."""
    words = their_words(reply)
    if checked.get("kind") == "broken_assumption":
        # a reply with both sides replaces both; else what they think now is in their reply and
        # the earlier belief stays what they said before
        before, after = split_change(words) or (checked.get("before"), words)
        return Item(kind="broken_assumption", before=before, after=after, quote=reply.strip(),
                    turn_index=turn, provenance="confirmed")
    return Item(kind=checked.get("kind", "learned"), text=words, quote=reply.strip(), turn_index=turn,
                provenance="confirmed")


# -- one item once ------------------------------------------------------------------------------

SAME_MEANING = 0.75  # MiniLM cosine above which two items of a kind say the same thing


def without_repeats(items: list[Item]) -> list[Item]:
    """Drop extracted items that a confirmed one already says: the same sentence filed under
    another kind (what a junior taught, also taken as an action), or the same point in other
    words (the participant's restatement of an item extracted from their answer)."""
    settled = [it for it in items if it.provenance == "confirmed"]
    rest = [it for it in items if it.provenance != "confirmed" and not any(_overlap(it, s) for s in settled)]
    kinds = {s.kind for s in settled}
    near = [it for it in rest if it.kind in kinds]
    if near:  # one embedding call for all of them (this also runs within a turn, for a check)
        sims = _similarities([_text(it) for it in near], [_text(s) for s in settled])
        same = {id(it) for it, row in zip(near, sims)
                if any(sim >= SAME_MEANING and s.kind == it.kind for s, sim in zip(settled, row))}
        rest = [it for it in rest if id(it) not in same]
    keep = {id(it) for it in settled + rest}
    return [it for it in items if id(it) in keep]


def _overlap(item: Item, settled: Item) -> bool:
    """Whether a part of one item (its quote, text, before or after) holds a whole part of the
    other, word for word (punctuation aside): a sentence taken twice, or half of a change of view
    that is a confirmed item of its own."""
    mine, theirs = _parts(item), _parts(settled)
    return any(a in b or b in a for a in mine for b in theirs)


def _parts(item: Item) -> list[str]:
    parts = (" ".join(re.findall(r"\w+", (p or "").lower())) for p in (item.quote, item.text, item.before, item.after))
    return [f" {p} " for p in parts if len(p.split()) >= 4]  # padded: whole words only


def _text(item: Item) -> str:
    if item.before and item.after:
        return f"{item.before} -> {item.after}"
    return item.text or item.quote


def _similarities(texts: list[str], others: list[str]) -> list[list[float]]:
    """MiniLM cosine of each text with each of the others."""
    from coach.embeddings import MiniLM

    v = MiniLM.shared().embed([*texts, *others])
    return (v[: len(texts)] @ v[len(texts):].T).tolist()


# -- what to say back when the extractor found nothing ------------------------------------------


def fallback_item(kind: str, answers: list[tuple[str, str | None]]) -> dict | None:
    """The item to check back for a slot whose answers the extractor found nothing in: the
    participant's words from the answer with the most substance, to the question or to a
    follow-up asking for more (not the example they were asked for: a story, not the point; nor
    a closing "that's it, sorry"), cut to its sentences with substance. A hedged sentence may be
    said back: the participant's reply settles it. ``answers``: (text, the follow-up it answers
    or None)."""
    point = [text for text, probe in answers if probe != "example"] or [text for text, _ in answers]
    found = [(text, [sp for sp in sentence_spans(text) if _has_point(text[sp[0]:sp[1]], kind)]) for text in point]
    found = [(text, spans) for text, spans in found if spans]
    if not found:
        return None
    # the most substance; of equals the later answer (a follow-up's, which says what was missing)
    text, spans = max(reversed(found), key=lambda f: sum(content_words(f[0][a:b]) for a, b in f[1]))
    return _as_item(kind, text, _longest_run(text, spans))


def step_item(answers: list[str]) -> dict | None:
    """A step the participant will take, heard in any answer (latest first), with a time to it:
    one they say they will take ("I'm going to invite him next month"), else one they were asked
    to take and have not yet ("he's asked me to run a session in October"). The time keeps out
    turns of phrase ("I'll give him that"). None if they said neither."""
    for cue in (COMMITTED, ASKED_OF_ME):
        for text in reversed(answers):
            for a, b in reversed(sentence_spans(text)):
                said = text[a:b].strip()
                if (cue.search(said) and has_time(said) and not DONE_ALREADY.search(said)
                        and _has_point(said, "action")):
                    return {"kind": "action", "text": said, "quote": said}
    return None


def _has_point(sentence: str, kind: str) -> bool:
    """Worth saying back: not empty words, a denial, a question, or an attempt to steer the tool
    (never repeated to the participant as theirs; the guard would refuse it anyway)."""
    why = unrecordable(sentence.strip(), belief=kind == "broken_assumption")
    return (why in (None, "hedge") and not sentence.rstrip().endswith("?")
            and not INJECTION.search(normalise(sentence)))


def _as_item(kind: str, text: str, spans: list[tuple[int, int]]) -> dict:
    """Their sentences (one verbatim stretch of the answer) as an item: a change of view split
    where the earlier belief ends."""
    quote = text[spans[0][0]:spans[-1][1]].strip()
    first = text[spans[0][0]:spans[0][1]].strip()
    rest = text[spans[0][1]:spans[-1][1]].strip()
    if kind == "broken_assumption" and rest and BEFORE_CUE.search(first):
        return {"kind": kind, "before": first, "after": rest, "quote": quote}
    return {"kind": kind, "text": quote, "quote": quote}


def _longest_run(text: str, spans: list[tuple[int, int]], limit: int = 60) -> list[tuple[int, int]]:
    """At most ``limit`` words: a short answer whole, a long one from its most substantive
    sentence on (a rambling preamble is not the point)."""
    def n(span):
        return len(text[span[0]:span[1]].split())

    if n((spans[0][0], spans[-1][1])) <= limit:
        return spans
    best = max(range(len(spans)), key=lambda i: content_words(text[spans[i][0]:spans[i][1]]))
    out = [spans[best]]
    for sp in spans[best + 1:]:
        if n((out[0][0], sp[1])) > limit:
            break
        out.append(sp)
    return out
