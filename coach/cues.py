"""The cue vocabulary: one set of word patterns for the interview's follow-up rules and the
extractor's guard, so that an answer the guard would refuse to record (vague, hedged, a
denial) is one the interview follows up.

Patterns here decide what is *not* a record as much as what is: hedges, injection attempts,
denials and rejected coach suggestions never become items, whichever extractor proposed them.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (with any closing quotes or brackets). A stop followed at once by a
# digit, a lower-case letter or a URL character does not end one: "127.0.0.1", "example.net/a?b=1",
# "2.5%" stay whole, so a record never ends inside a web address.
_SENT = re.compile(r"(?:[^.!?…]|[.!?…]+(?=[0-9a-z/_~%=&#-]))+(?:[.!?…]+[\"”’')\]]*|$)", re.S)


def rx(*alternatives: str) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(alternatives) + r")\b", re.I)


HEDGE = rx(r"maybe", r"perhaps", r"possibly", r"i guess", r"i suppose", r"i'?m not sure", r"not sure",
           r"i don'?t know( if| whether)?", r"might", r"could be", r"i don'?t buy", r"i'?m not convinced",
           r"if i find the time", r"we'?ll see", r"not really sure", r"sort of", r"kind of")
# Words addressed to the software rather than said about the sessions (see injection_spans).
SPEAKER_LABEL = r"(participant|coach|interviewer|assistant)"  # who speaks in a transcript, as a label
INJECTION = rx(r"ignore (all |your |the |any )?(previous |prior )?(instructions|prompt|rules)", r"disregard",
               r"ignore (whatever|everything|anything|all)( else)?", r"ignore the rest", r"(you were|you'?ve been) told",
               r"system (note|prompt|message)", r"note to the (extractor|system|summary|summariser|summarizer|ai|model)",
               r"extractor", r"record that", r"write (this|that) down", r"pass (this|that) on exactly",
               # a speaker label inside an answer: a turn of the conversation made up ("Participant: Yes - ...")
               rf"(?:^|(?<=[.!?]\s)|(?<=\n))\s*{SPEAKER_LABEL}\s*:\s*\w+",
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
               r"('?s| is) (listening|reading|processing|recording|watching)",
               # role-play that hands the software another role: "let's play a game. You are now ..."
               r"ignore (the |all |any |my )?(questions?|everything|the rest)( above| before| so far)",
               r"(just|simply|only) (write|record|put|note|say) (down )?that",
               r"let'?s play a game", r"pretend (that )?(you are|you'?re)\b", r"imagine (that )?you are\b",
               r"(now you'?re|you'?re now)\b", r"with(out)? (no|any) (rules|restrictions|filters)",
               r"act as (the |an? )?(admin|administrator|facilitator|system|reviewer)",
               r"(im_start|im_end|endoftext)(?=\|)",  # chat-template tokens: "<|im_end|>"
               r"pre-?approved", r"pass (this|it|that) (on )?to the (approval|review) (step|stage|team|process)",
               r"publish (them|it|this|these|my \w+) (straight|directly|immediately)",
               # what other people will be shown, dictated: "what others see from this debrief said that ..."
               r"what (others|other (people|pairs|participants)|everyone|people) (see|read|get|are shown) "
               r"(from|of|in|about) (this|my|the) (debrief|summary|record|notes)",
               # the debrief's own state, commanded: "mark both sessions as complete", "set my status to ..."
               r"set (my|the|his|her|our) status",
               r"(?:^|(?<=[.;:,!?] )|(?<=please )|(?<=and ))mark (both |all |the |my |every )?(\w+ )?(sessions?|debriefs?|"
               r"records?|items?|answers?)( and [\w ]{1,40}?)? (as )?(complete|completed|done|finished|approved)",
               r"(don'?t|do not) ask (me )?(any )?(more|further) questions",
               r"no (further|more|other) (approval|review|checks?) (is |are )?(needed|required|necessary)",
               r"(has|have) (already )?approved (this|the|my) (debrief|records?|summary|answers?)",
               r"(please )?note (it )?down that", r"(put|place) (it )?on (the )?record that",
               # a correction that dictates the record: "the correct action is ...", "recorded inaccurately"
               r"the correct (action|learning|takeaway|record|entry|version) (is|should be|reads)",
               r"(were|was) recorded (inaccurately|incorrectly|wrongly|wrong)",
               # the same orders in other languages participants use
               r"ignor\w* (le |las |les |tes |tus |vos |die |alle |deine |as |de |je |poprzednie )?"
               r"(istruzioni|instrucciones|instructions|instruções|anweisungen|instructies|instrukcje|regole|"
               r"règles|reglas|regeln|regels|consignes)",
               r"(vergeet|vergiss|oublie|olvida|dimentica|esqueça|esquece|zapomnij)\w* (je |jouw |deine |die |tes |"
               r"les |vos |las |tus |le |as |o )?(\w+ )?(instructies|anweisungen|instructions|instrucciones|istruzioni|"
               r"instruções|instrukcjach|instrukcje|regels|regeln|règles|reglas|regole|consignes)",
               r"ne tiens? (pas )?compte de", r"non tener(e)? conto", r"negeer (de |alle |je )?",
               r"(nota|note|message|opdracht|bericht|hinweis|notatka|mensaje|mensagem|instruction|istruzione|aviso)"
               r" (per|pour|para|aan|an|dla|für|al|au|à) (l'|la |le |el |het |das |die |den |o |a )?"
               r"(intelligenza artificiale|inteligencia artificial|intelligence artificielle|künstliche intelligenz|"
               r"ia|ai|ki|sistema|système|systeem|systemu|system|logiciel|software|programma|programme|programm|"
               r"modello|modèle|model|computer|ordinateur|assistant|assistente|asistente)",
               # "Una cosa más para la máquina:", "Do modelu:": the software addressed, in any language, before a colon
               r"(?:^|(?<=[.!?;,] )|(?<=\n))((one more thing|una cosa( más| mas)?|une (autre )?chose|noch (etwas|eins)|"
               r"jeszcze (jedno|coś)|nog (iets|één ding)|ancora una cosa|mais uma coisa|also|and|now|ok(ay)?|und|et|y|e|i|en),? )?"
               r"(para|pour|für|dla|do|per|voor|an|to|for) (la |el |the |le |l'|das |die |den |il |het |o |a )?"
               r"(máquina|maquina|machine|maszyny|maschine|modelu|modelo|modello|modèle|modell|model|bot|ia|ki|ai|"
               r"sistema|systemu|system|software|programa|programm|programme)(?=\s*:)",
               # the record's wording dictated: "write down exactly this as my action", "word for word"
               r"(write|put|record|note|log|list|enter|type) (down |in )?(exactly|precisely|verbatim|word for word)\b",
               r"(write|put|record|note|log|list|enter) (down )?(exactly )?(this|the following|these words) "
               r"(as|in|for|under|at)\b", r"word for word",
               # what the record should say, told to it: "One thing the report should say: ..."
               r"(this|my|your|the final|final) (report|summary|notes|record|minutes|write-?up|debrief) (should|must|needs to|"
               r"has to|ought to) (say|state|read|list|describe|include|show|mention|note|record|reflect)",
               r"(one thing|something|what) the (report|summary|notes|record|write-?up) should (say|state|include)(?=\s*:)",
               r"worth (recording|noting down|putting on (the )?record)",
               # a polite wish about what the record or others' topic ideas will say
               r"(would be (lovely|great|nice|good|helpful|wonderful|brilliant)|(really |much )?appreciate( it)?|grateful) "
               r"if (the|my|this|your) (\w+ )?(summary|summaries|notes|record|records|report|write-?up|topic (suggestions|ideas)|"
               r"suggestions)",
               r"imagine (that )?you'?re\b", r"in (that|this|their|his|her|the) (voice|role)\b.{0,30}\b(state|say|write|record)",
               r"visible to (all|every|other) (pairs|participants|users|people|cohorts?)",
               # added after the third blind split was scored (2026-12-07): forms it showed, said generally
               r"@\w*(bot|ai|coach|assistant|system)", r"(jo bhi|para quien|para quem|till den som|til den (der|som)|"
               r"wer auch immer|chiunque|quiconque|kimse|kim)\b.{0,40}\b(ai|notes?|notas|notizen|anteckningar|referat\w*|"
               r"procese|sammanställer|skriver|bana)", r"(sisteme|yapay zekaya|modele|systemet|sistemi) (not|notu|note)",
               r"\[?(end of (the )?(transcript|interview|conversation|debrief))\]?", r"extractor note",
               r"set (the |my |his |her |our )?status( to)?",
               r"(record|note|log|list|put|enter) (this |it )?as (my|the|his|her|their|our) (\w+'?s? )?(assessment|action|"
               r"learning|takeaway|record|broken assumption|key \w+)",
               r"for the (broken assumption|learning|action|record|summary|evidence( \w+){0,4}),? (write|put|record|add|state|say)",
               r"add (the|this|a) (line|sentence|entry|item)\b", r"rank .{1,40} as (the )?(number one|#?1|top|first)",
               r"(make|leave|add) a note (for|to) (future|other|next|all) (pairs|participants|cohorts?|juniors|seniors)")


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

# A flat denial: never a record, and a change of mind when it follows an affirmation of the same thing.
DENIAL = rx(r"nothing (really )?(changed|new)", r"didn'?t (really )?(learn|change)( anything| much)?",
            r"didn'?t (really )?(learn|teach|gain|change) anything", r"learn[et] nothing", r"nothing (has )?changed",
            r"not going to change anything", r"won'?t do anything differently", r"no different(ly)?",
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
# first-person commitments and changes already made (the offline extractor files them as actions, not learned)
COMMITTED = re.compile(r"\b(i'?ll|i will|we'?ll|we will|i'?m going to|we'?re going to|i'?ve (already )?(asked|moved|"
                       r"booked|set up|started|told|changed|scheduled|put|agreed)|we'?ve (asked|moved|booked|set up|started|"
                       r"changed|agreed|decided)|(i'?m|we'?re) (now )?(putting|setting up|running|ordering|booking|"
                       r"starting|moving|changing|making|writing|building))\b", re.I)
# a step someone else asked of them ("she's asked me to present it in June"): a plan they took on
ASKED_OF_ME = re.compile(r"\b(asks?|asked|wants?|invited) me to\b|\basked (me )?if i (could|would)\b", re.I)
# what already happened: not a step still to take
DONE_ALREADY = re.compile(r"\b(last (week|month|year|time|session)|ago|yesterday|earlier|already did)\b", re.I)
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


# A remark about the debrief tool itself ("My summary lost my two actions.", "You missed my
# second point"): about the record, not a record. Words to the software that try to change the
# record are INJECTION; these only complain or ask about it.
META = re.compile(
    r"\b(my|the|your|this) (summary|summaries|write-?up|record|records|transcript|debrief|notes|list|answers?)\b"
    r"( (has|have|had|just|also|completely|somehow|then))* (lost|loses|missed|misses|dropped|drops|left out|leaves out|forgot|forgets|deleted|is wrong|"
    r"was wrong|got (it|that) wrong|doesn'?t (show|have|include)|didn'?t (show|keep|include|save|record))\b|"
    r"\byou('ve| have)? ((lost|missed|dropped|left out|forgot|deleted) (my|both of my|all my|what i)|"
    r"got (that|this|my \w+) wrong)\b|"
    r"\b(lost|missed|dropped|left out|deleted) (my|both of my|all my) (\w+ )?(actions?|points?|answers?|items?|"
    r"learnings?|records?)\b", re.I)


# A wish, an idea or an open decision is not a plan: "I'd love to do a stream one day", "that's
# very much a thought", "I haven't decided".
NOT_A_PLAN = rx(r"i'?d love to", r"i would love to", r"some ?day", r"(just |very much |only )?a thought",
                r"(i'?m|we'?re) (also |still )?(thinking|wondering) about", r"a dream", r"(i'?m|we'?re) not going to",
                r"(haven'?t|have not|not|hasn'?t been|isn'?t|wasn'?t|not yet) (yet |really )?decided", r"undecided",
                r"i'?d (need|have) to (see|think|check)", r"years off", r"in an ideal world", r"would be nice")


def says_nothing(text: str, topic: frozenset[str] = frozenset()) -> bool:
    """Vague (is_vague) and mostly empty words, or nothing beyond the topic's name: "it was very
    interesting, I learned a lot about social media". Narrower than is_vague, which also takes
    terse points ("How grants work.") that are worth a follow-up but still worth recording."""
    n = words(text)
    return is_vague(text, topic) and (content_words(text, topic) == 0 or content_words(text) < 0.4 * n)


def about_the_tool(text: str) -> bool:
    return bool(META.search(text))


# "exactly the kind of thing they worry about": a noun, not a hedge ("that kind of scared me" is one)
KIND_OF_NOUN = re.compile(r"\b(the|a|an|this|these|those|what|which|every|any|some|same|other|all) (kind|sort)s? of\b", re.I)


def hedged_not_kind_of(text: str, belief: bool = False) -> bool:
    """hedged(), without taking "the kind of thing" for a hedge."""
    return hedged(KIND_OF_NOUN.sub("~", text), belief=belief)


def is_question(text: str) -> bool:
    """A sentence that asks ("Sorry, I don't see the contradiction?"): never a record. A question
    quoted at the end of a statement (he asks "what decision would this change?") does not ask."""
    return text.rstrip().endswith("?")


def hedged(text: str, belief: bool = False) -> bool:
    """A hedge makes a sentence no learning or action. In a stated belief ("I suppose I thought
    X") the hedge is about the old view, so the belief still counts."""
    return bool(HEDGE.search(text)) and not (belief and BEFORE_CUE.search(text))



# -- answer-level cues (the interview) ------------------------------------------------------------

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
# The interview asks for the earlier belief until the answer states one: any belief cue the
# extractor reads, or a plain marker of the past.
STATES_BEFORE = re.compile(BEFORE_CUE.pattern[:-3] + r"|i (used to|had|always|once) (think|believe|assume)|"
                           r"i expected|before the sessions|previously|beforehand|in the past|at first)\b", re.I)
AFTER = re.compile(r"\b(now|turns out|turned out|actually|but|realis|realiz|learned|learnt|no longer)\w*", re.I)
# Answers that say little was learned: they thin an answer ("not much, really") without denying it.
THIN = re.compile(
    r"\b(didn'?t (really )?(learn|teach|gain|change) much|not (much|really)|not sure|nothing special|"
    r"(views?|mind) (didn'?t|did not|hasn'?t) change|just the basics)\b", re.I)


def words(text: str) -> int:
    return len(_WORD.findall(text))


TIME = re.compile(
    r"\b(today|tomorrow|tonight|next|this (week|month|quarter|year|sprint)|by|from|starting|before|after|"
    r"monday|tuesday|wednesday|thursday|friday|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|q[1-4]|sprint|weekly|monthly|every|each|soon|immediately|"
    r"end of (the )?(week|month|quarter|year|term))\b|\d", re.I)


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
    if (DENIAL.search(text) or THIN.search(text)) and c <= 8:
        return True
    return text.count("!") >= 2 and c <= 5


def has_time(text: str) -> bool:
    return bool(TIME.search(text))


def has_example(text: str) -> bool:
    return bool(EXAMPLE.search(text) or NAMED_DEED.search(text))


def states_before(text: str) -> bool:
    return bool(STATES_BEFORE.search(text))


def states_after(text: str) -> bool:
    return bool(AFTER.search(text))


def first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence, cut at a word boundary (never mid-word) if longer than ``limit``."""
    s = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    if len(s) <= limit:
        return s
    cut = s[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:–—-")
    return cut + "…"


def find_contradiction(text: str, earlier: list[str]) -> str | None:
    """The earlier words, if this answer flatly denies what an earlier substantive answer to the
    same question affirmed (claims about different things, say what a junior taught and what
    they gained, do not contradict each other)."""
    if not DENIAL.search(text):
        return None
    for prev in earlier:
        if not DENIAL.search(prev) and not THIN.search(prev) and not is_vague(prev):
            return first_sentence(prev)
    return None


def unrecordable(sentence: str, *, belief: bool = False, topic: frozenset[str] = frozenset()) -> str | None:
    """Why a sentence must not be a record ("vague", "hedge", "denial"), or None. The guard
    refuses items for these reasons; the interview follows up an answer made only of them."""
    if hedged(sentence, belief=belief):
        return "hedge"
    if DENIAL.search(sentence) and not belief:
        return "denial"
    if is_vague(sentence, topic):
        return "vague"
    return None


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in ``text``: a run of them is a verbatim quote."""
    return [m.span() for m in _SENT.finditer(text) if len(m.group(0).strip()) >= 2]


def sentences_of(text: str) -> list[str]:
    return [m.group(0).strip() for m in _SENT.finditer(text) if len(m.group(0).strip()) >= 2]


def nothing_to_record(answer: str, topic: frozenset[str] = frozenset(), belief: bool = False) -> bool:
    """Every sentence of the answer is one the guard would refuse: the interview asks again."""
    return all(unrecordable(s, belief=belief, topic=topic) for s in sentences_of(answer)) if answer.strip() else True


# -- replies to a check-back (the coach saying back what it will record) ------------------------

AGREE = re.compile(r"^\W*(yes|yeah|yep|yup|ja|si|oui|correct|exactly|right|that'?s (it|right|correct|fine)|spot on|"
                   r"absolutely|indeed|perfect|sure|ok(ay)?|fine|good|precisely|that'?s what i (said|meant))\b", re.I)
DISAGREE = re.compile(r"^\W*(no|nope|nah|not (really|quite|exactly|at all)|that'?s not (it|right|what i (said|meant))|"
                      r"wrong|incorrect)\b[\s,.;:!–—-]*", re.I)


def gist_of(answer: str, max_words: int = 9) -> str:
    """The first point of an answer, in its own words, cut short: for an acknowledgement that
    shows the coach heard something specific ("" when the answer has no such point)."""
    for sentence in sentences_of(answer):
        if unrecordable(sentence):
            continue
        point = re.split(r"[,;:–—(]| but | because | which | so that | when | while | if | so ",
                         LEAD_IN.sub("", sentence), maxsplit=1)[0]
        words = point.strip(" .!?").split()
        if len(words) < 3:
            continue
        return " ".join(words[:max_words]) + ("…" if len(words) > max_words else "")
    return ""


# "I learned that", "What I took away was", "Honestly," ...: not the point itself
LEAD_IN = re.compile(r"^\W*((and|also|so|well|honestly|actually|okay|ok|yes|yeah|i think|i guess)[,:]?\s+)*"
                     r"((what )?i (learned|learnt|realised|realized|found|discovered|saw|noticed|took away)( is| was)?"
                     r"( that)?|the (main|big|key) thing (is|was)( that)?)?[,:]?\s*", re.I)


# -- what became of an action (the follow-up) -----------------------------------------------------
# Read by the follow-up's rules (which follow-up to ask) and the outcome extractor alike. Each
# pattern is a way people say it; the conventions are evals/followup/README.md's ("booked" is not
# yet, "written but not sent" is partly, "overtaken by events" is dropped).

# A decision the action changed, named: "I didn't renew the billboard contract", "we pulled the tender".
DECISION = rx(r"didn'?t renew", r"not (to )?renew", r"cancel(l)?ed", r"pulled (the|our|an?)", r"decided to", r"we have decided",
              r"changed (the|our|my) (recommendation|plan|decision|mind)", r"instead", r"halved", r"put .{1,30} back",
              r"stopped (approving|paying|buying)", r"didn'?t sign", r"sent it back", r"are back in", r"moved the .{1,30}(money|budget)",
              r"(money|budget) goes to", r"no longer (need|buy|pay)", r"would never have agreed")
YES_START = re.compile(r"^\W*(yes|yeah|yep|it did|indeed|absolutely|definitely|the \w+ did)\b", re.I)
NO_START = re.compile(r"^\W*(no|nope|not really|not yet|nothing|neither)\b", re.I)


def names_a_decision(text: str) -> bool:
    return bool(DECISION.search(text))


# An answer that already says why an action stalled ("because legal said no", "we were waiting on IT").
REASON = rx(r"because", r"since", r"as (we|i|they|the)", r"but", r"due to", r"waiting", r"blocked", r"busy", r"no time",
            r"too (busy|slow|much|expensive)", r"budget", r"legal", r"couldn'?t", r"can'?t", r"didn'?t have", r"got in the way",
            r"ate (the|my)", r"eaten by", r"nobody", r"no one", r"stuck", r"cancelled")


def gives_a_reason(text: str) -> bool:
    return bool(REASON.search(text))
