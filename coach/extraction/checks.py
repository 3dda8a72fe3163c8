"""What the participant said when the coach checked an item back (coach.interview: a ``check``
turn says back the item it will record and asks whether that is it).

Their replies are not read by the extractors (they would find the same item twice); instead
:func:`apply_checks` settles each checked item: agreed -> confirmed; their own words -> the
item in those words (grounded in that reply); a bare "no" -> dropped, replaced by what they say
it was instead; more to say, without objecting -> confirmed, and the reply is read by the
extractors as a further answer to the question. Such items carry provenance "confirmed".
"""

from __future__ import annotations

from coach.cues import AGREE, DISAGREE
from coach.extraction.records import Item, Turn, normalise
from coach.interview import check_reply

# what a checked slot's item is
CHECK_KIND = {"learned": "learned", "beliefs": "broken_assumption", "action": "action", "taught": "taught",
              "gained": "learned"}


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
    """Settle every checked item by what the participant replied, then apply what they wrote in
    their summary (an item reworded, or one the coach missed)."""
    return _apply_summary(turns, _apply_replies(turns, items))


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
        if how in ("yes", "more") and check.get("probe") != "instead":
            if found is None:
                out.append(Item(**_fields(checked), provenance="confirmed"))
            else:
                out[out.index(found)] = found.model_copy(update={"provenance": "confirmed"})
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


def _in_their_words(checked: dict, reply: str, turn: int) -> Item:
    """The item as the participant put it in their reply (the reply is the quote)."""
    words = AGREE.sub("", DISAGREE.sub("", reply, count=1), count=1).strip(" ,;:–—-")
    words = words[:1].upper() + words[1:] if words else reply
    if checked.get("kind") == "broken_assumption":
        # the earlier belief stays what they said before; what they think now is in their reply
        return Item(kind="broken_assumption", before=checked.get("before"), after=words, quote=reply.strip(),
                    turn_index=turn, provenance="confirmed")
    return Item(kind=checked.get("kind", "learned"), text=words, quote=reply.strip(), turn_index=turn,
                provenance="confirmed")
