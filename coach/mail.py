"""Mail: a queue in SQL and a sender that works through it.

A message is a row of ``mail_outbox`` written in the same transaction as whatever caused it, so a
request never waits for the mail server and a mail server that is down loses nothing: the sender
(a thread of the app process) hands each due message to SMTP, records every attempt, and retries
a failure with a doubling wait (capped), for as long as it takes. Several app instances share the
queue: a message is claimed with a conditional UPDATE before it is sent. With no mail server
configured nothing is queued and the app shows links to copy, as before.

Every message is plain, short, has one link and holds no debrief content (coach.reminders writes
them). A nudge to a participant who turned reminders off is not sent, even if it was queued
before they did.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coach.policy import OPERATOR, Actor
from coach.store.db import Database
from coach.store.models import MailAttempt, MailMessage, User, utcnow

log = logging.getLogger("coach.mail")

# Messages a participant's "no reminders" stops (the facilitator's digest is theirs to ask for).
NUDGES = ("log_session", "check_in", "debrief_due", "reminder", "followup_ready")
CLAIM_SECONDS = 120  # a claimed message is another instance's again after this (its sender died)
BATCH = 20
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def address_of(username: str | None) -> str | None:
    """The sign-in name when it is an e-mail address (coach's usual sign-in name), else None."""
    return username if username and _ADDRESS.match(username) else None


def queue(s: Session, *, key: str, kind: str, to: str, subject: str, body: str, user_id: int | None = None,
          programme: str | None = None) -> bool:
    """Queue a message once per ``key`` in the caller's transaction; False if it already was."""
    if s.scalar(select(MailMessage.id).where(MailMessage.key == key)) is not None:
        return False
    s.add(MailMessage(key=key, kind=kind, to_addr=to, subject=subject, body=body, user_id=user_id,
                      programme=programme, next_attempt_at=utcnow()))
    return True


def queue_once(db: Database, **message) -> bool:
    """:func:`queue` in its own transaction; another instance queuing the same key first is fine."""
    try:
        with db.session() as s:
            return queue(s, **message)
    except IntegrityError:
        return False


def backoff(attempts: int, first: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failure: first, 2 x first, 4 x first, ... cap."""
    return min(cap, first * 2 ** max(0, attempts - 1))


class Smtp:
    """Hands one message to the configured mail server."""

    def __init__(self, settings):
        self.s = settings

    def send(self, to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.s.mail_from, to, subject
        msg.set_content(body)
        timeout = 20
        if self.s.smtp_tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.s.smtp_host, self.s.smtp_port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=timeout)
        with server:
            if self.s.smtp_tls == "starttls":
                server.starttls(context=ssl.create_default_context())
            if self.s.smtp_user:
                server.login(self.s.smtp_user, self.s.smtp_password or "")
            server.send_message(msg)


class Mail:
    """The outbox: sending what is due, and what the facilitator sees of it."""

    def __init__(self, db: Database, settings, send: Callable[[str, str, str], None] | None = None):
        self.db, self.settings = db, settings
        self._send = send or Smtp(settings).send

    @property
    def configured(self) -> bool:
        return self.settings.mail_configured

    def send_due(self, now: datetime | None = None) -> int:
        """Try every message whose time has come; returns how many were delivered."""
        now = now or utcnow()
        with self.db.session() as s:
            ids = list(s.scalars(select(MailMessage.id).where(MailMessage.status == "queued",
                                                              MailMessage.next_attempt_at <= now)
                                 .order_by(MailMessage.next_attempt_at, MailMessage.id).limit(BATCH)))
        return sum(self._try(i, now) for i in ids)

    def _claim(self, message_id: int, now: datetime) -> bool:
        """Take the message for this process (no other instance sends it meanwhile)."""
        with self.db.session() as s:
            r = s.execute(update(MailMessage).where(MailMessage.id == message_id, MailMessage.status == "queued",
                                                    MailMessage.next_attempt_at <= now)
                          .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)))
            return r.rowcount == 1  # type: ignore[attr-defined]

    def _try(self, message_id: int, now: datetime) -> bool:
        if not self._claim(message_id, now):
            return False
        with self.db.session() as s:
            m = s.get(MailMessage, message_id)
            assert m is not None
            u = s.get(User, m.user_id) if m.user_id is not None else None
            if m.kind in NUDGES and (u is None or not u.reminders):
                m.status, m.last_error = "cancelled", "reminders turned off"
                return False
            to, subject, body = m.to_addr, m.subject, m.body
        error = None
        try:
            self._send(to, subject, body)
        except Exception as e:  # refused, unreachable, timed out, a bad address: recorded, retried later
            error = f"{type(e).__name__}: {e}"[:500]
        self._record(message_id, error)
        return error is None

    def _record(self, message_id: int, error: str | None) -> None:
        now = utcnow()
        with self.db.session() as s:
            m = s.get(MailMessage, message_id)
            assert m is not None
            s.add(MailAttempt(message_id=m.id, at=now, ok=error is None, error=error))
            m.attempts += 1
            if error is None:
                m.status, m.sent_at, m.last_error = "sent", now, None
                if m.kind == "invitation":  # a usable sign-in link is not kept once it has gone
                    m.body = "(sent; the single-use link is not kept)"
            else:
                wait = backoff(m.attempts, self.settings.mail_retry_seconds, self.settings.mail_retry_max_seconds)
                m.last_error, m.next_attempt_at = error, now + timedelta(seconds=wait)
                log.warning("mail %s to %s not delivered (attempt %d, next in %.0f s): %s", m.kind, m.to_addr,
                            m.attempts, wait, error)

    def undelivered(self, actor: Actor) -> list[dict]:
        """Messages of the actor's programme the mail server has not taken yet (tried at least
        once), oldest first: whom, what, how often tried, the last error."""
        with self.db.session() as s:
            q = select(MailMessage).where(MailMessage.status == "queued", MailMessage.attempts > 0)
            if actor is not OPERATOR:
                q = q.where(MailMessage.programme == (actor.require("facilitator").programme or ""))
            return [{"to": m.to_addr, "kind": m.kind, "subject": m.subject, "attempts": m.attempts,
                     "last_error": m.last_error, "queued": m.created_at, "next_attempt": m.next_attempt_at}
                    for m in s.scalars(q.order_by(MailMessage.created_at))]

    def attempts(self, message_key: str) -> list[tuple[bool, str | None]]:
        """(ok, error) of each attempt at one message, in order (for operators and tests)."""
        with self.db.session() as s:
            mid = s.scalar(select(MailMessage.id).where(MailMessage.key == message_key))
            return [(a.ok, a.error) for a in s.scalars(select(MailAttempt).where(MailAttempt.message_id == mid)
                                                      .order_by(MailAttempt.id))]


class Worker:
    """The app's sender thread: sends what is due every few seconds (at once when poked), and
    looks for reminders and digests to queue every ``mail_scan_seconds``."""

    def __init__(self, mail: Mail, scan: Callable[[], object], tick: float = 2.0):
        self.mail, self.scan, self.tick = mail, scan, tick
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._next_scan = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mail-sender", daemon=True)
            self._thread.start()

    def poke(self) -> None:
        """Something may have become due (a session logged): look now rather than later."""
        self._next_scan = 0.0
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        import time

        while not self._stop.is_set():
            try:
                if time.monotonic() >= self._next_scan:
                    self._next_scan = time.monotonic() + self.mail.settings.mail_scan_seconds
                    self.scan()
                self.mail.send_due()
            except Exception:  # the database busy or gone for a moment: the next round tries again
                log.exception("mail round failed")
            self._wake.wait(self.tick)
            self._wake.clear()
