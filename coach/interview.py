"""The debrief interview: a protocol (data in ``prompts/protocol/``) run by rule-based probes.

Pure logic, no I/O. The transcript is the interview's only state: :meth:`Interview.state` reads
it back from the turns (the coach's turns say which question and follow-up was asked; the
participant's say what was answered, skipped, ended or corrected), and :meth:`Interview.reply`
decides the next coach turn. So an interrupted interview resumes exactly where it stopped.

One question per turn. After each answer the rules may ask a follow-up (at most
``max_probes`` per question):

- ``vague``: a very short answer, a short one made only of generic words, or one the extractor's
  guard would refuse to record whole (hedged: "maybe I'll ..."; see :mod:`coach.cues`);
- ``example``: the question needs a concrete example and the answer has none;
- ``before``: the beliefs answer does not say what the participant believed before (as when a
  change of mind is mentioned without the earlier belief);
- ``after``: an earlier belief is stated without what the participant thinks now;
- ``contradiction``: the answer denies what the participant affirmed earlier to the same question.

Coach messages come only from the protocol text and the participant's own words (quoted back);
the coach never suggests what the participant learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coach.cues import (  # noqa: F401  (re-exported for the interview's rules and their tests)
    find_contradiction,
    first_sentence,
    has_example,
    has_time,
    is_vague,
    nothing_to_record,
    states_after,
    states_before,
    topic_words,
)
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
    def load(cls, role: str, prompts_dir: Path | None = None) -> Protocol:
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


# -- the interview state machine ---------------------------------------------------------------


@dataclass
class Step:
    """What the coach says next; ``meta()`` is stored on its turn and is what :meth:`Interview.state`
    reads back."""

    text: str
    kind: str  # intro | question | probe | ack | closing
    slot: str | None = None
    probe: str | None = None
    done: bool = False
    belief: int | None = None  # the senior's starting belief this question returns to

    def meta(self) -> dict:
        out: dict[str, str | int | None] = {"kind": self.kind, "slot": self.slot, "probe": self.probe}
        if self.belief is not None:
            out["belief"] = self.belief
        return out


@dataclass
class State:
    """Where an interview stands, as read from its turns."""

    pos: int = -1  # current item of the plan
    probes: int = 0  # follow-ups asked on it so far
    asked: list[str] = field(default_factory=list)  # which follow-ups
    texts: dict[str, list[str]] = field(default_factory=dict)  # participant's words per slot
    answers: dict[str, list[int]] = field(default_factory=dict)  # their turn indices
    status: dict[str, str] = field(default_factory=dict)  # slot -> done | partial | skipped
    contradiction_checked: set[str] = field(default_factory=set)
    corrections: list[int] = field(default_factory=list)
    done: bool = False
    ended_early: bool = False


Turn = tuple[str, str, dict | None]  # (speaker, text, meta) as stored


class Interview:
    def __init__(self, protocol: Protocol, baseline: list | None = None, topic: str = ""):
        """``baseline``: the senior's starting answers, each a string or (answer, how to return
        to it: a template with ``{belief}``, or None for the beliefs question's own)."""
        self.p = protocol
        pairs = [b if isinstance(b, tuple) else (b, None) for b in (baseline or [])]
        pairs = [(a, then) for a, then in pairs if a and a.strip()]
        self.baseline = [a for a, _ in pairs]
        self.baseline_then = [then for _, then in pairs]
        self.topic = frozenset(topic_words(topic))
        self.plan: list[dict] = []
        for s in self.p.slots:
            if s.baseline_question and self.baseline:
                self.plan += [{"slot": s.id, "belief": i} for i in range(len(self.baseline))]
            else:
                self.plan.append({"slot": s.id})

    # reading the transcript ------------------------------------------------------------------

    def current(self, state: State) -> dict | None:
        return self.plan[state.pos] if 0 <= state.pos < len(self.plan) else None

    def state(self, turns: list[Turn]) -> State:
        """The interview's state after these turns."""
        st = State()
        for idx, (speaker, text, meta) in enumerate(turns):
            meta = meta or {}
            if speaker == "coach":
                self._read_coach(st, meta)
            elif meta.get("command") == "skip":
                item = self.current(st)
                if item is not None and not st.done and st.status.get(item["slot"]) != "done":
                    st.status[item["slot"]] = "skipped"
            elif meta.get("command") == "end":
                st.ended_early = not st.done and self.current(st) is not None
                st.done = True
            elif meta.get("correction_of"):
                self._read_correction(st, meta["correction_of"], text, idx, bool(meta.get("replaces")))
            elif not st.done and (item := self.current(st)) is not None:
                self._read_answer(st, item["slot"], text, idx)
        return st

    def _read_coach(self, st: State, meta: dict) -> None:
        kind = meta.get("kind")
        if kind == "question":
            st.pos, st.probes, st.asked = st.pos + 1, 0, []
        elif kind == "probe":
            st.probes += 1
            st.asked.append(meta.get("probe") or "")
            if meta.get("probe") == "contradiction" and meta.get("slot"):
                st.contradiction_checked.add(meta["slot"])
        elif kind == "closing":
            st.done = True

    def _read_answer(self, st: State, slot: str, text: str, idx: int) -> None:
        st.answers.setdefault(slot, []).append(idx)
        st.texts.setdefault(slot, []).append(text)
        if not is_vague(text, self.topic) or st.status.get(slot) == "done":
            st.status[slot] = "done"
        else:
            st.status.setdefault(slot, "partial")

    def _read_correction(self, st: State, slot: str, text: str, idx: int, replace: bool) -> None:
        st.answers.setdefault(slot, []).append(idx)
        st.texts[slot] = [text] if replace else [*st.texts.get(slot, []), text]
        st.corrections.append(idx)
        if not is_vague(text, self.topic):
            st.status[slot] = "done"

    def progress(self, state: State) -> list[tuple[str, str]]:
        """(label, status) per slot: done | skipped | partial | current | todo."""
        cur = self.current(state)
        out = []
        for s in self.p.slots:
            st = state.status.get(s.id)
            if cur and cur["slot"] == s.id and not state.done:
                st = "current"
            out.append((s.label, st or "todo"))
        return out

    def summary(self, state: State) -> list[tuple[str, list[str]]]:
        """(slot label, the participant's own answers) for every slot that has any."""
        return [(s.label, state.texts[s.id]) for s in self.p.slots if state.texts.get(s.id)]

    # deciding the next coach turn ------------------------------------------------------------

    def start(self) -> list[Step]:
        return [Step(self.p.intro, "intro"), self._question(0)]

    def reply(self, turns: list[Turn]) -> Step:
        """The coach's next turn after the participant's last one (``turns[-1]``)."""
        st = self.state(turns)
        _, text, meta = turns[-1]
        meta = meta or {}
        if meta.get("command") == "skip":
            return self._question(st.pos + 1) if not st.done else self._closing(st)
        if meta.get("command") == "end":
            return self._closing(st)
        if meta.get("correction_of"):
            self.p.slot(meta["correction_of"])  # KeyError on an unknown slot
            if st.done:
                return Step("Thank you, I've noted your correction. The summary below is updated.", "ack", done=True)
            nxt = self._question(st.pos)
            return Step(f"Thank you, I've noted your correction. {nxt.text}", "ack", slot=nxt.slot)
        item = self.current(st)
        if item is None or st.done:
            return self._closing(st)
        slot = self.p.slot(item["slot"])
        probe = self._probe(st, slot, item, text)
        if probe and st.probes < (slot.max_probes or self.p.max_probes):
            return Step(probe[1], "probe", slot=slot.id, probe=probe[0])
        return self._question(st.pos + 1)

    def _question(self, pos: int) -> Step:
        if pos >= len(self.plan):
            return Step(self.p.closing, "closing", done=True)
        item = self.plan[pos]
        slot = self.p.slot(item["slot"])
        if "belief" in item:
            belief = first_sentence(self.baseline[item["belief"]], 240)
            if not belief.endswith((".", "!", "?", "…")):
                belief += "."
            template = self.baseline_then[item["belief"]] or slot.baseline_question
            assert template is not None  # the plan returns to beliefs only in slots with a baseline question
            text = template.format(belief=belief)
            return Step(text, "question", slot=slot.id, belief=item["belief"])
        return Step(slot.question, "question", slot=slot.id)

    def _closing(self, st: State) -> Step:
        return Step(self.p.closing_early if st.ended_early else self.p.closing, "closing", done=True)

    def _probe(self, st: State, slot: Slot, item: dict, text: str) -> tuple[str, str] | None:
        asked = st.asked
        if slot.id not in st.contradiction_checked:
            earlier = st.texts[slot.id][:-1]
            hit = find_contradiction(text, earlier)
            if hit:
                return "contradiction", (
                    f"Earlier you said: “{hit}”. What you just said sounds different. "
                    "Which is closer to what you think, or how do the two fit together?")
        so_far = " ".join(st.texts[slot.id])
        # thin, or nothing in it the extractor's guard would record (e.g. only hedged plans)
        thin = is_vague(so_far, self.topic) or nothing_to_record(so_far, self.topic, belief="before" in slot.needs)
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


class Conversation:
    """An interview held in memory (tests, evals): the same turns Debriefs stores in SQL."""

    def __init__(self, interview: Interview):
        self.iv = interview
        self.turns: list[Turn] = []
        for step in interview.start():
            self._coach(step)

    def _coach(self, step: Step) -> Step:
        self.turns.append(("coach", step.text, step.meta()))
        return step

    def _say(self, text: str, meta: dict | None = None) -> Step:
        self.turns.append(("participant", text, meta))
        return self._coach(self.iv.reply(self.turns))

    def answer(self, text: str) -> Step:
        return self._say(text)

    def skip(self) -> Step:
        return self._say("(skipped this question)", {"command": "skip"})

    def end(self) -> Step:
        return self._say("(ended the interview here)", {"command": "end"})

    def correct(self, slot: str, text: str, replace: bool = True) -> Step:
        self.iv.p.slot(slot)  # KeyError on an unknown slot, before anything is stored
        return self._say(text, {"correction_of": slot, "replaces": replace})

    @property
    def state(self) -> State:
        return self.iv.state(self.turns)
