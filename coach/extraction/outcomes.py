"""Outcomes: what became of each action a debrief recorded, read from a follow-up conversation.

Offline and deterministic: the participant's answers are lined up with the actions (the live
follow-up says on each coach turn which action it asks about; a transcript from elsewhere is
lined up by the words of the action the coach's question repeats), the status is read with the
signals of coach.extraction.status, and, when none says it, by the nearest of a few
example answers in MiniLM's space (the sentence model the extractor already uses). Every item
quotes one sentence of one participant turn verbatim; sentences that address the software
(coach.cues.injection_spans) are never read, so words in an answer cannot set a status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from coach.cues import (
    FILLER,
    NO_START,
    YES_START,
    content_words,
    injection_spans,
    names_a_decision,
    sentences_of,
)
from coach.extraction.records import Item, Turn
from coach.extraction.status import action_status, status_in

STATUS_WORDS = {"done": "done", "partly": "partly done", "not_yet": "not yet", "dropped": "dropped"}
MAX_SENTENCES = 5  # what happened: at most this many sentences of the first answer
ACTION_MATCH = 0.34  # share of an action's own words a coach question must repeat to be about it
MEANT = 0.42  # else: the sentence model's cosine between question and action, and its lead over the next
MEANT_MARGIN = 0.1
# When no cue says it: a few answers of each kind (written for this, not taken from any eval set).
PROTOTYPES = {
    "done": ["It's done and it worked.", "We did it last month and it went well.", "Yes, that happened as planned."],
    "partly": ["I did some of it but not all.", "It's half finished and stuck.", "Started it, then it stalled."],
    "not_yet": ["I haven't got to it yet, it's planned for next month.", "Not started, it's still on my list."],
    "dropped": ["We decided not to do it in the end.", "That's off, it isn't going to happen.",
                "It was cancelled, not needed any more."],
}
_WORD = re.compile(r"[a-z][a-z'-]+")
STOP = FILLER | frozenset("would will said also next last time each every one two into than then what how".split())


_ENDING = re.compile(r"(?<=[a-z]{3}[^s])s$")


def stems(text: str) -> set[str]:
    """An action's own words without a plural or verb ending, cut to five letters (licence/licences,
    swap/swaps, lead/leading)."""
    return {_ENDING.sub("", w)[:5] for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 2}


@dataclass
class Segment:
    """The participant's sentences about one action, in order: (turn index, sentence, coach question)."""

    sentences: list[tuple[int, str, str]] = field(default_factory=list)

    def text(self) -> str:
        return " ".join(s for _, s, _ in self.sentences)


def about(coach_text: str, actions: list[str]) -> list[int]:
    """The actions a coach question is about, best first: those whose own words it repeats, else
    the one it means in other words ("And the price rises in the flagged postcodes?" for "Put up
    prices in the postcodes the model flags as high risk"), by the sentence model."""
    words = stems(coach_text)
    owns = [stems(a) for a in actions]
    common = _common(owns)
    scored = []
    for i, own in enumerate(owns):
        if own:
            share = len(own & words) / len(own)
            # or two words of its own that no other action has ("the video walkarounds" for a long action)
            if share >= ACTION_MATCH or len((own - common) & words) >= 2:
                scored.append((share, i))
    if scored:
        return [i for _, i in sorted(scored, reverse=True)]
    return meant(coach_text, actions)


def _common(owns: list[set[str]]) -> set[str]:
    """Words more than one action has."""
    seen: set[str] = set()
    twice: set[str] = set()
    for own in owns:
        twice |= seen & own
        seen |= own
    return twice


def meant(coach_text: str, actions: list[str]) -> list[int]:
    """The one action a question is closest to in meaning, when it stands clearly above the rest."""
    if not actions or len(stems(coach_text)) < 1:
        return []
    from coach.embeddings import MiniLM

    vecs = MiniLM.shared().embed([coach_text, *actions])
    sims = vecs[1:] @ vecs[0]
    order = np.argsort(-sims)
    best = float(sims[order[0]])
    runner_up = float(sims[order[1]]) if len(actions) > 1 else -1.0
    return [int(order[0])] if best >= MEANT and best - runner_up >= MEANT_MARGIN else []


# "Let's go through your three. Start wherever you like.": a question about every action at once.
EVERY_ACTION = re.compile(r"\b(both( of them)?|all (two|three|of them)|your (two|three)|the (two|three) (things|actions|of them)|"
                          r"each of them|wherever you (like|want)|in any order|how did (they|those) go)\b", re.I)
SINCE = re.compile(r"\b(taught|led|teach(ing)?|lead(ing)?)\b.*\bsince\b|\bsince\b.*\b(taught|led|teaching|leading)\b", re.I)


def segments(turns: list[Turn], actions: list[str]) -> tuple[list[Segment], Segment]:
    """One segment per action, and the answers about teaching or leading since (a junior's)."""
    segs = [Segment() for _ in actions]
    since = Segment()
    current: int | str | None = None
    multi = False  # the question named several actions: each sentence goes to the one it names
    group: list[int] = []
    question = ""
    for k, t in enumerate(turns):
        meta = t.meta or {}
        if t.speaker == "coach":
            question = t.text
            slot = meta.get("slot")
            if isinstance(slot, str) and slot.startswith("a") and slot[1:].isdigit():
                current, multi = int(slot[1:]), False
            elif slot == "since" or (slot is None and SINCE.search(t.text)):
                current, multi = "since", False
            elif slot is None:
                named = about(t.text, actions)
                if named:
                    current, multi, group = named[0], len(named) > 1, named
                elif len(actions) > 1 and EVERY_ACTION.search(t.text):
                    current, multi, group = 0, True, list(range(len(actions)))
                elif current is None and actions:
                    current = 0
                elif isinstance(current, int) and turns_to_next(t.text, segs, current):
                    current, multi = current + 1, False
            continue
        if not t.is_participant_words or meta.get("summary"):
            continue
        spans = injection_spans(t.text)
        spoken: int | str | None = None  # the action the answer's own sentences last named
        for sent in sentences_of(t.text):
            at = t.text.find(sent)
            if any(a <= at < b for a, b in spans):
                continue  # words to the software: never evidence
            if multi and spoken is None and ACK_ONLY.match(sent):
                continue  # "Yes." to "Shall we go through them?": about none of them
            turned = about_sentence(sent, actions, loose=multi, after=current if isinstance(current, int) else None)
            if turned is None and multi and (turned := listed_item(sent, group)) is not None:
                sent = ORDINAL.sub("", sent, count=1)  # "One: moved three times" is read as "moved three times"
            if turned is not None:
                current = spoken = turned
            if multi and spoken is None:  # "Neither, honestly.": about every action the question named
                for i in group:
                    segs[i].sentences.append((k, sent, question))
                continue
            target = since if current == "since" else segs[current] if isinstance(current, int) else None
            if target is not None:
                target.sentences.append((k, sent, question))
    return segs, since


# "And the other one?", "Second one: the dashboard": a question moving on, not a follow-up on the same action.
MOVES_ON = re.compile(r"^\W*(and|what about|how about|now|next|then|so|second(ly)?|third(ly)?|finally|last(ly)?|moving on|"
                      r"on to|the other)\b", re.I)
FOLLOWS_UP = re.compile(r"\b(why|what (got|happened|did|made|would|was)|how (did|was|come|has|is)|did (it|that|they|you|he|she)|"
                        r"has (it|that|he|she)|was (it|that)|anything|go on|say more|in the way|decision|taught|led|since|"
                        r"surprise|feel|felt|notice|mean|so (it|that|you|a)|it'?s|that'?s)\b", re.I)


def turns_to_next(question: str, segs: list[Segment], current: int) -> bool:
    """A question naming no action moves on to the next one when it reads as moving on, the current
    action has been answered and the next one not yet (people take them in the order they were set)."""
    nxt = current + 1
    return (nxt < len(segs) and bool(segs[current].sentences) and not segs[nxt].sentences
            and bool(MOVES_ON.search(question)) and not FOLLOWS_UP.search(question))


# "One: the walkthrough." / "Secondly, the log": an answer taking the actions in turn, as a list
ORDINAL = re.compile(r"^\W*(?:(one|first|firstly|1)|(two|second|secondly|2)|(three|third|thirdly|3))\s*[:.),–—-]\s", re.I)
ACK_ONLY = re.compile(r"^\W*(yes|yeah|yep|sure|ok(ay)?|right|fine|of course|go on|sounds good|let'?s)\W*$", re.I)


def listed_item(sentence: str, group: list[int]) -> int | None:
    """The action a list item of the answer is about: the n-th of those the question asked about."""
    m = ORDINAL.match(sentence)
    if not m:
        return None
    n = next(i for i in range(3) if m.group(i + 1))
    return group[n] if n < len(group) else None


def about_sentence(sentence: str, actions: list[str], loose: bool = False, after: int | None = None) -> int | None:
    """The action a sentence of an answer turns to, if it plainly names one ("But the thing that's
    made the difference is letting people swap shifts in the app"): two of its words and a third
    of them; in an answer to a question about several actions, one word is enough. Words every
    action shares ("tests" in three actions about user tests) tell them apart no more than "the"."""
    words = stems(sentence)
    owns = [stems(a) for a in actions]
    shared = set.intersection(*owns) if len(owns) > 1 else set()
    best = None
    for i, own in enumerate(owns):
        n = len((own - shared) & words)
        if own and (n >= 1 if loose else n >= 2 and n / len(own) >= ACTION_MATCH):
            # on a tie, the next action after the one being answered: people take them in order
            if best is None or n > best[0] or (n == best[0] and after is not None and best[1] <= after < i):
                best = (n, i)
    return best[1] if best else None


# The first answer's status, and what the answers together say, when the later words are the truer reading.
ASKS_OTHER = re.compile(r"\bdecisions?\b|\b(taught|led)\b", re.I)
LATER_SAYS_MORE = {("done", "partly"), ("not_yet", "dropped"), (None, "dropped")}


def status_of(seg: Segment) -> str | None:
    """The cues of the first answer, then of all answers; then the nearest example answer."""
    if not seg.sentences:
        return None
    # An answer to "did it change a decision?" is about the decision ("Not yet. I want three months
    # of it first."), not about what became of the action.
    about_it = [x for x in seg.sentences if not ASKS_OTHER.search(x[2])] or seg.sentences
    by_turn: dict[int, list[str]] = {}
    for k, s, _ in about_it:
        by_turn.setdefault(k, []).append(s)
    answers = [" ".join(v) for v in by_turn.values()]
    for turn, sents in by_turn.items():  # the answer to "done, partly done, ...?" settles it
        q = next(q for t, _, q in seg.sentences if t == turn)
        if "partly done" in q and (st := status_in(" ".join(sents))):  # a bare "Yes" names none
            return st
    first, whole = action_status(answers[0]), action_status(" ".join(answers))
    if (first, whole) in LATER_SAYS_MORE:  # "That's written." ... "It's sitting in my drafts."
        return whole
    return first or whole or nearest_status(answers[0])


@lru_cache(maxsize=1)
def _prototype_vectors() -> tuple[list[str], np.ndarray]:
    from coach.embeddings import MiniLM

    labels = [s for s, texts in PROTOTYPES.items() for _ in texts]
    return labels, MiniLM.shared().embed([t for texts in PROTOTYPES.values() for t in texts])


def nearest_status(answer: str) -> str:
    from coach.embeddings import MiniLM

    labels, vecs = _prototype_vectors()
    v = MiniLM.shared().embed([answer])[0]
    return labels[int(np.argmax(vecs @ v))]


def what_happened(seg: Segment, turns: list[Turn], most: int = MAX_SENTENCES) -> tuple[int, str] | None:
    """What the participant said happened: their first answer about the action, as one verbatim
    span of their turn (up to ``most`` sentences, never into words addressed to the software)."""
    if not seg.sentences:
        return None
    k = seg.sentences[0][0]
    mine = [s for t, s, _ in seg.sentences if t == k][:most]
    text = turns[k].text
    start = text.find(mine[0])
    end = start
    for sent in mine:  # the span runs on only through this action's own sentences, in order
        at = text.find(sent, end)
        if at < 0 or text[end:at].strip():
            break
        end = at + len(sent)
    return k, text[start:end]


def decision_of(seg: Segment, role: str) -> tuple[int, str] | None:
    """A senior's decision the action changed: their answer to "did it change a decision", unless
    it says no; else a sentence elsewhere that names one ("I didn't renew the contract")."""
    if role != "senior":
        return None
    by_turn: dict[int, list[str]] = {}
    asked: dict[int, str] = {}
    for k, s, q in seg.sentences:
        by_turn.setdefault(k, []).append(s)
        asked[k] = q
    for k, sents in by_turn.items():
        if "decision" not in asked[k].lower():
            continue
        first = sents[0]
        if NO_START.match(first) and not any(names_a_decision(s) for s in sents):
            return None
        said = [s for s in sents if not (YES_START.match(s) and content_words(s) <= 2)]
        if said and (YES_START.match(first) or any(names_a_decision(s) for s in sents) or content_words(said[0]) >= 4):
            return k, next((s for s in said if names_a_decision(s)), said[0])
    return None


def extract_outcomes(turns: list[Turn], actions: list[dict], role: str) -> list[Item]:
    """Outcome items, one per action the participant answered about (``actions``: {"text",
    "record"}), the teaching or leading since as "taught", and items added in the summary."""
    texts = [a["text"] for a in actions]
    segs, since = segments(turns, texts)
    items: list[Item] = []
    for a, seg in zip(actions, segs):
        status, said = status_of(seg), what_happened(seg, turns)
        if status is None or said is None:
            continue
        decision = decision_of(seg, role)
        items.append(Item(kind="outcome", text=said[1], quote=said[1], turn_index=said[0], detail={
            "action": a["text"], "action_record": a.get("record"), "status": status,
            "decision_changed": decision[1] if decision else None, "decision_quote": decision[1] if decision else None}))
    said = what_happened(since, turns, most=2)
    if said and not NO_START.match(since.sentences[0][1]) and content_words(said[1]) >= 3:
        items.append(Item(kind="taught", text=said[1], quote=said[1], turn_index=said[0]))
    return _summary_changes(turns, items, actions)


def _summary_changes(turns: list[Turn], items: list[Item], actions: list[dict] | None = None) -> list[Item]:
    """What the participant wrote in the summary: an outcome reworded (their words, same action),
    what became of an action put right (its status), an item they added, or what became of an
    action added from scratch (their words, the status they chose, linked to that action; it
    takes the place of any outcome read for the action from the conversation)."""
    actions = actions or []
    for k, t in enumerate(turns):
        meta = t.meta or {}
        if t.speaker != "participant" or not meta.get("summary"):
            continue
        if meta["summary"] in ("reword", "status"):
            for it in items:
                if it.quote != meta.get("quote"):
                    continue
                if meta.get("status") and it.kind == "outcome":  # what became of it, as they put it right
                    it.detail = {**(it.detail or {}), "status": meta["status"]}
                    it.provenance = "participant"
                if meta["summary"] == "reword":
                    it.text, it.quote, it.turn_index, it.provenance = t.text, t.text, k, "participant"
        elif meta["summary"] == "add" and meta.get("kind") == "outcome":
            slot, status = str(meta.get("slot") or ""), meta.get("status")
            if not (slot[:1] == "a" and slot[1:].isdigit() and int(slot[1:]) < len(actions)) or \
                    status not in STATUS_WORDS:
                continue
            a = actions[int(slot[1:])]
            items = [it for it in items if not (it.kind == "outcome" and (it.detail or {}).get("action") == a["text"]
                                                and (it.detail or {}).get("action_record") == a.get("record"))]
            at = meta.get("from") if isinstance(meta.get("from"), int) and 0 <= meta["from"] < len(t.text) else 0
            said = t.text[at:]  # their words as typed, after the line saying which action and its status
            items.append(Item(kind="outcome", text=said, quote=said, turn_index=k, provenance="participant",
                              detail={"action": a["text"], "action_record": a.get("record"), "status": status,
                                      "decision_changed": None, "decision_quote": None}))
        elif meta["summary"] == "add" and meta.get("kind") in ("learned", "action", "taught"):
            items.append(Item(kind=meta["kind"], text=t.text, quote=t.text, turn_index=k, provenance="participant"))
    return [it for it in items if _grounded(it, turns)]


def _grounded(item: Item, turns: list[Turn]) -> bool:
    k = item.turn_index
    return k is not None and 0 <= k < len(turns) and turns[k].speaker == "participant" and item.quote in turns[k].text
