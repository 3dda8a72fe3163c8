"""Outcome dimensions of a record: theme, depth and scope (derived in coach.records only).

Theme is the nearest of a few prototype descriptions in MiniLM space; depth and scope follow
from the record's kind and wording.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from coach.embeddings import MiniLM

# Each theme is described by a few sentences; a record takes the theme of the sentence nearest to
# it. Three broad themes filed 40% of the gold set's records as "other" (and a dashboard that says
# "other" says nothing): these five leave 16% there (evals/README.md, Dashboard themes).
THEME_PROTOTYPES = {
    "technology and digital tools": [
        "new apps, AI tools, software and platforms and how the technology works",
        "data dashboards, spreadsheets, automation, analytics and reporting tools",
        "cyber security, passwords, phishing and protecting data",
        "social media platforms, algorithms, creators, livestreams and online video",
        "setting up or using a new digital tool or device at work"],
    "customers and markets": [
        "how young customers behave, discover, buy and pay",
        "what customers, patients, users, guests and shoppers want",
        "marketing, brand, audiences, sales and how the market is changing"],
    "ways of working": [
        "how we run meetings, make decisions, share information and work as a team",
        "processes, planning, training, shifts, rotas and how work gets done",
        "communication channels: chat, e-mail, phone calls, messages and notices"],
    "people and leadership": [
        "leadership, management style, hierarchy and how leaders think",
        "younger colleagues, careers, recruitment, confidence and wellbeing",
        "mentoring, trust and relationships between generations at work"],
    "rules, risk and trust": [
        "regulation, compliance, audits, validation and legal risk",
        "privacy, consent, safety and what could go wrong"],
}
THEMES = (*THEME_PROTOTYPES, "other")
MIN_THEME_SIMILARITY = 0.2
DEPTHS = ("awareness", "understanding", "changed behaviour")
SCOPES = ("personal", "team", "organisation")
TEAM = re.compile(r"\b(we|our team|my team|the team|team|squad|department|directs|colleagues|unit)\b", re.I)
ORG = re.compile(r"\b(company|organisation|organization|firm|bank|board|group|every (store|branch|squad|team)|"
                 r"all (stores|branches|staff|teams)|company-wide|across the business|policy|strategy)\b", re.I)
UNDERSTAND = re.compile(r"\b(why|realis|realiz|understand|understood|means|because|the reason)\w*", re.I)


@lru_cache(maxsize=1)
def _theme_vectors() -> list[np.ndarray]:
    return [MiniLM.shared().embed(texts) for texts in THEME_PROTOTYPES.values()]


def themes_of(vectors: np.ndarray) -> list[str]:
    """The theme of each unit vector (MiniLM): that of its nearest prototype sentence, "other" if
    none is near."""
    names = list(THEME_PROTOTYPES)
    vecs = np.asarray(vectors, dtype=np.float32)
    sims = np.stack([(vecs @ p.T).max(axis=1) for p in _theme_vectors()], axis=1)
    return [names[int(row.argmax())] if row.max() >= MIN_THEME_SIMILARITY else "other" for row in sims]


def depth_and_scope(kind: str, text: str) -> tuple[str, str]:
    """Depth from the item's kind and wording; scope from whom it concerns."""
    if kind == "action":
        depth = "changed behaviour"
    elif kind == "broken_assumption" or UNDERSTAND.search(text):
        depth = "understanding"
    else:
        depth = "awareness"
    scope = "organisation" if ORG.search(text) else "team" if TEAM.search(text) else "personal"
    return depth, scope
