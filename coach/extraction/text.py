"""Text helpers shared by the extractors: sentences with offsets, lead-ins and clean-ups. The
cue patterns themselves are the shared vocabulary in :mod:`coach.cues`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from coach.cues import (  # noqa: F401  (re-exported: the extractors' cues)
    _SENT,
    ACTION_CUE,
    AFTER_CUE,
    ASIDE,
    BEFORE_CUE,
    CORRECTION,
    DENIAL,
    HEDGE,
    INJECTION,
    LEARN_CUE,
    REJECT_START,
    STRONG_AFTER,
    SUGGESTION,
    SURPRISE_SPLIT,
    hedged,
    in_injection,
    injection_spans,
    is_question,
)


@dataclass(frozen=True)
class Sentence:
    text: str  # verbatim slice of the turn
    turn: int  # transcript index of the turn
    pos: int  # position of the sentence within the turn


# A line of notes starts with a bullet ("- algorithm pushes to strangers first"); the bullet is no
# part of what was said.
BULLET = re.compile(r"^\s*(?:[-*•–—·]+|\d+[.)])\s+")


def sentences(text: str, turn: int) -> list[Sentence]:
    """Split a turn into sentences, each an exact substring (so it can be quoted). A line break
    ends a sentence too: notes put one point per line, often without a full stop."""
    out: list[Sentence] = []
    for line in text.splitlines():
        bullet = BULLET.match(line)
        for m in _SENT.finditer(line[bullet.end():] if bullet else line):
            s = m.group(0).strip()
            if len(s) >= 2:
                out.append(Sentence(s, turn, len(out)))
    return out




LEAD_IN = re.compile(
    r"^\s*(and|also|so|well|honestly|actually|okay|ok|yes|yeah|first|second|two things)[,:]?\s+|"
    r"^\s*(what i (learned|learnt|took from it|took away|realised|realized)( is| was)?( that)?|"
    r"i (learned|learnt|realised|realized|found|discovered|understood)( that)?|the (main|big|key) thing (is|was)( that)?|"
    r"that)[,:]?\s+|"
    # the frame of a point the mentor made ("She explained that X", "Tom's point was X"): the point is X
    r"^\s*(i asked [^,.]{0,40} and )?((she|he|they|\w+)( just| also)? (explained|explains|explain|told me|"
    r"tells me|pointed out)|(she|he) (said|says|say))( to)?( me)?( that)?[,:]?\s+(?=\w)|"
    r"^\s*(she|he|they|\w+) (showed|shows|show) me (that\s+|(?=how|why|what))|"
    r"^\s*(\w+'s|her|his|their) point (was|is)( that)?[,:]?\s+|^\s*apparently,?\s+|"
    # how a correction is introduced ("It's more like: ...", "Not quite, ..."): not part of the point
    r"^\s*((it'?s|it was|it is|that'?s)\s+)?(more|rather)\s+like(\s+this)?\s*[:,–—-]\s*|^\s*not quite[,.:;!–—-]*\s+", re.I)


def strip_lead_in(text: str) -> str:
    """'What I learned is that X.' -> 'X.' (for an item's text; the quote stays verbatim)."""
    prev, whole = None, text
    while prev != text:
        prev, text = text, LEAD_IN.sub("", text, count=1)
    if len(text.split()) < 3 <= len(whole.split()):  # "She said so." is not the point "So."
        text = whole
    return text[:1].upper() + text[1:] if text else text


_BEFORE_LEAD = re.compile(r"^\s*(i( had|'d)? (always |just |honestly |originally )?(used to )?(thought|assumed|believed|"
                          r"expected|figured|imagined|presumed|think|believe)|i was (sure|convinced|certain|thinking|under "
                          r"the impression)|thought|assumed|figured|in my head)( that)?[,:]?\s+", re.I)
_AFTER_LEAD = re.compile(r"^\s*(but|now|and|so|in (practice|fact|reality)|(it )?turns out|actually|instead)"
                         r"( that)?[,:]?\s+", re.I)


def clean_before(text: str) -> str:
    t = _BEFORE_LEAD.sub("", strip_lead_in(text).strip(), count=1)
    return t[:1].upper() + t[1:]


def clean_after(text: str) -> str:
    prev = None
    t = text.strip()
    while prev != t:
        prev, t = t, _AFTER_LEAD.sub("", t, count=1)
    return t[:1].upper() + t[1:]
