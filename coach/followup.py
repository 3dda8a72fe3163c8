"""The month-after follow-up conversation: for each action a debrief recorded, "You said you would
<action, in their words>. What happened?", then rule-based follow-ups (``prompts/protocol/followup.yaml``).

Pure logic, no I/O, and the same shape as :class:`coach.interview.Interview` (start, state,
reply, resume, progress, summary), so coach.debriefs runs it with the same guarantees: every
message stored before anything else happens with it, resume after a crash or after ending early,
skip, end early. The transcript is the only state: each coach turn says which action (slot
``a0``, ``a1``, ...) and which follow-up it asked.

The follow-ups, at most ``max_probes`` per action:

- ``status``: the answer did not open by naming it: done, partly done, not yet or dropped
  (coach.extraction.status.said_outright);
- ``led_to``: done, and the answers so far say little about what came of it;
- ``in_the_way``: partly done, not yet or dropped, and no reason given (coach.cues.REASON);
- ``decision`` (seniors): anything but "not yet", and no decision named so far.

A junior is then asked once whether they have taught or led something since the sessions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coach.cues import content_words, gives_a_reason, has_time, is_vague, names_a_decision
from coach.extraction.status import YES_ONLY, reading, said_outright, status_in
from coach.interview import Step
from coach.prompts import default_prompts_dir

ASKED_AGAIN = ("status_again", "decision_which")
THIN = 5  # content words up to which an answer says too little about what came of an action
Turn = tuple[str, str, dict | None]

# "I'll ask each store manager to ...", "From next week we're going to ...": the plan's own words
# start after these.
PLAN_LEAD = re.compile(
    r"^(.{0,40}?\b)?(i'?ll|i will|i'?m going to|i am going to|we'?ll|we will|we'?re going to|we are going to|"
    r"i plan to|we plan to|i want to|i intend to|my plan is to|the plan is to|i'?ve decided to|we'?ve decided to|"
    r"i'?m (now )?(asking|setting up|booking|starting)(?= )|i need to|i have to|i must)\s+", re.I)
ASIDE = re.compile(r"^(also|then|just|now|first|definitely|actually|really|probably|certainly)\s+", re.I)
_DAY = (r"next|this|tomorrow|monday|tuesday|wednesday|thursday|friday|january|february|march|april|may|june|july|"
        r"august|september|october|november|december|q[1-4]|the (end|start|beginning) of")
WHEN_AFTER = re.compile(r",?\s+((starting|beginning|as of) \w+|(from|by|before|in|on) (" + _DAY + r"))\b[^,]*$", re.I)
# an action worded as a statement ("The status report is useless"), not as what to do
NOT_A_VERB = re.compile(r"^(I|We|My|Our|The|A|An|This|That|These|Those|It|There|They|He|She|You|Your|Every|"
                        r"Each|All|Some|No|Not|Maybe|Perhaps|If|When|Next|From|By|In|On|At)\b")
YOU = [(r"\bI'm\b", "you're"), (r"\bI am\b", "you are"), (r"\bI've\b", "you've"), (r"\bI'll\b", "you'll"),
       (r"\bI\b", "you"), (r"\bme\b", "you"), (r"\bmy\b", "your"), (r"\bmyself\b", "yourself"), (r"\bmine\b", "yours"),
       (r"\bwe're\b", "you're"), (r"\bwe\b", "you"), (r"\bus\b", "you"), (r"\bour\b", "your"), (r"\bours\b", "yours")]


def you_would(action: str) -> str | None:
    """An action as the coach says it back ("you would <this>"), in the participant's words with
    the person turned round; None when it is not worded as a plan (it is then quoted whole)."""
    text = WHEN_AFTER.sub("", action.strip().rstrip(".!"))  # "starting next Monday" is past by now
    m = PLAN_LEAD.match(text)
    if m:
        text = ASIDE.sub("", text[m.end():])
        lead = (m.group(1) or "").strip(" ,")
        if m.group(3):  # "I'm asking ...": keep the verb ("ask" is not recoverable; keep it as said)
            text = m.group(3) + " " + text
        if lead and not has_time(lead):  # "For the summer range, I'll ..." -> "... for the summer range"
            text = f"{text} {lead[0].lower() + lead[1:]}"
    elif action.strip()[:1].isupper() and not NOT_A_VERB.match(action.strip()):
        # the action's own wording already starts with its verb ("Ask each manager ...")
        text = text[0].lower() + text[1:] if not text[1:2].isupper() else text
        return _turn_round(text)
    else:
        return None
    return _turn_round(text)


def _turn_round(text: str) -> str:
    for pattern, repl in YOU:
        text = re.sub(pattern, repl, text, flags=re.I if pattern not in (r"\bI\b",) else 0)
    return text


@dataclass(frozen=True)
class Slot:
    id: str  # a0, a1, ... (the actions) or "since"
    label: str


@dataclass(frozen=True)
class FollowUpProtocol:
    """The follow-up's texts (a prompts/ file) and, for one conversation, its slots."""

    data: dict
    role: str
    slots: tuple[Slot, ...]

    @classmethod
    def load(cls, prompts_dir: Path | None = None) -> dict:
        path = (prompts_dir or default_prompts_dir()) / "protocol" / "followup.yaml"
        return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass
class State:
    pos: int = -1
    probes: int = 0
    asked: list[str] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)
    # per slot, each answer with what it answered: "question" (or a correction of it) or the probe's name
    said_to: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    answers: dict[str, list[int]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # slot -> done | partial | skipped
    corrections: list[int] = field(default_factory=list)
    last_coach: dict = field(default_factory=dict)
    done: bool = False
    ended_early: bool = False


def action_label(action: str) -> str:
    """An action as the follow-up's progress and summary name it: short, in the participant's words."""
    return _short(_capital(you_would(action)) or action)


class FollowUp:
    def __init__(self, texts: dict, role: str, actions: list[str], topic: str = "", round_: int = 1):
        self.t, self.role, self.actions, self.topic, self.round = texts, role, actions, topic, round_
        slots = [Slot(f"a{i}", action_label(a)) for i, a in enumerate(actions)]
        if role == "junior":
            slots.append(Slot("since", texts["since"]["label"]))
        self.p = FollowUpProtocol(texts, role, tuple(slots))
        self.plan = [s.id for s in slots]

    # reading the transcript ------------------------------------------------------------------

    def state(self, turns: list[Turn]) -> State:
        st = State()
        for idx, (speaker, text, meta) in enumerate(turns):
            meta = meta or {}
            if speaker == "coach":
                st.last_coach = meta
                kind = meta.get("kind")
                if kind == "question":
                    st.pos, st.probes, st.asked = st.pos + 1, 0, []
                elif kind == "probe":
                    st.probes += meta.get("probe") not in ASKED_AGAIN  # asking again after a bare "yes" is free
                    st.asked.append(meta.get("probe") or "")
                elif kind == "resume":
                    st.done = st.ended_early = False
                elif kind == "closing":
                    st.done = True
            elif meta.get("summary"):
                continue
            elif meta.get("command") == "skip":
                slot = self._slot(st)
                # a follow-up question skipped after the action was answered leaves it answered
                if slot and not st.done and not st.answers.get(slot):
                    st.status[slot] = "skipped"
            elif meta.get("command") == "end":
                st.ended_early = not st.done and self._slot(st) is not None
                st.done = True
            elif meta.get("correction_of"):
                slot = meta["correction_of"]
                st.answers.setdefault(slot, []).append(idx)
                replace = bool(meta.get("replaces"))
                st.texts[slot] = [text] if replace else [*st.texts.get(slot, []), text]
                st.said_to[slot] = [("question", text)] if replace else [*st.said_to.get(slot, []), ("question", text)]
                st.corrections.append(idx)
                st.status[slot] = "done"
            elif not st.done and (slot := self._slot(st)) is not None:
                st.answers.setdefault(slot, []).append(idx)
                st.texts.setdefault(slot, []).append(text)
                st.said_to.setdefault(slot, []).append((st.last_coach.get("probe") or "question", text))
                st.status[slot] = "done" if not is_vague(text) or st.status.get(slot) == "done" else "partial"
        return st

    def _slot(self, st: State) -> str | None:
        return self.plan[st.pos] if 0 <= st.pos < len(self.plan) else None

    def progress(self, st: State) -> list[tuple[str, str]]:
        cur = self._slot(st)
        return [(s.label, "current" if s.id == cur and not st.done else st.status.get(s.id) or "todo")
                for s in self.p.slots]

    def summary(self, st: State) -> list[tuple[str, list[str]]]:
        return [(s.label, st.texts[s.id]) for s in self.p.slots if st.texts.get(s.id)]

    # deciding the next coach turn ------------------------------------------------------------

    def start(self) -> list[Step]:
        intro = self.t["intro_round2" if self.round == 2 else "intro"].strip().format(topic=self.topic)
        return [Step(intro, "intro"), self._question(0)]

    def resume(self, turns: list[Turn]) -> Step | None:
        st = self.state(turns)
        if not (st.done and st.ended_early):
            return None
        nxt = self._question(st.pos)
        return Step(f"{self.t['resume']} {nxt.text}", "resume", slot=nxt.slot)

    def reply(self, turns: list[Turn]) -> Step:
        st = self.state(turns)
        meta = turns[-1][2] or {}
        if meta.get("command") == "end":
            return self._closing(st)
        if meta.get("command") == "skip":
            return self._question(st.pos + 1) if not st.done else self._closing(st)
        if meta.get("correction_of"):
            if st.done:
                return Step("Thank you, I've noted your correction. The summary below is updated.", "ack", done=True)
            again = self._question(st.pos, again=True)
            return Step(f"Thank you, I've noted your correction. {again.text}", "ack", slot=again.slot)
        if st.done:
            return Step("Thank you. The summary below is what I noted.", "ack", done=True)
        return self._probe(st) or self._question(st.pos + 1)

    def _probe(self, st: State) -> Step | None:
        slot = self._slot(st)
        if slot is None:
            return None
        again = self._ask_again(st, slot)
        if again or st.probes >= int(self.t.get("max_probes", 3)):
            return again
        said = " ".join(st.texts.get(slot, []))
        probes = self.t["probes"]
        if slot == "since":
            if is_vague(said) and "more" not in st.asked and not re.match(r"^\W*no\b", said, re.I):
                return Step(self.t["since"]["more"], "probe", slot=slot, probe="more")
            return None
        first = " ".join(t for q, t in st.said_to.get(slot, []) if q == "question")
        # Unless the answer opened by naming it ("Not yet, it's booked"), the participant says which it
        # was: read from free answers by rules, a status is too often wrong to be theirs.
        if "status" not in st.asked and said_outright(first) is None:
            return Step(probes["status"], "probe", slot=slot, probe="status")
        status = self._status(st, slot, first)
        thin = content_words(said) <= THIN
        if status == "done" and thin and "led_to" not in st.asked:
            return Step(probes["led_to"], "probe", slot=slot, probe="led_to")
        if status in ("partly", "not_yet", "dropped") and not gives_a_reason(said) and "in_the_way" not in st.asked:
            return Step(probes["in_the_way"], "probe", slot=slot, probe="in_the_way")
        if (self.role == "senior" and status in ("done", "partly", "dropped") and "decision" not in st.asked
                and not names_a_decision(said)):
            return Step(probes["decision"], "probe", slot=slot, probe="decision")
        return None

    def _ask_again(self, st: State, slot: str) -> Step | None:
        """A bare "Yes." to "done, partly done, not started yet, or dropped?" says none of them, and
        to "Did it change a decision? Which one?" not which: each is asked once more (not counted)."""
        replied, probes = self._replies(st, slot), self.t["probes"]
        last = st.last_coach.get("probe")
        if last == "status" and replied.get("status") and status_in(replied["status"]) is None:
            return Step(probes["status_again"], "probe", slot=slot, probe="status_again")
        if last == "decision" and YES_ONLY.match(replied.get("decision", "")):
            return Step(probes["decision_which"], "probe", slot=slot, probe="decision_which")
        return None

    @staticmethod
    def _replies(st: State, slot: str) -> dict[str, str]:
        """The participant's reply to each follow-up asked about this action (the last one, by probe)."""
        return dict(st.said_to.get(slot, []))

    @classmethod
    def _status(cls, st: State, slot: str, first: str) -> str | None:
        """What became of the action: the reply to the status question when it was asked (or asked
        again), else the first answer's reading. Replies to the other follow-ups ("Did it change a
        decision?" "No, not yet.") are about something else."""
        replied = cls._replies(st, slot)
        said = [status_in(replied[q]) for q in ("status_again", "status") if replied.get(q)]
        return next((x for x in said if x), None) or reading(first)[0]

    def _question(self, pos: int, again: bool = False) -> Step:
        if pos >= len(self.plan) or pos < 0:
            return self._closing(State(done=True))
        slot = self.plan[pos]
        if slot == "since":
            return Step(self.t["since"]["question"], "question", slot=slot)
        action = self.actions[int(slot[1:])]
        said = you_would(action)
        if said is None:
            text = self.t["ask_quoted"].format(action=action.strip())
        else:
            text = self.t["ask" if pos == 0 or again else "ask_next"].format(action=said)
        return Step(text, "ack" if again else "question", slot=slot)

    def _closing(self, st: State) -> Step:
        early = st.ended_early or (self._slot(st) is not None and not st.done)
        return Step(self.t["closing_early" if early else "closing"].strip(), "closing", done=True)


def _capital(text: str | None) -> str | None:
    return text[0].upper() + text[1:] if text else text


def _short(text: str, limit: int = 60) -> str:
    text = text.strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
