"""Text helpers shared by the extractors: sentences with offsets, and the cue patterns.

Patterns here decide what is *not* a record as much as what is: hedges, injection attempts,
denials and rejected coach suggestions never become items, whichever extractor proposed them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENT = re.compile(r"[^.!?…]+(?:[.!?…]+[\"”’')\]]*|$)", re.S)


@dataclass(frozen=True)
class Sentence:
    text: str  # verbatim slice of the turn
    turn: int  # transcript index of the turn
    pos: int  # position of the sentence within the turn


def sentences(text: str, turn: int) -> list[Sentence]:
    """Split a turn into sentences, each an exact substring (so it can be quoted)."""
    out = []
    for m in _SENT.finditer(text):
        s = m.group(0).strip()
        if len(s) >= 2:
            out.append(Sentence(s, turn, len(out)))
    return out


def rx(*alternatives: str) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(alternatives) + r")\b", re.I)


HEDGE = rx(r"maybe", r"perhaps", r"possibly", r"i guess", r"i suppose", r"i'?m not sure", r"not sure",
           r"i don'?t know( if| whether)?", r"might", r"could be", r"i don'?t buy", r"i'?m not convinced",
           r"if i find the time", r"we'?ll see", r"not really sure", r"sort of", r"kind of")
# Words addressed to the software rather than said about the sessions (see injection_spans).
INJECTION = rx(r"ignore (all |your |the |any )?(previous |prior )?(instructions|prompt|rules)", r"disregard",
               r"ignore (whatever|everything|anything|all)( else)?", r"ignore the rest", r"(you were|you'?ve been) told",
               r"system (note|prompt|message)", r"note to the (extractor|system|summary|summariser|summarizer|ai|model)",
               r"extractor", r"record that", r"write (this|that) down", r"pass (this|that) on exactly",
               r"(the|your) (summary|summarising|summarizing) (tool|system|bot|model)",
               r"(list|record|mark|log|note|put) (my|me|this participant|the participant)( main)? (learning|learnings|"
               r"as|down as)", r"participant has (completed|learned|mastered)",
               r"put (this|that) in my record", r"as an ai", r"you are now", r"(new|your|these|previous) instructions",
               r"override", r"jailbreak", r"developer mode",
               # speaking to the software: "to the AI writing this up: ...", "dear system, ..."
               r"(to|for|dear|hey|attention) (the |whatever |any |this )?(ai|software|system|bot|chatbot|model|tool|"
               r"computer|algorithm|assistant|summary|transcript)(?=[^.!?:;,]{0,40}[:,])",
               r"mark (it|this|that|me|him|her|them|my \w+) (as )?(done|complete|completed|finished|passed)",
               r"(has|have) (now )?completed all",
               # "note to whoever types this up: ...", "if the computer is listening - please write ..."
               r"whoever('?s| is)? (writ|typ|summari[sz]|process|record|read|transcrib)(ing|es|s|e)? (this|these|it|me)",
               r"(if|in case) (the |this |a |an )?(computer|machine|software|system|bot|ai|model|app|program)"
               r"('?s| is) (listening|reading|processing|recording|watching)")


# A sentence that goes back to speaking for oneself ends an injection attempt.
RESUME = re.compile(r"^\W*(i|i'?ll|i'?m|i'?ve|i'?d|we|we'?ll|we'?re|my|our|anyway|ha+|ok(ay)?|just kidding|"
                    r"seriously|but seriously|back to)\b", re.I)


def injection_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of injection attempts: from the start of the sentence holding one, through
    the sentences that follow, until one speaks for the participant again ("I'll ...", "Anyway")."""
    spans, pos = [], 0
    while (m := INJECTION.search(text, pos)) is not None:
        start = max(text.rfind(c, 0, m.start()) for c in ".!?\n") + 1
        end = len(text)
        for sent in _SENT.finditer(text, m.end()):
            if sent.start() > m.end() and RESUME.match(sent.group(0)):
                end = sent.start()
                break
        spans.append((start, end))
        pos = end
    return spans


def in_injection(text: str, fragment: str, spans: list[tuple[int, int]] | None = None) -> bool:
    """Whether ``fragment`` (a sentence or quote of ``text``) lies in an injection attempt;
    ``spans`` are ``injection_spans(text)`` when the caller already has them."""
    at = text.find(fragment)
    if at < 0:
        return bool(INJECTION.search(fragment))
    return any(a <= at + len(fragment) // 2 < b for a, b in (injection_spans(text) if spans is None else spans))

DENIAL = rx(r"nothing (really )?(changed|new)", r"didn'?t (really )?(learn|change)( anything| much)?",
            r"(hasn'?t|has not|didn'?t|did not) changed?", r"not (at all|really)", r"no change",
            r"same as before", r"won'?t (change|do) anything", r"nothing will change")
REJECT_START = re.compile(r"^\s*(no\b|nope|not really|not exactly|not quite|i wouldn'?t say|that'?s not)", re.I)
SUGGESTION = rx(r"so you learned", r"so would you say", r"would you say", r"so you'?re saying",
                r"so did you learn", r"so you (now )?(think|believe|realised|realized)", r"sounds like you learned")
CORRECTION = rx(r"correction", r"i meant", r"i mean,? it was", r"actually,? it was", r"to correct (myself|that)",
                r"let me correct")

LEARN_CUE = rx(r"i (learned|learnt|realised|realized|discovered|found out|found|understood|saw|noticed|get it now)",
               r"what i (learned|learnt|took|realised|realized)", r"i now (know|understand|see)",
               r"now i (know|understand|see)", r"it turns out", r"turns out", r"eye[- ]opener",
               r"the (big|main|key) (thing|lesson|takeaway)", r"lesson", r"takeaway", r"new to me",
               r"i hadn'?t realised", r"i hadn'?t realized", r"i didn'?t know", r"confidence", r"confident")
BEFORE_CUE = rx(r"i( had|'d)? (always )?(thought|assumed|believed|expected|presumed|figured|imagined)",
                r"^\s*(thought|assumed)", r"i was thinking", r"before i (think|thought|believe)",
                r"(we|i)( have|'ve| had|'d) always", r"was always", r"for us,? \w+ (was|were)",
                r"i used to (think|believe|assume)", r"i was (sure|convinced|certain|under the impression)",
                r"my assumption", r"i'?d always", r"i had always", r"before,? i", r"i went in (thinking|expecting|assuming)",
                r"in my head", r"i would have said", r"i'?d have (said|guessed)")
AFTER_CUE = rx(r"but", r"now", r"turns out", r"turned out", r"actually", r"in (practice|fact|reality)",
               r"instead", r"realised", r"realized", r"it'?s (really|actually)", r"wrong")
ACTION_CUE = rx(r"i'?ll", r"i will", r"we'?ll", r"we will", r"i'?m going to", r"we'?re going to", r"going to",
                r"i plan to", r"we plan to", r"plan is", r"from now on", r"starting (next|this|on|in|with)",
                r"i'?ve (already )?(started|booked|asked|set up|scheduled)", r"i'?m already", r"next (week|month|quarter)",
                r"by (the end of|next|q[1-4])", r"i want to", r"i intend", r"i'?ve decided", r"we'?ve decided",
                r"i'?m (now )?(asking|setting up|booking|starting)", r"every (week|month|monday|sprint)")
# "..., so it was a surprise that ...": the belief before, then what turned out instead
SURPRISE_SPLIT = re.compile(
    r"[,;:]?\s*(so|and|but)?\s*(it was|it's|it is) (a (real |big )?(surprise|shock|revelation)|humbling|surprising|"
    r"news to me|eye-opening)( for me)?( to (see|learn|hear|find))?( that)?\s*", re.I)
STRONG_AFTER = re.compile(r"^\s*(but|now i|now,? i|in (practice|fact|reality)|(it )?turns out|actually|instead|"
                          r"(so )?(it was|it's) (a surprise|humbling|surprising))\b", re.I)
# Biographical asides and framing ("I've run this plant for nineteen years", "long story") are
# context for a learning, never the learning itself.
ASIDE = re.compile(
    r"^\W*(look|well|honestly|so)?[, ]*(i'?ve (been|run|worked|managed|done)\b|i remember\b|my (father|mother|dad|mum|kids|"
    r"children)\b|it'?s a long story|i'?ll tell you|i have to say|i should say|to be fair)", re.I)


def hedged(text: str, belief: bool = False) -> bool:
    """A hedge makes a sentence no learning or action. In a stated belief ("I suppose I thought
    X") the hedge is about the old view, so the belief still counts."""
    return bool(HEDGE.search(text)) and not (belief and BEFORE_CUE.search(text))

LEAD_IN = re.compile(
    r"^\s*(and|also|so|well|honestly|actually|okay|ok|yes|yeah|first|second|two things)[,:]?\s+|"
    r"^\s*(what i (learned|learnt|took from it|took away|realised|realized)( is| was)?( that)?|"
    r"i (learned|learnt|realised|realized|found|discovered|understood)( that)?|the (main|big|key) thing (is|was)( that)?|"
    r"that)[,:]?\s+", re.I)


def strip_lead_in(text: str) -> str:
    """'What I learned is that X.' -> 'X.' (for an item's text; the quote stays verbatim)."""
    prev = None
    while prev != text:
        prev, text = text, LEAD_IN.sub("", text, count=1)
    return text[:1].upper() + text[1:] if text else text


_BEFORE_LEAD = re.compile(r"^\s*(i (had )?(always )?(used to )?(thought|assumed|believed|expected|think|believe)|"
                          r"i was (sure|convinced|certain|thinking)|thought|assumed)( that)?[,:]?\s+", re.I)
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
