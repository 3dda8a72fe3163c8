"""What became of an action, as an answer about it says: done, partly, not_yet or dropped.

Read as people answer, not phrase by phrase: each sentence is looked at for four kinds of
signal, and the status is composed from them, because "partly" is rarely said in so many words
("Three so far. Two more are booked.", "I sent one. Then quarter-end happened.").

- a short opening reply settles it when it is one ("Done.", "Not yet.", "Half there.", "Yes!");
- **dropped**: a decision not to, or it was cancelled, skipped, parked, overtaken, refused;
- **a share**: some of it (N of M, N so far, half of it, the first few, the others not), or it
  started and then lapsed;
- **pending**: not yet, have not, still to do, booked or planned ahead, waiting on someone;
- **done**: said to be finished, live or in use, or a deed the speaker reports in the past tense.

Then: a share, or something done beside something pending, is partly; a decision against it is
dropped; pending alone is not yet; done alone is done; no signal is None (the live follow-up
then asks which it was). Participant text is only read here, never obeyed.
"""

from __future__ import annotations

import re

from coach.cues import rx, sentences_of

STATUSES = ("done", "partly", "not_yet", "dropped")

DROPPED = rx(
    r"decided? (not to|against)", r"(we|i) (decide|decided|agreed|chose) to (stop|drop|scrap|cancel|park)",
    r"(we'?re|i'?m|we are|i am) not (doing|going to do)( it| that| this)?(?! yet)", r"not doing (it|that|this)",
    r"not happening", r"won'?t (happen|go ahead|be happening)", r"won'?t(?=\s*[.!]|\s*$)", r"off the (list|table)", r"(it'?s|that'?s|so it'?s|say it'?s) off",
    r"(that one'?s|it'?s|that'?s) (gone|dead)", r"never happened", r"overtaken by events", r"not needed", r"no (longer )?need",
    r"no point", r"parked( it| that)?( indefinitely)?", r"said no", r"refused", r"scrapped", r"dropped (it|that|this)", r"abandoned",
    r"gave (it|that) up", r"not going to (learn|do|happen)", r"(is|was|got) cancell?ed", r"nothing came of it",
    r"went with .{1,40} instead", r"not (going ahead|worth it)", r"killed (it|that|the idea)", r"let (it|that) go",
    r"skipped (it|that|this)", r"(didn'?t|did not|never) [^.]{0,40}in the end", r"in the end,? (i|we) (didn'?t|did not|never)",
    r"(we|i) stopp?(ed)? (this|that) (plan|idea)", r"shelved", r"binned", r"vetoed", r"turned (it|that|us|me) down",
    r"(i'?ve|we'?ve|i|we) stopped (asking|pushing|trying|chasing)", r"didn'?t seem (any|much) point",
    r"(answer|they|she|he) (was|said) (a )?(\w+ ){0,2}no\b", r"(didn'?t|did not|don'?t|do not) (even )?need to", r"not (booking|doing|pursuing|buying|hiring|renewing|running) (it|that|them|one)")
SHARE = rx(
    r"half[- ](done|written|finished|there|way|of (it|them))", r"half a (win|job|success)", r"halfway",
    r"partly(?! (because|due|for|time|as|since))", r"partially", r"patchy", r"stalled",
    r"first (half|part|few|couple)", r"(it|we|i|they) started(,| well| beautifully| fine| ok| off|\.)", r"only (some|part|half|a few|one|two) of", r"still (some|a few)",
    r"(one|two|three|four|five|six|seven|eight|nine|\d+) (of|out of) (the |my )?(two|three|four|five|six|seven|eight|"
    r"nine|ten|twelve|\d+)", r"out of (two|three|four|five|six|seven|eight|nine|ten|twelve|\d+)", r"(one|two|three|four|five|a couple|a few|\d+) so far", r"so far,? (one|two|three|\d+)",
    r"(not|but not) (everybody|everyone|all( of)?)", r"(the )?others?,? (no|not|haven'?t|didn'?t|are (still|just)|still)",
    r"the (rest|other (one|two|three|ones))", r"(lapsed|slipped|tailed off|fizzled|dropped off|fell away|petered out|died off|died down|gone quiet|went quiet)", r"in progress", r"pick(ed)? it back up", r"get back (to|into) it",
    r"(one|two|three|four|five|six|seven|eight|nine|\d+) (still )?(haven'?t|have not|didn'?t|did not|hasn'?t)",
    r"i started (that|it|on it)", r"started,? (but|then)", r"(went|got) as far as", r"about half", r"(did|done) the first",
    r"(in|on|with) (one|a single) (team|site|floor|depot|ward|store|school|region|class) (only|so far|as a trial)",
    r"written but not (sent|shared|adopted)", r"not (yet )?(adopted|signed off|approved|rolled out|posted|published|provisioned)",
    r"sitting in (my|the) drafts", r"went back to", r"back to (paper|the old|square one|how it was)", r"didn'?t stick", r"(did|done|sent|ran|held|had) (it |one )?(once|twice)")
# Dates and bookings: something arranged (pending; with deeds that only arranged it, still not yet).
_SCHEDULED = (r"booked( for| in)?", r"in the (calendar|diary)", r"pencil(l)?ed( in)?", r"(is|it'?s|was) (scheduled|planned)",
              r"scheduled (for|on)", r"planned (for|after)", r"we'?ve picked the (day|date)")
SCHEDULED = rx(*_SCHEDULED)
# Money or a yes for it: arranged, like a date ("budget approved but not started" is not yet).
_MONEY = r"budget|funding|money|capex|spend|plan|proposal|business case"
_GOT_A_YES = r"('s| is| was| has been| got) (agreed|approved|signed off)"
APPROVED = rx(rf"({_MONEY})({_GOT_A_YES}|( agreed| approved| signed off))")
PENDING = rx(
    *_SCHEDULED, r"not (\w+ )?yet", r"not started", r"(haven'?t|hasn'?t|have not|has not)", r"on my (list|radar)", r"on the (radar|agenda|list)", r"in committee", r"still the plan",
    r"(moved|postponed|rescheduled|pushed|slipped) (to|back|into)", r"rescheduled", r"postponed",
    r"next (week|month|thursday|monday|tuesday|wednesday|friday|quarter|term|year)", r"didn'?t get (round|around|to it)",
    r"been meaning to", r"still (to do|waiting|printing|doing it the old way)", r"waiting (on|for)", r"i'?ll get to it",
    r"no \w+ yet", r"would have been", r"^not\b", r"i'?ll (do|write|send|sit|get|start|book|ask) .{0,40}(this|next|before|soon)", r"not got (round|around)",
    r"(i|we) (still )?need to", r"in the pipeline", r"still on (the )?(old|paper)",
    r"in (two|three|four|a few|a couple of|\d+) (days|weeks|months)", r"happening on", r"in the (draft )?(plan|roadmap|budget)",
    r"(i|we) (did not|didn'?t) (?!(expect|think|know|realise|realize|believe|like|want|mind|need)\b)\w+",
    r"not (circulated|sent|shared|signed|approved|published|posted|finished|started|set up)",
    r"(slot|date|it'?s|it was|meeting|session) (moved|postponed|pushed)",
    r"(next|in|from|until|after|by) (january|february|march|april|may|june|july|august|september|october|november|december)",
    r"(january|february|march|april|june|july|august|september|october|november|december|jan|feb|sept?|oct|nov|dec) now",
    r"(we'?ll|i'?ll|we will|i will) \w+( it)? (then|after|later)", r"(nothing|nobody|no one|none)\b[^.]{0,30}\byet\b")
DONE = rx(
    r"(?<!not )(?<!n't )(?<!never )(?<!nothing )done", r"did it", r"(that|this) we did", r"we did (it|that)", r"(that|it) happened", r"written", r"built it", r"finish(ed)?",
    r"completed", r"went live", r"(is|are|it'?s) live", r"every single one", r"switched", r"launched", r"up and running",
    r"in place", r"sent it", r"it works", r"(yes,? )?i have (show|shown|done)", r"is running", r"running since",
    r"(it'?s|is) on (the|our) (wiki|confluence|intranet|server|website)", r"already been used", r"been used", r"ran for",
    r"(she|he|they|we|i) did it", r"now (use|uses|using)",
    rf"({_MONEY}|it|that){_GOT_A_YES}", r"(is|are) (now )?using it", r"revisited",
    r"(it|that|this)( one)? (went|got) (to|out|up|live|ahead|through|done|sent|presented)",
    r"(it|that|this)( one)? (was|got) (?!(?:planned|booked|scheduled|postponed|delayed|rescheduled|cancell?ed|moved|pushed|parked|shelved|refused|rejected|blocked|vetoed|dropped|scrapped)\b)[a-z]{3,}ed (to|by|at|in|on|last)\b")
# A deed reported in the past tense by the speaker or their side ("I gave it last week", "we sat
# down with the plan"): done when nothing else is said. Verbs of intent are not deeds.
DEED = re.compile(
    r"\b(i|we|she|he|they)( \w+ly| then| finally| actually| already| just)? (gave|sent|wrote|ran|held|met|made|built|"
    r"took|showed|spoke|set up|put|sat|did|presented|delivered|finished|launched|published|posted|shared|trained|"
    r"walked|switched|moved|stopped|cancell?ed|changed|rewrote|ordered|signed|recorded|filmed|ran|installed|"
    r"(?!(?:want|need|plan|hope|mean|intend|decid|book|schedul|postpon|start|tri|wish|expect)ed\b)[a-z]{3,}ed)\b"
    r"|\b(i|we|she|he|they) (have|has|'ve) (already )?[a-z]{3,}(ed|en|wn|ne)\b"
    r"|^(gave|sent|wrote|ran|held|presented|delivered|finished|done|did|had|went|met|took|made|got|"
    r"(?!(?:want|need|plann|hop|mean|intend|decid|book|schedul|postpon|start|tri|wish|expect)ed\b)[a-z]{3,}ed)\b", re.I)
INTENT_ONLY = re.compile(r"\b(did|do) mean to\b|\bmeant to\b", re.I)
OPENING = {  # a short first reply that answers the question outright
    "done": re.compile(r"^\W*(yes|yep|yeah|done|finished|all done|it'?s done|that'?s done|this one is finish(ed)?|"
                       r"complete(d)?|absolutely|it did|we did|i did)\b\W*$", re.I),
    "partly": re.compile(r"^\W*((just |only )?(one|two|three|four|five|\d+)( of them| so far| out of \w+)|partly|partially|started|stalled|half( there| done| of it)?|sort of|some of it|in part|ish|"
                         r"yes and no|halfway)\b.{0,20}$", re.I),
    "not_yet": re.compile(r"^\W*(not yet|no,? not yet|not started|booked|scheduled|planned|postponed|delayed|pending|soon|"
                          r"neither|no,? neither)\b.{0,20}$", re.I),
    "dropped": re.compile(r"^\W*(dropped|scrapped|cancell?ed|no,? (we|i) (dropped|scrapped|didn'?t)|we skipped (it|that)|"
                          r"dead|parked|shelved)\b.{0,30}$", re.I),
}
# A one-word past participle ("Revisited.", "Sent.") answers "done" when no pattern above claims it.
ONE_WORD_DEED = re.compile(r"^\W*[a-z]{3,}(ed|en|wn)\W*$", re.I)
WINDOW = 3  # the first sentence that says something about the action, and the next two that say more than a word
SHARE_REACH = 5  # a share said this early in the answer is about the action, later it may be about its results
BULLET = re.compile(r"(?:^|\s)[-•*]\s+")
SELF_CORRECTION = re.compile(r"\b(wait|sorry|actually),? (yes|no)\b", re.I)
INSTEAD = re.compile(r"\binstead\b", re.I)
DONE_FIRST = re.compile(r"^\W*((so|well|yes|yeah|oh),? )?(it'?s |that'?s |this is |all )?(done|finished|completed)\b\s*[,;:!.–—-]", re.I)
YES_FIRST = re.compile(r"^\W*(yes|yep|yeah|yup)\b\s*[,;:!.–—-]", re.I)  # a "done" unless the rest says otherwise
FILLER_ONLY = re.compile(r"^\W*(um+|uh+|er+|ah+|oh|well|so|hmm+|right|ok(ay)?|mm+)\W*$", re.I)
SUMMING_UP = re.compile(r"^\W*(so|in short|overall|all in all|net net|bottom line)\b[,:]?\s*"
                        r"|^\W*(i'?d|i would|let'?s) (say|call it)\b[,:]?\s*", re.I)
_THEN = r"\b\s*([,;:!.–—-]|$)"  # the status word, then a pause: "Not yet: it's on the agenda ..."
LEADS_WITH = {
    "partly": re.compile(r"^\W*(partly( done)?|partially|half( done| there)?|halfway|in part|yes and no)" + _THEN, re.I),
    "not_yet": re.compile(r"^\W*((no,? )?not yet|not started( yet)?|booked|scheduled|postponed|pending)" + _THEN, re.I),
    "dropped": re.compile(r"^\W*(dropped|scrapped|cancell?ed|shelved|parked|(no,? )?(we|i) dropped (it|that))" + _THEN, re.I),
}
YES_ONLY = re.compile(r"^\W*(yes|yep|yeah|yup|absolutely|it did|we did|i did)\b\W*$", re.I)
NO_OPENING = re.compile(r"^\W*(no|nope|not really|neither)\W*$", re.I)


def said_outright(text: str) -> str | None:
    """The status when the answer opens by naming it ("Done.", "Not yet, it's booked.", "Half
    there."); a bare "Yes" is not one (it often answers something else: "Shall we start?")."""
    sents = [s for s in sentences_of(BULLET.sub(". ", text)) if not FILLER_ONLY.match(s)]
    if not sents or YES_ONLY.match(sents[0]):
        return None
    if DONE_FIRST.match(sents[0]) and not SHARE.search(sents[0]):
        return "done"
    return next((st for st, pattern in OPENING.items() if pattern.match(sents[0])), None) or next(
        (st for st, pattern in LEADS_WITH.items() if pattern.match(sents[0])), None)


def status_in(reply: str) -> str | None:
    """The status a reply to "done, partly done, not started yet, or dropped?" names; a bare "Yes"
    names none."""
    return None if YES_ONLY.match(reply) else reading(reply)[0]


def verdict(sentence: str) -> str | None:
    """A sentence that sums the answer up in a word or two ("So, not yet, but it has a date.",
    "Dropped.", "I'd call it half done.")."""
    rest = SUMMING_UP.sub("", sentence, count=1)
    if rest == sentence and len(sentence.split()) > 3:
        return None  # a short sentence may be a verdict by itself; a longer one needs "so" or the like
    return next((st for st, pattern in OPENING.items() if pattern.match(rest)), None)


def action_status(text: str) -> str | None:
    """done | partly | not_yet | dropped, as an answer about one action says it; None when it does
    not say."""
    return reading(text)[0]


def reading(text: str) -> tuple[str | None, bool]:
    """The status an answer says, and whether it says it plainly: a short reply that answers the
    question, or sentences that all point the same way. The live follow-up asks which it was when
    the reading is not plain, so a participant's status is theirs, not a guess."""
    sents = [s for s in sentences_of(BULLET.sub(". ", text)) if not FILLER_ONLY.match(s)]
    turned = [i for i, s in enumerate(sents) if SELF_CORRECTION.search(s)]
    if turned:  # "No, I didn't... wait. Sorry, yes, I did": the answer after the correction
        sents = sents[turned[-1]:]
    if not sents:
        return None, False
    opening = next((st for st, pattern in OPENING.items() if pattern.match(sents[0])), None)
    if opening:
        return opening, True
    verdicts = {v for v in map(verdict, sents[1:]) if v}
    if len(verdicts) == 1:  # "Launches on the 9th. [...] So, not yet, but it has a date."
        return verdicts.pop(), True
    if DONE_FIRST.match(sents[0]) and not SHARE.search(sents[0]):
        return "done", True  # "Done, twelve people came and they want another in March."
    said = [signals(s) | ({"deed"} if ONE_WORD_DEED.match(s) else set()) for s in sents]
    if YES_FIRST.match(sents[0]):
        said[0] |= {"deed"}
    first = next((i for i, f in enumerate(said) if f), None)
    negative = bool(NO_OPENING.match(sents[0]))
    if first is None:
        return ("not_yet", False) if negative else (None, False)
    # the first sentence that says something, and the next one that says more than a word ("Nice.")
    after = [i for i in range(first + 1, len(sents)) if said[i] or len(sents[i].split()) > 1][:WINDOW - 1]
    near = set().union(said[first], *(said[i] for i in after))
    if any("share" in f for f in said[:SHARE_REACH]):  # "the other two are just... waiting", said a little later
        near.add("share")
    if negative and any(INSTEAD.search(s) for s in sents):
        return "dropped", False  # "No. ... Instead we're borrowing a day a week of theirs."
    status = compose(near, negative_opening=negative)
    if status == "partly" and "share" not in near and any(SCHEDULED.search(s) or APPROVED.search(s)
                                                          for s in sents[first:first + WINDOW]):
        status = "not_yet"  # "I asked their manager and it's booked for the 14th": arranged, not yet held
    if status in (None, "not_yet") and any("dropped" in f for f in said):
        return "dropped", False  # a decision against it, said after the first reply ("Not yet. We've parked it.")
    each = {compose(f) for f in said if f}
    return status, each == {status}


def signals(text: str) -> set[str]:
    found = {name for name, pattern in (("dropped", DROPPED), ("share", SHARE), ("pending", PENDING),
                                        ("done", DONE)) if pattern.search(text)}
    if "done" not in found and any(DEED.search(s) and not INTENT_ONLY.search(s) for s in sentences_of(text)):
        found.add("deed")
    return found


def compose(found: set[str], negative_opening: bool = False) -> str | None:
    did = bool(found & {"done", "deed"})
    if "share" in found:
        return "partly"
    if "dropped" in found:
        return "dropped"
    if did and "pending" in found and not negative_opening:
        return "partly"
    if "pending" in found or negative_opening:
        return "not_yet"
    return "done" if did else None
