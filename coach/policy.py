"""Who may do what: the signed-in person (:class:`Actor`) and the checks every domain action
makes itself, so that the web UI and the command line share one policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class AccessDenied(PermissionError):
    """The signed-in person may not do this; the message is safe to show them."""


@dataclass(frozen=True)
class Actor:
    """The signed-in person making a request."""

    id: int
    username: str
    role: str  # participant | facilitator | admin
    programme: str | None = None  # a facilitator's programme
    display_name: str | None = None

    @classmethod
    def of(cls, u: Any) -> Actor:
        return cls(u.id, u.username, u.role, u.programme, u.display_name)

    @property
    def name(self) -> str:
        return self.display_name or self.username

    def require(self, *roles: str) -> Actor:
        if self.role not in roles:
            raise AccessDenied("Your account cannot do this.")
        return self


# The operator at the shell: whoever can run `python -m coach` can read the database anyway.
OPERATOR = Actor(0, "cli", "admin")


def check_owner(actor: Actor, owner_id: int | None) -> None:
    """A participant acts only on their own debrief (same words whether or not it exists)."""
    if actor.role != "participant" or owner_id is None or owner_id != actor.id:
        raise AccessDenied("This debrief is not yours.")


def check_reviewer(actor: Actor, programme: str | None) -> None:
    """A facilitator reviews only debriefs of their own programme (the operator any)."""
    if actor is OPERATOR:
        return
    actor.require("facilitator")
    if programme is None or programme != actor.programme:
        raise AccessDenied("This debrief is not in your programme.")
