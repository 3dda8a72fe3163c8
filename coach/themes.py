"""Outcome dimensions of a record: theme, depth and scope (derived in coach.records only).

Theme is the nearest of a few prototype descriptions in MiniLM space; depth and scope follow
from the record's kind and wording.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from coach.embeddings import MiniLM

THEME_PROTOTYPES = {
    "technology and trends": ["new apps, AI tools, software, platforms and how the technology works",
                              "TikTok, Discord, social media platforms, algorithms, data dashboards, automation"],
    "ways of working and culture": ["how we run meetings, make decisions, share information and work as a team",
                                    "leadership, culture, processes, communication between levels, hierarchy"],
    "customers and markets": ["how young customers behave, discover, buy and pay",
                              "what customers, patients, users and shoppers want and how the market is changing"],
}
MIN_THEME_SIMILARITY = 0.2
TEAM = re.compile(r"\b(we|our team|my team|the team|team|squad|department|directs|colleagues|unit)\b", re.I)
ORG = re.compile(r"\b(company|organisation|organization|firm|bank|board|group|every (store|branch|squad|team)|"
                 r"all (stores|branches|staff|teams)|company-wide|across the business|policy|strategy)\b", re.I)
UNDERSTAND = re.compile(r"\b(why|realis|realiz|understand|understood|means|because|the reason)\w*", re.I)


@lru_cache(maxsize=1)
def _theme_vectors():
    names, vecs = [], []
    for name, texts in THEME_PROTOTYPES.items():
        names.append(name)
        vecs.append(MiniLM.shared().embed(texts).mean(axis=0))
    v = np.array(vecs)
    return names, v / np.linalg.norm(v, axis=1, keepdims=True)


def themes_of(vectors: np.ndarray) -> list[str]:
    """The nearest theme of each unit vector (MiniLM), "other" if none is near."""
    names, protos = _theme_vectors()
    sims = np.asarray(vectors, dtype=np.float32) @ protos.T
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
