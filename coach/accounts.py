"""Accounts, sign-in sessions, invitations, and the access log.

Roles: a **participant** sees only their own debriefs; a **facilitator** runs one programme
(creates its pairs and invites its participants, reviews what participants agreed to share);
an **admin** creates facilitators and looks after the installation, but reads no debrief.

Passwords are stored as argon2id hashes. Invitation links and session cookies are random
tokens of which only the SHA-256 is stored, so a copy of the database opens no account.

An admin reads no debrief, and cannot make themselves a reader: no signed-in person may send a
password-setting link for an account that has a password (only the operator resets one, with
``python -m coach user reset NAME``), and a facilitator an admin creates, or sends a new link, for
a programme that already has a facilitator or pairs reads nothing of it until a facilitator of
that programme (or the operator) approves the account.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from coach.policy import OPERATOR, AccessDenied, Actor  # noqa: F401  (re-exported: the accounts' callers use them)
from coach.store.db import Database
from coach.store.models import AccessLog, CheckIn, Debrief, Invitation, Pair, PairSession, SignInSession, User, utcnow

ROLES = ("participant", "facilitator", "admin")
# The Actor role of a facilitator awaiting approval (see _actor); never stored in users.role.
PENDING = "pending"
MIN_PASSWORD = 10
SESSION_CACHE_SECONDS = 5.0
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{1,199}$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters (~0.1 s, 64 MiB)
# At most this many hashes at once, so a burst of sign-ins queues instead of starving the
# interviews running beside it (measured with evals/load/run.py).
_hashing = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))
# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")
# The password of an account the operator reset: no password matches it (it is not a hash), yet
# the account still counts as having a password, so no admin or facilitator may send it a link.
RESET = "!reset"


def _hash(password: str) -> str:
    with _hashing:
        return _hasher.hash(password)


def _verify(stored: str, password: str) -> bool:
    with _hashing:
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError, UnicodeEncodeError):  # RESET; a lone surrogate
            return False


class AccountError(ValueError):
    """A request about accounts that cannot be done as asked (shown to the user)."""


def readable(text: str | None) -> bool:
    """Whether text can be stored and shown. A lone surrogate ("\\ud800": JSON allows one, and so
    does a form posted in an odd charset) has no UTF-8 form: SQLite, PostgreSQL and argon2 all
    fail on it with a raw UnicodeEncodeError."""
    try:
        (text or "").encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stored_text(text: str | None, what: str) -> str | None:
    if not readable(text):
        raise AccountError(f"The {what} contains a character that cannot be stored; please type it again.")
    return (text or "").strip() or None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)  # SQLite drops the zone


def normalise_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not USERNAME.match(name):
        raise AccountError("A sign-in name is 2-200 characters: letters, digits and . _ @ + - "
                           "(an e-mail address works).")
    return name


def check_password(password: str) -> str:
    if not readable(password):
        raise AccountError("That password contains a character that cannot be stored; please type it again.")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"Please choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > 1024:
        raise AccountError("That password is too long (at most 1024 characters).")
    return password


_HAS_PASSWORD = ("“{name}” has chosen a password. A new link would let whoever holds it sign in as them, so "
                 "only the operator resets a password, at the server: python -m coach user reset {name}")


def _established(s, programme: str | None, other_than: int | None = None) -> bool:
    """Whether a programme already has a facilitator (active or closed: closing the one
    facilitator must not open the door) or pairs, i.e. debriefs someone else may own."""
    if not programme:
        return False
    fac = select(User.id).where(User.role == "facilitator", User.programme == programme,
                                User.review_pending.is_(False))
    if other_than is not None:
        fac = fac.where(User.id != other_than)
    return (s.scalar(fac.limit(1)) is not None
            or s.scalar(select(Pair.id).where(Pair.programme == programme).limit(1)) is not None)


def _actor(u: User) -> Actor:
    """The signed-in person. A facilitator awaiting approval acts as role PENDING of no
    programme: every check refuses what it does not know (``require("facilitator")``,
    check_reviewer, check_owner), and nothing that keys on a programme finds one, so such an
    account reaches no debrief, whichever call a page makes. (A facilitator of programme None
    would not do: ``Debriefs.pairs(None)`` lists every programme's pairs.)"""
    if u.role == "facilitator" and u.review_pending:
        return Actor(u.id, u.username, PENDING, None, u.display_name)
    return Actor.of(u)


class Accounts:
    def __init__(self, db: Database, *, idle_minutes: int = 120, max_hours: int = 12, invitation_days: int = 7,
                 cache_seconds: float = SESSION_CACHE_SECONDS):
        self.db = db
        self.cache_seconds = cache_seconds
        self.idle = timedelta(minutes=idle_minutes)
        self.max_age = timedelta(hours=max_hours)
        self.invitation_age = timedelta(days=invitation_days)
        # token hash -> (actor, monotonic time checked): most requests skip the database. Sign-out
        # and closing an account clear it at once in this process; other app processes sharing
        # the database notice within ``cache_seconds``; an expiry may likewise land that late.
        self._cache: dict[str, tuple[Actor, float]] = {}
        self._cache_lock = threading.Lock()

    @classmethod
    def from_settings(cls, db: Database, s) -> Accounts:
        # Several app instances share a PostgreSQL database: a session cached in one would outlive a
        # sign-out in another, so there every request reads the session (one indexed lookup).
        cache = SESSION_CACHE_SECONDS if db.engine.dialect.name == "sqlite" else 0.0
        return cls(db, idle_minutes=s.session_idle_minutes, max_hours=s.session_max_hours,
                   invitation_days=s.invitation_days, cache_seconds=cache)

    # -- users and invitations -------------------------------------------------------------

    def create_user(self, username: str, role: str, *, password: str | None = None, programme: str | None = None,
                    display_name: str | None = None, created_by: Actor | None = None) -> User:
        if role not in ROLES:
            raise AccountError(f"Unknown role {role!r}; one of {', '.join(ROLES)}.")
        programme = _stored_text(programme, "programme")
        display_name = _stored_text(display_name, "name")
        if role == "facilitator" and not programme:
            raise AccountError("A facilitator needs the programme they run.")
        name = normalise_username(username)
        with self.db.session() as s:
            if s.scalar(select(User.id).where(User.username == name)) is not None:
                raise AccountError(f"The sign-in name “{name}” is already taken.")
            # created by a signed-in admin (not the operator at the shell) for a programme that exists
            pending = role == "facilitator" and bool(created_by and created_by.id) and _established(s, programme)
            u = User(username=name, role=role, programme=programme, display_name=display_name,
                     password_hash=_hash(check_password(password)) if password else None,
                     created_by=created_by.id if created_by else None, active=True, review_pending=pending)
            s.add(u)
            s.flush()
            return u

    def invite(self, user_id: int, created_by: Actor | None = None) -> str:
        """A single-use token to set the user's password (older unused ones stop working).
        Whoever holds it can sign in as the user, so a signed-in person (``created_by``) gets one
        only for an account without a password; the operator (no ``created_by``, or OPERATOR)
        for any: see :meth:`reset`."""
        token = secrets.token_urlsafe(32)
        with self.db.session() as s:
            u = s.get(User, user_id)
            if u is None:
                raise AccountError("No such account.")
            if created_by is not None and created_by.id and u.password_hash:
                raise AccountError(_HAS_PASSWORD.format(name=u.username))
            s.execute(delete(Invitation).where(Invitation.user_id == user_id, Invitation.used_at.is_(None)))
            s.add(Invitation(token_hash=_token_hash(token), user_id=user_id,
                             created_by=created_by.id if created_by else None,
                             expires_at=utcnow() + self.invitation_age))
        return token

    def invitation_user(self, token: str) -> User | None:
        """The user an unused, unexpired invitation is for."""
        with self.db.session() as s:
            inv = s.scalar(select(Invitation).where(Invitation.token_hash == _token_hash(token or "")))
            if inv is None or inv.used_at is not None or _aware(inv.expires_at) < utcnow():
                return None
            u = s.get(User, inv.user_id)
            return u if u is not None and u.active else None

    def accept(self, token: str, password: str) -> User:
        """Use an invitation: set the password. The link cannot be used again."""
        check_password(password)
        with self.db.session() as s:
            inv = s.scalar(select(Invitation).where(Invitation.token_hash == _token_hash(token or ""))
                           .with_for_update())
            if inv is None or inv.used_at is not None or _aware(inv.expires_at) < utcnow():
                raise AccountError("This invitation link has been used or has expired. "
                                   "Please ask whoever sent it (your facilitator or administrator) for a new one.")
            u = s.get(User, inv.user_id)
            if u is None or not u.active:
                raise AccountError("This account has been closed.")
            inv.used_at = utcnow()
            u.password_hash = _hash(password)
            s.execute(delete(SignInSession).where(SignInSession.user_id == u.id))
            self._forget(user_id=u.id)
            return u

    def check_participant(self, username: str) -> User | None:
        """Raise if ``username`` cannot be a participant; the existing account, if any. The
        message does not say why (another role, a closed account): facilitators learn nothing
        about other accounts from it."""
        u = self.find(normalise_username(username))
        if u is not None and (u.role != "participant" or not u.active):
            raise AccountError(f"“{u.username}” cannot be used as a participant's sign-in name; please choose another.")
        return u

    def participant(self, username: str, display_name: str | None, created_by: Actor) -> tuple[User, str | None]:
        """The participant account for ``username`` (created if new) and, when it has no password
        yet and may be re-invited by ``created_by``, a fresh invitation token for it."""
        u = self.check_participant(username)
        by = created_by if created_by.id else None  # the CLI operator has no account
        if u is None:
            u = self.create_user(username, "participant", display_name=display_name, created_by=by)
        if u.password_hash or not self._may_reinvite(created_by, u.id):
            return u, None
        return u, self.invite(u.id, by)

    def _may_reinvite(self, actor: Actor, user_id: int) -> bool:
        """A new invitation replaces the old one, so whoever gets it can take the account: only
        for someone all of whose debriefs are in the facilitator's programme (or an operator)."""
        if actor.role == "admin":
            return True
        with self.db.session() as s:
            programmes = set(s.scalars(select(Pair.programme).join(Debrief, Debrief.pair_id == Pair.id)
                                       .where(Debrief.participant_id == user_id)))
        return programmes <= {actor.programme}

    def find(self, username: str) -> User | None:
        if not readable(username):
            return None  # no account has such a name
        with self.db.session() as s:
            return s.scalar(select(User).where(User.username == (username or "").strip().lower()))

    def users(self) -> list[User]:
        with self.db.session() as s:
            return list(s.scalars(select(User).order_by(User.role, User.username)))

    def set_active(self, actor: Actor, user_id: int, active: bool) -> None:
        actor.require("admin")
        if user_id == actor.id and not active:
            raise AccountError("You cannot close your own account.")
        with self.db.session() as s:
            u = s.get(User, user_id)
            if u is None:
                raise AccountError("No such account.")
            u.active = active
            self._forget(user_id=user_id)
            if not active:
                s.execute(delete(SignInSession).where(SignInSession.user_id == user_id))

    def reinvite(self, actor: Actor, user_id: int) -> tuple[str, str]:
        """(username, token) of a new single-use link for an account whose first link was lost;
        earlier unused links stop working. Admins only. The link lets whoever has it choose the
        password, so an account that has one is not reset this way (an admin, who reads no
        debrief, could then sign in as a participant or a facilitator): the operator resets it
        (:meth:`reset`). A facilitator of a programme that already has a facilitator or pairs
        waits for approval again, as one the admin just created would."""
        actor.require("admin")
        with self.db.session() as s:
            u = s.get(User, user_id)
            if u is None:
                raise AccountError("No such account.")
            if not u.active:
                raise AccountError(f"“{u.username}” is closed: reopen the account first.")
            if u.password_hash:
                raise AccountError(_HAS_PASSWORD.format(name=u.username))
            if u.role == "facilitator" and _established(s, u.programme, other_than=u.id):
                u.review_pending = True
            username = u.username
        self._forget(user_id=user_id)
        return username, self.invite(user_id, actor)

    def reset(self, actor: Actor, user_id: int) -> tuple[str, str]:
        """The operator's password reset (``python -m coach user reset NAME``): every sign-in of
        the account ends, its old password stops working, and (username, token) of a new
        single-use link is returned. Only the operator, who can read the database anyway."""
        if actor is not OPERATOR:
            raise AccessDenied("Only the operator resets a password: python -m coach user reset NAME.")
        with self.db.session() as s:
            u = s.get(User, user_id)
            if u is None:
                raise AccountError("No such account.")
            if not u.active:
                raise AccountError(f"“{u.username}” is closed: reopen the account first.")
            u.password_hash = RESET
            s.execute(delete(SignInSession).where(SignInSession.user_id == user_id))
            username = u.username
        self._forget(user_id=user_id)
        return username, self.invite(user_id)

    def approve_facilitator(self, actor: Actor, user_id: int) -> None:
        """Let a facilitator awaiting approval (see :meth:`create_user`) review their programme.
        Only an approved, active facilitator of the same programme (or the operator) may, and
        only once the account has chosen its password: approving says “this account is my
        colleague's”, which an unused link (perhaps still in an admin's hands) is not."""
        with self.db.session() as s:
            u = s.get(User, user_id)
            if u is None or u.role != "facilitator" or not u.review_pending:
                raise AccountError("That account is not a facilitator awaiting approval.")
            if actor is not OPERATOR:
                me = s.get(User, actor.id)
                if (me is None or me.role != "facilitator" or not me.active or me.review_pending
                        or me.programme != u.programme):
                    raise AccessDenied("Only a facilitator of the same programme can approve this account.")
            if not u.active:
                raise AccountError(f"“{u.username}” is closed: reopen the account first.")
            if not u.password_hash:
                raise AccountError(f"“{u.username}” has not chosen a password yet: approve the account once your "
                                   "colleague has used their invitation link and signed in.")
            u.review_pending = False
            username = u.username
        self._forget(user_id=user_id)
        self.log(actor, "facilitator.approve", f"user:{username}", "may now review the programme's shared debriefs")

    def awaiting_approval(self, actor: Actor) -> list[User]:
        """Facilitator accounts of the actor's programme that wait for approval (for an approved
        facilitator; the operator sees every programme's)."""
        q = select(User).where(User.role == "facilitator", User.review_pending.is_(True), User.active.is_(True))
        if actor is not OPERATOR:
            q = q.where(User.programme == actor.require("facilitator").programme)
        with self.db.session() as s:
            return list(s.scalars(q.order_by(User.username)))

    def delete_user(self, user_id: int) -> None:
        """Remove the account, its sessions and invitations (its debriefs are deleted first by
        the caller, through :meth:`coach.debriefs.Debriefs.delete`). The access log keeps the
        name: it records who read what, which must outlive the reader's account."""
        self._forget(user_id=user_id)
        with self.db.session() as s:
            s.execute(delete(SignInSession).where(SignInSession.user_id == user_id))
            s.execute(delete(Invitation).where(Invitation.user_id == user_id))
            # their words elsewhere: check-in answers, and the line on what a session they logged
            # covered (the session itself stays: the pair held it)
            s.execute(delete(CheckIn).where(CheckIn.participant_id == user_id))
            s.execute(update(PairSession).where(PairSession.logged_by == user_id,
                                                PairSession.logged_as.in_(("senior", "junior")))
                      .values(covered=None))
            u = s.get(User, user_id)
            if u is not None:
                s.delete(u)

    def change_password(self, user_id: int, current: str, new: str) -> str | None:
        """Set a new password for a signed-in user who knows the current one. Every sign-in of
        the account ends (another browser may be someone else's); returns a new session token
        for this one (None if the account was closed meanwhile)."""
        check_password(new)
        with self.db.session() as s:
            u = s.get(User, user_id)
            if u is None or not u.active or not u.password_hash or not _verify(u.password_hash, current or ""):
                raise AccountError("Your current password is not right.")
            u.password_hash = _hash(new)
            s.execute(delete(SignInSession).where(SignInSession.user_id == u.id))
            username = u.username
        self._forget(user_id=user_id)
        return self.sign_in(username, new)

    def has_admin(self) -> bool:
        """Whether an active admin has chosen a password (one query: this runs at every start)."""
        with self.db.session() as s:
            return s.scalar(select(User.id).where(User.role == "admin", User.active.is_(True),
                                                  User.password_hash.is_not(None)).limit(1)) is not None

    # -- sign-in sessions ------------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> str | None:
        """A new session token, or None. Unknown names cost as much time as wrong passwords."""
        u = self.find(username)
        ok = _verify(u.password_hash if u and u.password_hash else _DUMMY_HASH, password or "")
        if not ok or u is None or not u.password_hash or not u.active:
            return None
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.db.session() as s:
            if _hasher.check_needs_rehash(u.password_hash) and (row := s.get(User, u.id)) is not None:
                row.password_hash = _hash(password)
            s.add(SignInSession(token_hash=_token_hash(token), user_id=u.id, created_at=now, last_seen=now,
                                expires_at=now + self.max_age))
        return token

    def session_actor(self, token: str | None) -> Actor | None:
        """Who holds this session token; None once it is unknown, idle too long or too old."""
        if not token:
            return None
        h = _token_hash(token)
        with self._cache_lock:
            hit = self._cache.get(h)
        if hit and time.monotonic() - hit[1] < self.cache_seconds:
            return hit[0]
        actor = self._session_actor_db(h)
        with self._cache_lock:
            if actor is None:
                self._cache.pop(h, None)
            else:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[h] = (actor, time.monotonic())
        return actor

    def _session_actor_db(self, h: str) -> Actor | None:
        now = utcnow()
        with self.db.session() as s:
            sess = s.get(SignInSession, h)
            if sess is None:
                return None
            if _aware(sess.expires_at) < now or _aware(sess.last_seen) + self.idle < now:
                s.delete(sess)
                return None
            u = s.get(User, sess.user_id)
            if u is None or not u.active:
                return None
            if now - _aware(sess.last_seen) > timedelta(seconds=60):  # fewer writes, same idle limit
                sess.last_seen = now
            return _actor(u)

    def _forget(self, user_id: int | None = None, h: str | None = None) -> None:
        with self._cache_lock:
            for k in [k for k, (a, _) in self._cache.items() if k == h or a.id == user_id]:
                del self._cache[k]

    def sign_out(self, token: str | None) -> None:
        if token:
            self._forget(h=_token_hash(token))
            with self.db.session() as s:
                s.execute(delete(SignInSession).where(SignInSession.token_hash == _token_hash(token)))

    def actor(self, username: str | None) -> Actor | None:
        u = self.find(username) if username else None
        if u is None or not u.active:
            return None
        return _actor(u)

    # -- who may see what ------------------------------------------------------------------

    def own_debriefs(self, actor: Actor) -> list[tuple[str, str, str, str, str]]:
        """(debrief id, role, topic, status, source) of the participant's debriefs and follow-ups
        (source "followup"), newest first."""
        with self.db.session() as s:
            rows = s.execute(select(Debrief.id, Debrief.role, Pair.topic, Debrief.status, Debrief.source)
                             .join(Pair, Pair.id == Debrief.pair_id)
                             .where(Debrief.participant_id == actor.id)
                             .order_by(Debrief.created_at.desc())).all()
        return [(did, role, topic, status, source) for did, role, topic, status, source in rows]

    def programmes_of(self, actor: Actor) -> set[str]:
        """The programmes whose shared debriefs may inform what this person is shown: a
        facilitator's own; a participant's, through their pairs."""
        if actor.role == "facilitator":
            return {actor.programme} if actor.programme else set()
        with self.db.session() as s:
            return set(s.scalars(select(Pair.programme).join(Debrief, Debrief.pair_id == Pair.id)
                                 .where(Debrief.participant_id == actor.id)))

    # -- access log ------------------------------------------------------------------------

    def log(self, actor: Actor, action: str, target: str, detail: str | None = None) -> None:
        with self.db.session() as s:
            s.add(AccessLog(user_id=actor.id, username=actor.username, role=actor.role, action=action,
                            target=target, detail=detail))

    def access_log(self, limit: int = 200) -> list[AccessLog]:
        with self.db.session() as s:
            return list(s.scalars(select(AccessLog).order_by(AccessLog.id.desc()).limit(limit)))
