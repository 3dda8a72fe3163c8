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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coach.cues import (  # noqa: F401  (re-exported for the interview's rules and their tests)
    AGREE,
    DISAGREE,
    content_words,
    find_contradiction,
    first_sentence,
    gist_of,
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
    baseline_question: tuple[str, ...] = ()  # one per starting belief, the last repeated
    max_probes: int | None = None  # overrides the protocol's
    check: str | None = None  # how the coach says back the item it will record ({item}), if it does


@dataclass(frozen=True)
class Protocol:
    role: str
    intro: str
    closing: str
    max_probes: int
    slots: tuple[Slot, ...]
    closing_early: str = ""  # when the participant ends before the last question
    acknowledgements: tuple[str, ...] = ()  # short reflections before the next question ({gist})
    resume: str = "Let's carry on where we stopped."
    check_instead: str = "What was it instead, in your own words?"
    not_noted: str = "Then I won't note it that way; you can put it in your own words in the summary at the end."
    max_checks: int = 3  # coach turns spent checking items back, over the whole debrief
    # how the coach says back a step the participant will take, heard in any answer, after the
    # last question ({item}): for a protocol with no question about what they will do
    check_step: str | None = None

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
                 probes=dict(s.get("probes", {})), baseline_question=_as_tuple(s.get("baseline_question")),
                 max_probes=s.get("max_probes"), check=s.get("check"))
            for s in data["slots"]
        )
        extra = {k: data[k].strip() for k in ("resume", "check_instead", "not_noted", "check_step") if data.get(k)}
        return cls(role=data["role"], intro=data["intro"].strip(), closing=data["closing"].strip(),
                   closing_early=(data.get("closing_early") or data["closing"]).strip(),
                   max_probes=int(data.get("max_probes", 2)), slots=slots,
                   acknowledgements=tuple(data.get("acknowledgements", ())),
                   max_checks=int(data.get("max_checks", 3)), **extra)


def _baseline_entries(prompts_dir: Path | None) -> list[dict]:
    path = (prompts_dir or default_prompts_dir()) / "protocol" / "baseline.yaml"
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    return [e if isinstance(e, dict) else {"ask": e} for e in entries]


def _as_tuple(value: str | list[str] | None) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


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
    kind: str  # intro | question | probe | check | ack | resume | closing
    slot: str | None = None
    probe: str | None = None
    done: bool = False
    belief: int | None = None  # the senior's starting belief this question returns to
    item: dict | None = None  # a check's item, as it will be recorded (kind, text, before, after, quote)

    def meta(self) -> dict:
        out: dict = {"kind": self.kind, "slot": self.slot, "probe": self.probe}
        if self.belief is not None:
            out["belief"] = self.belief
        if self.item is not None:
            out["item"] = self.item
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
    checks: int = 0  # coach turns spent checking items back
    checked: set[str] = field(default_factory=set)  # slots whose item was checked back
    step_checked: bool = False  # a step heard anywhere was checked back (Protocol.check_step)
    last_coach: dict = field(default_factory=dict)  # meta of the coach's latest turn
    done: bool = False
    ended_early: bool = False


Turn = tuple[str, str, dict | None]  # (speaker, text, meta) as stored
CheckItem = Callable[[str, list["Turn"]], dict | None]  # (slot, its question and answers) -> item to check back


def say_back(item: dict) -> str:
    """An item in the participant's own words: their sentence, or their before and after."""
    if item.get("kind") == "broken_assumption" and item.get("before") and item.get("after"):
        return f"before, “{clip(item['before'])}”; now, “{clip(item['after'])}”"
    return f"“{clip(item.get('text') or item.get('quote') or '')}”"  # their sentence, less "I learned that"


def clip(text: str, limit: int = 200) -> str:
    text = text.strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def check_reply(text: str) -> str:
    """How a participant answered a check: "yes"; "no" (and nothing more); "words" (a no, then
    their own wording of it); or "more" (no objection, and something more to say: a yes with an
    addition, or the story going on), which is read as a further answer to the question."""
    if AGREE.match(text):
        return "yes" if content_words(AGREE.sub("", text, count=1)) <= 2 else "more"
    if DISAGREE.match(text):
        return "no" if content_words(DISAGREE.sub("", text)) <= 2 else "words"
    return "more"


def acknowledgement(templates: tuple[str, ...], answers: list[str], n: int) -> str:
    """A short reflection of the gist of the last answer (its first point, in the participant's
    words, cut short), varied by ``n``; "" when there is nothing specific to reflect."""
    if not templates or not answers:
        return ""
    gist = gist_of(answers[-1])
    return templates[n % len(templates)].format(gist=gist) if gist else ""


class Interview:
    def __init__(self, protocol: Protocol, baseline: list | None = None, topic: str = "",
                 check_item: CheckItem | None = None):
        """``baseline``: the senior's starting answers, each a string or (answer, how to return
        to it: a template with ``{belief}``, or None for the beliefs question's own).
        ``check_item(slot, turns)``: the item a slot's questions and answers will be recorded as
        (the extractor's), to check it back with the participant; None: no checks."""
        self.p = protocol
        self.check_item = check_item
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
            elif meta.get("summary"):  # written in the summary, not an answer to a question
                continue
            elif meta.get("command") == "skip":
                item = self.current(st)
                if item is not None and not st.done and st.status.get(item["slot"]) != "done":
                    st.status[item["slot"]] = "skipped"
            elif meta.get("command") == "end":
                st.ended_early = not st.done and self.current(st) is not None
                st.done = True
            elif meta.get("correction_of"):
                self._read_correction(st, meta["correction_of"], text, idx, bool(meta.get("replaces")))
            elif st.last_coach.get("kind") == "check":  # a reply to a check: the words stay the slot's
                st.answers.setdefault(st.last_coach["slot"], []).append(idx)
                st.texts.setdefault(st.last_coach["slot"], []).append(text)
            elif not st.done and (item := self.current(st)) is not None:
                self._read_answer(st, item["slot"], text, idx)
        return st

    def _read_coach(self, st: State, meta: dict) -> None:
        st.last_coach = meta
        kind = meta.get("kind")
        if kind == "check":
            st.checks += 1
            if meta.get("probe") == "step":
                st.step_checked = True
            else:
                st.checked.add(meta.get("slot") or "")
        elif kind == "resume":
            st.done = st.ended_early = False
        elif kind == "question":
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

    def resume(self, turns: list[Turn]) -> Step | None:
        """Carry on after ending early (None if the interview did not end early)."""
        st = self.state(turns)
        if not (st.done and st.ended_early):
            return None
        nxt = self._question(st.pos)
        return Step(f"{self.p.resume} {nxt.text}", "resume", slot=nxt.slot, belief=nxt.belief)

    def reply(self, turns: list[Turn]) -> Step:
        """The coach's next turn after the participant's last one (``turns[-1]``)."""
        st = self.state(turns)
        _, text, meta = turns[-1]
        meta = meta or {}
        if meta.get("command") == "skip":
            return self._question(st.pos + 1) if not st.done else self._closing(st)
        if not meta and st.last_coach.get("kind") == "check" and not st.done:
            return self._after_check(st, text)
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
        return self._check(st, slot, item, turns) or self._check_step(st, slot, turns) or self._next(st, slot)

    # checking back what will be recorded ------------------------------------------------------

    def _check(self, st: State, slot: Slot, item: dict, turns: list[Turn]) -> Step | None:
        """Say back, in the participant's words, the item this slot's answer will be recorded as,
        and ask whether that is it: once per slot, after the last of its baseline beliefs, within
        the debrief's budget, and only for an answer with something in it."""
        if (self.check_item is None or slot.check is None or slot.id in st.checked
                or st.checks >= self.p.max_checks or st.status.get(slot.id) != "done"):
            return None
        nxt = self.plan[st.pos + 1] if st.pos + 1 < len(self.plan) else None
        if "belief" in item and nxt is not None and nxt["slot"] == slot.id:
            return None  # more starting beliefs to come: check once, after the last
        first = next(i for i, (sp, _, m) in enumerate(turns) if sp == "coach" and (m or {}).get("slot") == slot.id)
        asked = [t for t in turns[first:] if t[0] == "coach" or not (t[2] or {})]  # its questions and answers
        found = self.check_item(slot.id, asked)
        if found is None:
            return None
        return Step(slot.check.format(item=say_back(found)), "check", slot=slot.id, item=found)

    def _check_step(self, st: State, slot: Slot, turns: list[Turn]) -> Step | None:
        """After the last question, say back a step the participant said they will take in any
        answer, where the protocol asks for none (a junior's plans come up in passing): once,
        within the budget. Its slot is the last question's, whose answers its reply joins."""
        if (self.check_item is None or not self.p.check_step or st.step_checked
                or st.checks >= self.p.max_checks or st.pos + 1 < len(self.plan)):
            return None
        found = self.check_item("step", [t for t in turns if t[0] == "coach" or not (t[2] or {})])
        if found is None:
            return None
        return Step(self.p.check_step.format(item=say_back(found)), "check", slot=slot.id, probe="step", item=found)

    def _after_check(self, st: State, text: str) -> Step:
        """After the participant's reply to a check: agreement or new words close it; a bare
        "no" gets one question for what it was instead (within the budget)."""
        slot = self.p.slot(st.last_coach["slot"])
        if check_reply(text) != "no" or st.last_coach.get("probe") == "instead":
            return self._next(st, slot, acknowledge=False)
        if st.checks < self.p.max_checks and st.last_coach.get("probe") != "step":  # a step not taken has no instead
            return Step(self.p.check_instead, "check", slot=slot.id, probe="instead", item=st.last_coach.get("item"))
        nxt = self._next(st, slot, acknowledge=False)  # no turn left to ask: the summary is the place
        return Step(f"{self.p.not_noted} {nxt.text}", nxt.kind, slot=nxt.slot, belief=nxt.belief, done=nxt.done)

    def _next(self, st: State, slot: Slot, acknowledge: bool = True) -> Step:
        """The next question, after a short acknowledgement of what was just said."""
        nxt = self._question(st.pos + 1)
        if not acknowledge or nxt.kind != "question":
            return nxt
        ack = acknowledgement(self.p.acknowledgements, st.texts.get(slot.id, []), st.pos)
        return Step(f"{ack} {nxt.text}" if ack else nxt.text, nxt.kind, slot=nxt.slot, belief=nxt.belief)

    def _question(self, pos: int) -> Step:
        if pos >= len(self.plan):
            return Step(self.p.closing, "closing", done=True)
        item = self.plan[pos]
        slot = self.p.slot(item["slot"])
        if "belief" in item:
            belief = first_sentence(self.baseline[item["belief"]], 240)
            if not belief.endswith((".", "!", "?", "…")):
                belief += "."
            # the plan returns to beliefs only in slots with a baseline question
            nth = sum(then is None for then in self.baseline_then[: item["belief"]])
            template = self.baseline_then[item["belief"]] or slot.baseline_question[
                min(nth, len(slot.baseline_question) - 1)]
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
            if "after" in asked:
                return None
            if check_reply(text) == "yes":  # "Yes, still." - the belief held: do not presume a change
                return "after", "So that still holds for you. Did anything in the sessions add to it or complicate it?"
            if thin or not states_after(so_far):
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
