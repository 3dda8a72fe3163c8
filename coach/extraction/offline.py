"""Extractors that need no generative model: ``offline`` (the default) and the ``cues`` baseline.

``offline`` reads the interview's structure: the coach question before a participant turn says
what the answer is about (learned, beliefs, action, gained...; live interviews record it in the
turn's metadata). The question is read by its meaning, so interviewers who ask in their own words
or take notes are read too (coach.extraction.questions); an answer to a question that says
nothing we know ("Mm.", "How did it go?") is read by what it says, as an answer to the debrief's
main question, and an answer to an open or doubtful one ("Any worries?") is never a learning or
an action. Broken assumptions come from before/after cue rules, in any answer; learned items and
actions from a small classifier over MiniLM sentence embeddings plus that context
(sentence_model.py, fitted on the gold set's read splits). Items are one sentence each (a line of
notes is a sentence), so their quotes are grounded by construction. Themes, depth and scope are
derived when records are stored (coach.records).

``cues`` is the plain baseline the eval compares against: "I learned", "I thought ... but/turns
out", "I'll", with no context.
"""

from __future__ import annotations

import re
from functools import lru_cache

from coach.cues import COMMITTED, LEARN_CUE, THIN, hedged_not_kind_of
from coach.extraction.questions import classify, classify_all
from coach.extraction.records import Item, Kind, Turn
from coach.extraction.sentence_model import probabilities
from coach.extraction.text import (
    AFTER_CUE,
    ASIDE,
    BEFORE_CUE,
    CORRECTION,
    DENIAL,
    INJECTION,
    REJECT_START,
    STRONG_AFTER,
    SUGGESTION,
    SURPRISE_SPLIT,
    Sentence,
    clean_after,
    clean_before,
    in_injection,
    injection_spans,
    is_question,
    sentences,
    strip_lead_in,
)

SLOTS = frozenset({"learned", "beliefs", "action", "gained", "taught", "struggle", "surprise", "sessions"})
# Contexts an answer can carry on ("Tell me more."); the rest are not a subject to continue.
CONTINUED = SLOTS | {"example", "after", "unsure"}
# Contexts whose answers are read on their own: a general opener, a nudge, anything unknown.
READ_ALONE = frozenset({"overview", "nudge", "other"})


def context_of(coach: Turn | None, previous: str, role: str = "senior") -> str:
    """What a participant turn answers, from the meaning of the coach turn before it
    (coach.extraction.questions); "other" when it says nothing we know, so the answer is read alone."""
    if coach is None:
        return "other"
    meta = coach.meta or {}
    if meta.get("slot") in SLOTS and meta.get("probe") != "example":
        return meta["slot"]  # live interviews record what each question was about
    if SUGGESTION.search(coach.text):  # the guard reads suggestions with the same words
        return "suggestion"
    if AFTER_PROBE.search(coach.text):  # the app's own "And what do you think now, about ...?"
        return "after"
    ctx, _ = classify(coach.text, role)
    if ctx == "more":  # "Can you say more?" continues the previous question
        return previous if previous in CONTINUED else "other"
    return "other" if ctx in READ_ALONE else ctx


def feature_context(ctx: str, role: str = "senior") -> str:
    """The context as the sentence classifier knows it (it was fitted on the protocol's slots).
    An answer to a question we cannot place is read as an answer to the debrief's main question,
    what was learned (a junior: gained), by what it says: no words of the question are used.
    "What do you think now?" is about beliefs; a junior has no beliefs question, so for them it is
    about what changed for them ("How do you feel about it now?")."""
    main = "gained" if role == "junior" else "learned"
    return {"other": main, "after": "gained" if role == "junior" else "beliefs"}.get(ctx, ctx)


def _usable(s: Sentence) -> bool:
    # a hedge in a stated belief is about the old view ("I suppose I assumed X"), so the belief is
    # kept; the guard still refuses it as a learning or an action. A question is never a record.
    return not (hedged_not_kind_of(s.text, belief=True) or INJECTION.search(s.text) or is_question(s.text)) \
        and len(s.text.split()) >= 3


def _item(kind: Kind, s: Sentence, **kw) -> Item:
    if kind == "broken_assumption":
        kw["before"], kw["after"] = clean_before(kw["before"]), clean_after(kw["after"])
    return Item(kind=kind, text=kw.pop("text", strip_lead_in(s.text)), quote=s.text, turn_index=s.turn, **kw)


def _split_belief(s: Sentence) -> tuple[str, str] | None:
    """'I thought X, but Y.' or 'We always did X, so it was a surprise that Y.' -> (X, Y)."""
    m = re.search(r"[,;:–—-]\s*(but|now|turns out|it turns out|in practice|in fact|actually|instead)\b", s.text, re.I)
    if m and BEFORE_CUE.search(s.text[: m.start()]):
        return s.text[: m.start()].strip(), s.text[m.start():].lstrip(",;:–—- ").strip()
    m = SURPRISE_SPLIT.search(s.text)
    if m and m.start() > 10 and len(s.text) - m.end() > 10:
        after = s.text[m.end():].strip()
        return s.text[: m.start()].strip(" ,;"), after[:1].upper() + after[1:]
    # "He earns far more from sponsorships - I'd always assumed YouTubers lived off the ads.": the
    # new view comes first, the belief after the dash
    m = BELIEF_LAST.search(s.text)
    if m and len(s.text[: m.start()].split()) >= 4 and not BEFORE_CUE.search(s.text[: m.start()]):
        return s.text[m.end():].strip(), s.text[: m.start()].strip(" ,;")
    return None


BELIEF_LAST = re.compile(r"(\s[-–—]+\s*|;\s*|,\s*(whereas|while)\s+)(?=((i|we)( had|'d)? (always |just |honestly )?"
                         r"(thought|assumed|believed|figured|imagined|expected)|i was (sure|convinced|certain)|"
                         r"i used to (think|believe))\b)", re.I)


def units(turns: list[Turn], role: str = "senior") -> list[tuple[Sentence, str]]:
    """Every usable participant sentence with the context of the question it answers."""
    out: list[tuple[Sentence, str]] = []
    ctx = "other"
    classify_all([t.text for t in turns if t.speaker == "coach"], role)  # one call to the model
    for i, t in enumerate(turns):  # answers a correction replaced come blank (without_superseded)
        if not t.is_participant_words:
            continue
        coach = turns[i - 1] if i and turns[i - 1].speaker == "coach" else None
        corrects = (t.meta or {}).get("correction_of")
        # a correction answers the question it corrects, not the one the coach had just asked
        ctx = corrects if corrects in SLOTS else context_of(coach, ctx, role)
        sents = sentences(t.text, i)
        spans = injection_spans(t.text)  # words to the software are not evidence
        sents = [s for s in sents if not (spans and in_injection(t.text, s.text, spans))]
        if ctx == "suggestion":
            if sents and REJECT_START.search(sents[0].text):
                sents = sents[1:]  # the rejection itself is not a record
            ctx = "learned_cue_only"
        sents = [s for s in sents if _usable(s)]
        for k, s in enumerate(sents):  # a correction replaces the sentence just before it
            if CORRECTION.search(s.text) and k > 0:
                sents = sents[:k - 1] + sents[k:]
                break
        out += [(s, ctx) for s in sents]
    return out


BELIEF_CONTEXTS = {"senior": ("beliefs", "after", "surprise"),
                   # juniors are not asked about beliefs: theirs surface in what surprised or changed them
                   "junior": ("beliefs", "after", "surprise", "gained", "struggle")}


def _beliefs(turns: list[Turn], us: list[tuple[Sentence, str]], role: str = "senior",
             p_belief=None) -> tuple[list[Item], set[str]]:
    """Before -> after pairs: in one sentence, in one answer, or across "And now?"."""
    items, taken = [], set()
    where = BELIEF_CONTEXTS.get(role, BELIEF_CONTEXTS["senior"])
    asked = {s.turn for s, c in us if c == "beliefs"}  # answers to a question about beliefs itself
    us = [(s, "beliefs" if c in where else c) for s, c in us]
    for k, (s, ctx) in enumerate(us):
        pair = _split_belief(s)
        if pair:
            items.append(_item("broken_assumption", s, text="", before=strip_lead_in(pair[0]), after=pair[1]))
            taken.add(s)
            continue
        if ctx == "beliefs" and STRONG_AFTER.search(s.text) and k > 0 and s not in taken:
            prev, pctx = us[k - 1]
            if prev.turn == s.turn and prev not in taken and not BEFORE_CUE.search(s.text):
                # "X. That's what I told the managers. Turns out ...": the belief is X
                if BACKREF.search(prev.text) and k > 1 and us[k - 2][0].turn == s.turn and us[k - 2][0] not in taken:
                    taken.add(prev)
                    prev = us[k - 2][0]
                items.append(_item("broken_assumption", prev, text="", before=strip_lead_in(prev.text),
                                   after=_whole_after(s, us, k, taken)))
                taken |= {prev, s}
                continue
        if ctx != "beliefs" or not BEFORE_CUE.search(s.text) or DENIAL.search(s.text) or s in taken:
            continue
        later = [x for x, c in us[k + 1:] if x not in taken and (x.turn == s.turn or c == "beliefs")
                 and x.turn <= s.turn + 2 and not BEFORE_CUE.search(x.text) and not DENIAL.search(x.text)]
        if later:
            new_view = next((x for x in later if AFTER_CUE.search(x.text)), later[0])
            items.append(_item("broken_assumption", s, text="", before=strip_lead_in(s.text), after=new_view.text))
            taken |= {s, new_view}
    # "Before the sessions you said: “X” Is that still what you think?" "No, ...": the coach quoted
    # the before (the senior's own starting belief); the answer gives the after
    for i in range(1, len(turns)):
        m = baseline_question_pattern().search(turns[i - 1].text) if turns[i - 1].speaker == "coach" else None
        if not (m and turns[i].is_participant_words and NO_LONGER.search(turns[i].text)):
            continue
        mine = [x for x, _ in us if x.turn == i and x not in taken]
        # "Not really: she showed me ..." - the new view can follow the "no" in the same sentence
        views = [(x, _after_no(x.text)) for x in mine]
        views = [(x, v) for x, v in views if v and not DENIAL.search(v) and not REJECT_START.search(v)]
        if views:
            items.append(_item("broken_assumption", views[0][0], text="", before=m.group(1).strip(), after=views[0][1]))
            taken.add(views[0][0])
    # "X. I'd assumed it was the other way round." -> the before is X turned around
    for k, (s, _) in enumerate(us):
        if k and OPPOSITE.search(s.text) and BEFORE_CUE.search(s.text) and s not in taken:
            prev = us[k - 1][0]
            if prev.turn == s.turn and prev not in taken:
                # quoted by the "I'd assumed ..." sentence, so the point itself can still be a learning
                items.append(_item("broken_assumption", s, text="", before=f"The opposite of: {strip_lead_in(prev.text)}",
                                   after=strip_lead_in(prev.text)))
                taken |= {prev, s}
    # "What did you believe before?" ... "And now?": the two answers are the before and the after
    for i in range(1, len(turns)):
        if not (turns[i].is_participant_words and turns[i - 1].speaker == "coach"
                and AFTER_PROBE.search(turns[i - 1].text)):
            continue
        now = [x for x, _ in us if x.turn == i and x not in taken]
        earlier = [x.turn for x, _ in us if x.turn < i]
        quoted = _quoted_belief(turns, max(earlier)) if earlier else None
        if now and quoted and not DENIAL.search(now[0].text):
            # the coach had quoted the senior's starting belief: that is the before, whatever the
            # reply to it was ("Yes, that's it." ... "And now?" "Now I know ...")
            k = next(j for j, (x, _) in enumerate(us) if x is now[0])
            items.append(_item("broken_assumption", now[0], text="", before=quoted,
                               after=_whole_after(now[0], us, k, taken)))
            taken.add(now[0])
            continue
        was = [x for x, _ in us if earlier and x.turn == max(earlier) and x not in taken]
        # the stated belief if the earlier answer has one, else its first sentence that says something
        was = sorted(was, key=lambda x: not BEFORE_CUE.search(x.text))
        was = [x for x in was if len(x.text.split()) >= 3]
        if now and was and not DENIAL.search(now[0].text) and not DENIAL.search(was[0].text):
            k = next(j for j, (x, _) in enumerate(us) if x is now[0])
            items.append(_item("broken_assumption", was[0], text="", before=strip_lead_in(was[0].text),
                               after=_whole_after(now[0], us, k, taken)))
            taken |= {was[0], now[0]}
    items += _stated_anywhere(turns, us, taken, p_belief)
    # a sentence the classifier reads as a stated belief, in an answer about beliefs, with no cue
    # the rules know ("I'd gone in with a demo about saving time, and she wanted ..."): the part
    # after "and"/"but" (_contrast), or else the answer's next sentence (_can_be_after), is the new view
    classified: set[str] = set()
    if p_belief is not None:
        for k, (s, ctx) in enumerate(us):
            if (p_belief[k] < BELIEF_MIN or ctx != "beliefs" or s in taken or DENIAL.search(s.text)
                    or STRONG_AFTER.search(s.text)):
                continue
            split = _contrast(s.text)
            nxt = us[k + 1][0] if k + 1 < len(us) else None
            if split:
                before, after = split
            elif nxt is not None and nxt.turn == s.turn and nxt not in taken and _can_be_after(nxt.text):
                before, after = s.text, nxt.text
                taken.add(nxt)
            else:
                continue
            items.append(_item("broken_assumption", s, text="", before=strip_lead_in(before.strip(" ,;")),
                               after=after.strip(" ,;")))
            taken.add(s)
            classified.add(s.text)
    items += _plain_answer(us, asked - {it.turn_index for it in items}, taken)
    # a belief the participant says they still hold did not break
    items = [it for it in items if not (STILL_HELD.search(it.after or "") or STILL_HELD.search(it.before or ""))]
    return items, classified


# A belief stated outright, whatever the question was ("I'd always assumed ...", "I was sure ...").
STATED = re.compile(r"\b(i|we)( had|'d)? (always |just |originally |honestly |naively )?(assumed|figured|imagined|presumed)\b|"
                    r"\b(i|we)( had|'d)? always (thought|believed|expected)\b|"
                    r"\bi( was|'d been| had been) (sure|convinced|certain|under the impression)\b|"
                    r"\b(i|we) used to (think|believe|assume)\b|\bin my head\b|\bi went in (thinking|expecting|assuming)\b|"
                    r"\bmy assumption\b|\bbefore,? (i|we) (think|thought|believed|assumed)\b|^\W*(assumed|figured)\b", re.I)
# "I thought ..." is also how people give an opinion ("I thought it was great"): a belief only when
# the classifier reads it as one
THOUGHT = re.compile(r"\b(i|we)( had|'d)? (always |just |originally |honestly )?(thought|believed|expected)\b|"
                     r"^\W*thought\b", re.I)
COMPARED = re.compile(r"\b(than|as) (i|we)( had|'d)? (thought|expected|believed)\b", re.I)  # "better than I expected"
# "It isn't." / "That's just not how it works there." after a belief: the new view came before it
SHORT_NO = re.compile(r"\b(not|no|wrong|nope)\b|n[’']t\b", re.I)
STATED_MIN = 0.5  # P(belief) a "thought" sentence needs outside a question about beliefs


def _stated_anywhere(turns: list[Turn], us: list[tuple[Sentence, str]], taken: set, p_belief) -> list[Item]:
    """Beliefs stated outright in any answer ("I was sure drivers choose by pay. Kuba said no, ..."):
    the new view is the next sentence of the answer, or the one before when the belief is followed
    only by "It isn't.", or closes the answer as a contrast ("... is a photo from a phone. I'd
    imagined a complicated set-up."). "I thought she would love it." alone has no new view."""
    items = []
    for k, (s, _) in enumerate(us):
        weak = p_belief is None or p_belief[k] < STATED_MIN or COMPARED.search(s.text)
        strong = bool(STATED.search(s.text))
        if s in taken or not (strong or (THOUGHT.search(s.text) and not weak)) \
                or DENIAL.search(s.text) or STILL_HELD.search(s.text):
            continue
        after = _after_of(us, k, taken, _followed_by_no(turns, s), strong)
        if after is not None and after.pos < s.pos and "\n" in _between(turns[s.turn].text, after.text, s.text):
            after = None  # a note's line before is another point, not the new view
        if after is not None:
            items.append(_item("broken_assumption", s, text="", before=strip_lead_in(s.text), after=after.text))
            taken |= {s, after}
    return items


def _between(text: str, first: str, second: str) -> str:
    start = text.find(first) + len(first)
    return text[start: text.find(second, start)]


def _followed_by_no(turns: list[Turn], s: Sentence) -> bool:
    """Whether the words right after the sentence are a short "It isn't." / "That's not how it works"."""
    rest = sentences(turns[s.turn].text, s.turn)[s.pos + 1: s.pos + 2]
    return bool(rest) and len(rest[0].text.split()) <= 7 and bool(SHORT_NO.search(rest[0].text))


def _plain_answer(us: list[tuple[Sentence, str]], turns: set[int], taken: set) -> list[Item]:
    """An answer to "which belief didn't survive?" in plain sentences, no cue: the first is the
    belief, the next the new view ("That a low complaint rate meant people were happy. It meant
    they'd stopped bothering with us.")."""
    items = []
    for t in sorted(turns):
        sents = [s for s, _ in us if s.turn == t and s not in taken]
        if len(sents) < 2 or not _can_be_before(sents[0].text) or not _can_be_after(sents[1].text) \
                or any(KNEW.search(x.text) for x in sents[:2]):
            continue
        items.append(_item("broken_assumption", sents[0], text="", before=strip_lead_in(sents[0].text),
                           after=sents[1].text))
        taken |= {sents[0], sents[1]}
    return items


def _can_be_before(text: str) -> bool:
    return not (DENIAL.search(text) or THIN.search(text) or REJECT_START.search(text) or STILL_HELD.search(text)
                or STRONG_AFTER.search(text) or NO_LONGER.search(text))


KNEW = re.compile(r"\b((already|always) (knew|known)|knew (that|this|it)|(i|we)('ve| have) always known)\b", re.I)


def _after_of(us: list[tuple[Sentence, str]], k: int, taken: set, short_no: bool, strong: bool) -> Sentence | None:
    s = us[k][0]
    same = lambda j: 0 <= j < len(us) and us[j][0].turn == s.turn and us[j][0] not in taken  # noqa: E731
    nxt = us[k + 1][0] if same(k + 1) and not short_no else None
    prv = us[k - 1][0] if same(k - 1) else None
    if nxt is not None and _can_be_after(nxt.text):
        return nxt
    if prv is not None and (short_no or (strong and not same(k + 1))) and _can_be_after(prv.text):
        return prv
    return None


def _whole_after(s: Sentence, us: list[tuple[Sentence, str]], k: int, taken: set) -> str:
    """The new view; a bare "Turns out you can." takes the sentence after it along."""
    if len(clean_after(s.text).split()) < 4 and k + 1 < len(us):
        nxt = us[k + 1][0]
        if nxt.turn == s.turn and nxt not in taken and not BEFORE_CUE.search(nxt.text):
            taken.add(nxt)
            return f"{s.text} {nxt.text}"
    return s.text


BACKREF = re.compile(r"^\W*(that'?s|that is|which is|this is) (what|how) (i|we) (told|said|thought|believed|assumed|"
                     r"used to|always|had|kept|'d|'ve)", re.I)
STILL_HELD = re.compile(r"\b(i |we )?still (think|believe|hold|say|feel|stand by) (so|that|it|this)\b|\b(how|as|what) i "
                        r"(had )?expected\b|\b(don'?t|do not) think (it|that|anything) (has |really )?changed", re.I)
AFTER_PROBE = re.compile(r"\b(and now|think now|see it now|believe now)\b", re.I)
OPPOSITE = re.compile(r"\b(the other way (round|around)|the opposite|otherwise)\b", re.I)
# how transcripts written before the protocol's present wordings return to a belief
_EARLIER_RETURNS = ("is that still",)


@lru_cache(maxsize=1)
def baseline_question_pattern() -> re.Pattern:
    """The coach returning to a starting belief, quoted: what follows the quoted belief in the
    protocol's own wordings (senior.yaml's ``baseline_question``, baseline.yaml's ``then``), and
    in earlier ones, so the pattern follows the questions when their words change."""
    from coach.interview import Protocol, baseline_returns

    beliefs = Protocol.load("senior").slot("beliefs")
    templates = [*beliefs.baseline_question, *baseline_returns().values()]
    tails = {t.split("{belief}", 1)[1].lstrip("”\"").strip().rstrip("?").lower() for t in templates if "{belief}" in t}
    alternatives = sorted({*(t for t in tails if t), *_EARLIER_RETURNS}, key=len, reverse=True)
    return re.compile(r"[“\"]([^“”\"]+)[”\"]\s*(" + "|".join(re.escape(a) for a in alternatives) + ")", re.I | re.S)
NO_LONGER = re.compile(r"^\W*(no\b|not (really|any ?more|quite|at all|now)|i don'?t think so|nope)", re.I)


def extract_offline(turns: list[Turn], role: str = "senior") -> list[Item]:
    us = units(turns, role)
    probs = probabilities([s for s, _ in us], [feature_context(c, role) for _, c in us])
    items, classified = _beliefs(turns, us, role, probs and probs.get("belief"))
    # a belief the classifier found may also be what was learned (the rules' cues say it is not)
    in_beliefs = {it.quote for it in items} - classified
    if probs is None:
        return _dedupe(items)  # no usable sentence
    for (s, ctx), pl, pa in zip(us, probs["learned"], probs["action"]):
        if s.text in in_beliefs or DENIAL.search(s.text) or _is_header(s.text) or ASIDE.search(s.text) \
                or STILL_HELD.search(s.text):  # a view kept ("I still think it's a debt trap") is not learned
            continue
        # feedback on the sessions' format ("keep the café, change the time"), and what is still
        # open or doubted ("Whether it actually sells more paint."), is neither learned nor a plan
        if ctx in ("sessions", "unsure"):
            continue
        if pa >= ACTION_MIN and pa >= pl:
            items.append(_item("action", s))
        elif _learned(s, ctx, pl, role):
            # a commitment in the participant's own words ("We're putting a rule in the SOP",
            # "I've moved the reviews to the front desk from this month") is what they will do,
            # not what they learned, whatever the question was
            if COMMITTED.search(s.text) and not LEARN_CUE.search(s.text):
                if pa >= COMMITTED_ACTION_MIN:
                    items.append(_item("action", s))
                continue
            items.append(_item("learned", s))
    return _dedupe(sorted(items, key=lambda it: (it.turn_index, it.quote)))


BELIEF_MIN = 0.6  # by cross-validation on dev (train.py --cv-belief)
CONTRAST = re.compile(r"[,;]\s*(and|but|whereas|while)\s+(?=\w)", re.I)
LIST_BEFORE_AND = re.compile(r",\s*[\w'-]+(\s+[\w'-]+)?\s*$")  # "loyal, patient, and happy"
CONFIRMS = re.compile(r"\b(really|indeed|still|too|as well|as (i|we) (thought|expected|assumed|feared)|as expected|"
                      r"sure enough)\b", re.I)


def _contrast(text: str) -> tuple[str, str] | None:
    """'I went in with X, and she wanted Y' -> (X, Y); None when the "and" ends a list or the
    second half confirms the first ("..., and they really are")."""
    m = CONTRAST.search(text)
    if not m or m.start() <= 15 or len(text) - m.end() <= 15:
        return None
    before, after = text[: m.start()], text[m.end():]
    if m.group(1).lower() == "and" and (LIST_BEFORE_AND.search(before) or CONFIRMS.search(after)):
        return None
    return before, after


def _after_no(text: str) -> str:
    """The sentence without a leading "No," / "Not really:" (the answer to "Is that still what you
    think?"), if what is left says something."""
    m = NO_LONGER.match(text)
    rest = text[m.end():].lstrip(" ,;:.–—-!") if m else text
    return rest[:1].upper() + rest[1:] if len(rest.split()) >= 3 else ""


def _quoted_belief(turns: list[Turn], answer: int) -> str | None:
    """The starting belief the coach quoted in the question ``answer`` replies to, if it did."""
    m = baseline_question_pattern().search(turns[answer - 1].text) if answer > 0 and turns[answer - 1].speaker == "coach" else None
    return m.group(1).strip() if m else None


def _can_be_after(text: str) -> bool:
    """Whether the sentence after a belief can be the new view: not a denial of any change, a
    second belief, a turned-down suggestion, a belief still held, or a question."""
    return not (DENIAL.search(text) or BEFORE_CUE.search(text) or REJECT_START.search(text)
                or STILL_HELD.search(text) or text.rstrip().endswith("?"))


# Thresholds on the classifier's probabilities, chosen by cross-validation over the debriefs of
# every read split (train.py --cv, --cv alone, --cv rules; figures in evals/HISTORY.md).
LEARNED_MIN = 0.65
LEARNED_MIN_ALONE = 0.6  # for an answer to a question we cannot place
# answers to next-step questions hold conditions, context and non-commitments too: a plan must be likely
ACTION_MIN = 0.8
# what a junior showed is not what anyone learned; where the senior struggled, read by the classifier
NEVER_LEARNED = ("taught", "struggle")
COMMITTED_ACTION_MIN = 0.25  # a commitment the classifier read as learned is an action from here


# An answer to "How did it go?" recounts the sessions ("Third one we looked at some numbers") and,
# from a junior, what they showed ("I showed him Loom"): an account, not what was learned.
SESSION_ACCOUNT = re.compile(r"^\W*(then |and |so )?(in )?(the )?(first|second|third|fourth|fifth|last|next|other) "
                             r"(one|session|time|meeting)\b", re.I)
TAUGHT_SELF = re.compile(r"^\W*(and |then |so |also )?(i|we) (showed|show|explained|walked|taught|demonstrated|set up|"
                         r"built|made|took)\b", re.I)


def _learned(s: Sentence, ctx: str, p: float, role: str) -> bool:
    if ctx in NEVER_LEARNED:
        return False
    if ctx == "other":  # an answer we read without its question
        return p >= LEARNED_MIN_ALONE and not (SESSION_ACCOUNT.search(s.text)
                                               or (role == "junior" and TAUGHT_SELF.search(s.text)))
    return p >= LEARNED_MIN


def _is_header(text: str) -> bool:
    """"Two things." / "And the other thing, which I keep coming back to, is the comments.": what
    comes next is the point."""
    return bool(re.fullmatch(r"\W*(two|three|a few|several) things\W*(really\W*)?", text, re.I)
                or SUBJECT_ONLY.fullmatch(text))


SUBJECT_ONLY = re.compile(r"\W*(and |so |but )?(the other|another|one more|the (first|second|third|last|main|big)) thing\b"
                          r"[^.!?]{0,60}\b(is|was)\s+(the |my |our |his |her |their )?[\w'-]+( [\w'-]+)?\W*", re.I)


def _dedupe(items: list[Item]) -> list[Item]:
    seen, out = set(), []
    for it in items:
        key = (it.kind, it.quote)
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out


def extract_cues(turns: list[Turn], role: str = "senior") -> list[Item]:
    """The plain cue-phrase baseline: no context, no filters beyond the shared guard."""
    out = []
    for i, t in enumerate(turns):
        if not t.is_participant_words:
            continue
        for s in sentences(t.text, i):
            if re.search(r"\bi (learned|learnt)\b", s.text, re.I):
                out.append(_item("learned", s))
            elif re.search(r"\bi (thought|assumed|believed)\b", s.text, re.I) and re.search(r"\b(but|turns out|turned out)\b", s.text, re.I):
                b, _, a = re.split(r"\b(but|turns out|turned out)\b", s.text, maxsplit=1, flags=re.I)
                out.append(_item("broken_assumption", s, text="", before=b.strip(" ,;"), after=a.strip(" ,;")))
            elif re.search(r"\b(i'?ll|i will)\b", s.text, re.I):
                out.append(_item("action", s))
    return out
