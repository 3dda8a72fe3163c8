"""The debrief interview: a protocol (data in ``prompts/protocol/``) run by rule-based probes.

Pure logic, no I/O: :class:`Interview` reads and updates a JSON-able ``state`` dict that the
caller stores with each turn, so an interrupted interview resumes exactly where it stopped.

One question per turn. After each answer the rules may ask a follow-up (at most
``max_probes`` per question):

- ``vague``: a very short answer, or a short one made only of generic words;
- ``example``: the question needs a concrete example and the answer has none;
- ``before``: the beliefs answer does not say what the participant believed before (as when a
  change of mind is mentioned without the earlier belief);
- ``after``: an earlier belief is stated without what the participant thinks now;
- ``contradiction``: the answer denies what the participant affirmed earlier.

Coach messages come only from the protocol text and the participant's own words (quoted back);
the coach never suggests what the participant learned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coach.prompts import default_prompts_dir

# -- the protocol ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    id: str
    label: str
    question: str
    needs: tuple[str, ...] = ()
    probes: dict = field(default_factory=dict)
    baseline_question: str | None = None
    max_probes: int | None = None  # overrides the protocol's


@dataclass(frozen=True)
class Protocol:
    role: str
    intro: str
    closing: str
    max_probes: int
    slots: tuple[Slot, ...]
    closing_early: str = ""  # when the participant ends before the last question

    def slot(self, slot_id: str) -> Slot:
        for s in self.slots:
            if s.id == slot_id:
                return s
        raise KeyError(f"no question {slot_id!r} in the {self.role} protocol")

    @classmethod
    def load(cls, role: str, prompts_dir: Path | None = None) -> "Protocol":
        path = (prompts_dir or default_prompts_dir()) / "protocol" / f"{role}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        slots = tuple(
            Slot(id=s["id"], label=s["label"], question=s["question"], needs=tuple(s.get("needs", ())),
                 probes=dict(s.get("probes", {})), baseline_question=s.get("baseline_question"),
                 max_probes=s.get("max_probes"))
            for s in data["slots"]
        )
        return cls(role=data["role"], intro=data["intro"].strip(), closing=data["closing"].strip(),
                   closing_early=(data.get("closing_early") or data["closing"]).strip(),
                   max_probes=int(data.get("max_probes", 2)), slots=slots)


def _baseline_entries(prompts_dir: Path | None) -> list[dict]:
    path = (prompts_dir or default_prompts_dir()) / "protocol" / "baseline.yaml"
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    return [e if isinstance(e, dict) else {"ask": e} for e in entries]


def baseline_questions(prompts_dir: Path | None = None) -> list[str]:
    """The starting questions put to the senior when a pair is created."""
    return [e["ask"] for e in _baseline_entries(prompts_dir)]


def baseline_returns(prompts_dir: Path | None = None) -> dict[str, str]:
    """Starting question -> how the debrief returns to its answer, where it has its own way."""
    return {e["ask"]: e["then"] for e in _baseline_entries(prompts_dir) if e.get("then")}


# -- probe rules -------------------------------------------------------------------------------

_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
# Words that carry no content of their own: function words and generic evaluations.
FILLER = frozenset("""
a an the and or but so of to in on at for with about from by as it its it's this that these those there
i i'm i've i'd me my we our you your he she they them his her their is was were be been being am are do
did does done have has had will would can could should just really very quite so much many lot lots loads
thing things stuff everything something anything nothing all some more most well yes no not maybe perhaps
honestly totally actually good great fine ok okay nice interesting useful helpful amazing awesome brilliant
fantastic fun cool sure know think learned learnt learn new sessions session overall pretty kind sort
oh gosh wow wonderful incredible excellent superb loved love best eye-opening everyone raving went deep
felt feel bit guess suppose like um hmm mean taught teach gained gain lot stuff
""".split())
EXAMPLE = re.compile(
    r"\b(for example|for instance|e\.g\.|such as|like when|when (she|he|they|we|i)|one time|"
    r"last (week|month|time|session)|yesterday|in (the|our|one) (first|second|third|fourth|last|\w+) "
    r"session|(she|he|they) (showed|show|walked|took|pulled|opened|open)|showed me|show me|"
    r"we (looked at|opened|watched|built|practised|practiced|picked|went through|listened|tried|ran)|"
    r"i (watched|saw|opened|searched for|posted)|(took|walked|talked) me through)\b|\d", re.I)
# Someone named doing something: "Chen ran forty abstracts ...", "Femi pulled the numbers". ("I
# showed him how ..." is not here: for a junior that is what they taught, not an example of it.)
NAMED_DEED = re.compile(r"\b(?!(I|It|This|That|There|What|Which|Who|Nothing|Everything|Something|Anything|Nobody|"
                        r"Everyone|Everybody|Someone|People|They|We|You|Research|Data|Management)\b)"
                        r"(?![A-Z][a-z]*(ers|ors|ies|ents|ants|ists|ians|ees|ties)\b)"  # plural nouns: "Customers found"
                        r"[A-Z][a-z]+ (ran|rebuilt|pulled|films|filmed|took|surveyed|"
                        r"asked|built|build|explain|explained|showed|show|made|set up|walked|played|opened|"
                        r"searched|sent|typed|tried|found|demonstrated)\b")
BEFORE = re.compile(
    r"\b(i (used to|had|always|once) (think|thought|believe|believed|assume|assumed)|i thought|i assumed|"
    r"i believed|i was (sure|convinced|certain|thinking)|i expected|my assumption|i had assumed|"
    r"before,? i|before the sessions|previously|beforehand|in the past|at first)\b", re.I)
AFTER = re.compile(r"\b(now|turns out|turned out|actually|but|realis|realiz|learned|learnt|no longer)\w*", re.I)
# A flat denial ("nothing will change") can contradict an earlier answer; a hedge only thins one.
DENIAL = re.compile(
    r"\b(didn'?t (really )?(learn|teach|gain|change) anything|learned nothing|learnt nothing|nothing new|"
    r"nothing (has )?changed|won'?t (change|do) anything|nothing will change|not going to change anything|"
    r"won'?t do anything differently|no different(ly)?)\b", re.I)
HEDGE = re.compile(
    r"\b(didn'?t (really )?(learn|teach|gain|change) much|not (much|really)|not sure|nothing special|"
    r"(views?|mind) (didn'?t|did not|hasn'?t) change|just the basics)\b", re.I)
# Slots whose substantive answers a later denial may contradict.
AFFIRMING_SLOTS = ("learned", "beliefs", "action", "taught", "gained")


def words(text: str) -> int:
    return len(_WORD.findall(text))


TIME = re.compile(
    r"\b(today|tomorrow|tonight|next|this (week|month|quarter|year|sprint)|by|from|starting|before|after|"
    r"monday|tuesday|wednesday|thursday|friday|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|q[1-4]|sprint|weekly|monthly|every|each|soon|immediately)\b|\d", re.I)


def content_words(text: str, ignore: frozenset[str] = frozenset()) -> int:
    """Words that say something: not filler, and not merely the topic's own words."""
    return sum(w.lower().strip("'’") not in FILLER and w.lower() not in ignore for w in _WORD.findall(text))


def topic_words(topic: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(topic or ""))


def is_vague(text: str, topic: frozenset[str] = frozenset()) -> bool:
    """Too thin to record: almost no content beyond filler and the topic's name, a hedge or
    denial with little else ("not much, really"), or exclamations without substance."""
    n, c = words(text), content_words(text, topic)
    if n <= 3 or c <= 2:
        return True
    if (DENIAL.search(text) or HEDGE.search(text)) and c <= 8:
        return True
    return text.count("!") >= 2 and c <= 5


def has_time(text: str) -> bool:
    return bool(TIME.search(text))


def has_example(text: str) -> bool:
    return bool(EXAMPLE.search(text) or NAMED_DEED.search(text))


def states_before(text: str) -> bool:
    return bool(BEFORE.search(text))


def states_after(text: str) -> bool:
    return bool(AFTER.search(text))


def first_sentence(text: str, limit: int = 160) -> str:
    s = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def find_contradiction(text: str, earlier: dict[str, list[str]]) -> tuple[str, str] | None:
    """(slot, earlier words) if this answer denies what a substantive earlier answer affirmed."""
    if not DENIAL.search(text):
        return None
    for slot_id in AFFIRMING_SLOTS:
        for prev in earlier.get(slot_id, []):
            if not DENIAL.search(prev) and not HEDGE.search(prev) and not is_vague(prev):
                return slot_id, first_sentence(prev)
    return None


# -- the interview state machine ---------------------------------------------------------------


@dataclass
class Step:
    """What the coach says next. ``intent`` is the protocol text a model may rephrase."""

    text: str
    kind: str  # intro | question | probe | ack | closing
    slot: str | None = None
    probe: str | None = None
    done: bool = False


class Interview:
    def __init__(self, protocol: Protocol, baseline: list | None = None, topic: str = ""):
        """``baseline``: the senior's starting answers, each a string or (answer, how to return
        to it: a template with ``{belief}``, or None for the beliefs question's own)."""
        self.p = protocol
        pairs = [b if isinstance(b, tuple) else (b, None) for b in (baseline or [])]
        pairs = [(a, then) for a, then in pairs if a and a.strip()]
        self.baseline = [a for a, _ in pairs]
        self.baseline_then = [then for _, then in pairs]
        self.topic = topic

    # state ------------------------------------------------------------------------------

    def new_state(self) -> dict:
        plan = []
        for s in self.p.slots:
            if s.baseline_question and self.baseline:
                plan += [{"slot": s.id, "belief": i} for i in range(len(self.baseline))]
            else:
                plan.append({"slot": s.id})
        return {"plan": plan, "pos": 0, "probes": 0, "asked": [], "status": {}, "answers": {},
                "topic_words": sorted(topic_words(self.topic)),
                "contradiction_checked": [], "done": False, "ended_early": False, "processed": -1}

    def current(self, state: dict) -> dict | None:
        return state["plan"][state["pos"]] if state["pos"] < len(state["plan"]) else None

    def progress(self, state: dict) -> list[tuple[str, str]]:
        """(label, status) per slot: done | skipped | current | todo."""
        cur = self.current(state)
        out = []
        for s in self.p.slots:
            st = state["status"].get(s.id)
            if cur and cur["slot"] == s.id and not state["done"]:
                st = "current"
            out.append((s.label, st or "todo"))
        return out

    # steps ------------------------------------------------------------------------------

    def _question(self, state: dict) -> Step:
        item = self.current(state)
        if item is None:
            state["done"] = True
            return Step(self.p.closing, "closing", done=True)
        slot = self.p.slot(item["slot"])
        if "belief" in item:
            belief = first_sentence(self.baseline[item["belief"]], 240)
            if not belief.endswith((".", "!", "?", "…")):
                belief += "."
            text = (self.baseline_then[item["belief"]] or slot.baseline_question).format(belief=belief)
        else:
            text = slot.question
        return Step(text, "question", slot=slot.id)

    def start(self, state: dict) -> list[Step]:
        return [Step(self.p.intro, "intro"), self._question(state)]

    def _advance(self, state: dict) -> Step:
        state["pos"] += 1
        state["probes"] = 0
        state["asked"] = []
        return self._question(state)

    def answer(self, state: dict, text: str, turn_idx: int) -> Step:
        """Record an answer to the current question and decide the next coach message."""
        state["processed"] = turn_idx
        item = self.current(state)
        if item is None or state["done"]:
            state["done"] = True
            return Step(self.p.closing, "closing", done=True)
        slot = self.p.slot(item["slot"])
        answers = state["answers"].setdefault(slot.id, [])
        answers.append(turn_idx)
        texts = state.setdefault("texts", {}).setdefault(slot.id, [])
        texts.append(text)
        if not is_vague(text, frozenset(state.get("topic_words", ()))) or state["status"].get(slot.id) == "done":
            state["status"][slot.id] = "done"
        else:
            state["status"].setdefault(slot.id, "partial")

        probe = self._probe(state, slot, item, text)
        if probe and state["probes"] < (slot.max_probes or self.p.max_probes):
            state["probes"] += 1
            state["asked"].append(probe[0])
            return Step(probe[1], "probe", slot=slot.id, probe=probe[0])
        return self._advance(state)

    def _probe(self, state: dict, slot: Slot, item: dict, text: str) -> tuple[str, str] | None:
        asked = state["asked"]
        earlier = {k: v for k, v in state.get("texts", {}).items() if k != slot.id}
        if slot.id not in state["contradiction_checked"]:
            hit = find_contradiction(text, earlier)
            if hit:
                state["contradiction_checked"].append(slot.id)
                return "contradiction", (
                    f"Earlier you said: “{hit[1]}”. What you just said sounds different. "
                    "Which is closer to what you think, or how do the two fit together?")
        so_far = " ".join(state["texts"][slot.id])
        topic = frozenset(state.get("topic_words", ()))
        thin = is_vague(so_far, topic)
        if "belief" in item:  # the earlier belief is known: ask only for what they think now
            if (thin or not states_after(so_far)) and "after" not in asked:
                return "after", "What do you think now, and what in the sessions made the difference?"
            return None
        # the beliefs question is about before and after: ask for whichever is missing first
        if "before" in slot.needs:
            if not states_before(so_far) and "before" not in asked:
                return "before", slot.probes["before"]
            if not states_after(so_far) and "after" not in asked and "after" in slot.probes:
                return "after", slot.probes["after"]
        if thin and "vague" not in asked and "vague" in slot.probes:
            return "vague", slot.probes["vague"]
        if "example" in slot.needs and not has_example(so_far) and "example" not in asked:
            return "example", slot.probes["example"]
        if "when" in slot.needs and not has_time(so_far) and "vague" not in asked and "vague" in slot.probes:
            return "vague", slot.probes["vague"]
        return None

    def skip(self, state: dict, turn_idx: int | None = None) -> Step:
        if turn_idx is not None:
            state["processed"] = turn_idx
        item = self.current(state)
        if item is not None and state["status"].get(item["slot"]) != "done":
            state["status"][item["slot"]] = "skipped"
        return self._advance(state)

    def end(self, state: dict, turn_idx: int | None = None) -> Step:
        if turn_idx is not None:
            state["processed"] = turn_idx
        state["done"] = True
        state["ended_early"] = self.current(state) is not None
        return Step(self.p.closing_early if state["ended_early"] else self.p.closing, "closing", done=True)

    def correct(self, state: dict, slot_id: str, text: str, turn_idx: int, replace: bool = True) -> Step:
        """A correction of an earlier answer: recorded against that slot, replacing what was
        said there or adding to it; the interview goes on."""
        self.p.slot(slot_id)  # KeyError on an unknown slot
        state["processed"] = turn_idx
        state["answers"].setdefault(slot_id, []).append(turn_idx)
        texts = state.setdefault("texts", {})
        texts[slot_id] = [text] if replace else [*texts.get(slot_id, []), text]
        state.setdefault("corrections", []).append(turn_idx)
        if not is_vague(text, frozenset(state.get("topic_words", ()))):
            state["status"][slot_id] = "done"
        if state["done"]:
            return Step("Thank you, I've noted your correction. The summary below is updated.", "ack", done=True)
        nxt = self._question(state)
        return Step(f"Thank you, I've noted your correction. {nxt.text}", "ack", slot=nxt.slot)

    def summary(self, state: dict) -> list[tuple[str, list[str]]]:
        """(slot label, the participant's own answers) for every slot that has any."""
        texts = state.get("texts", {})
        return [(s.label, texts[s.id]) for s in self.p.slots if texts.get(s.id)]
