"""SQL tables of the system of record. Chroma's index is derived from these and can be rebuilt.

Changing a table means adding a migration in ``coach/store/migrations/versions``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class ParticipantText(TypeDecorator):
    """Text exactly as a participant typed it, NUL characters included.

    PostgreSQL refuses U+0000 in text columns, so there (only) it is escaped reversibly with a
    private-use character: U+E000 -> U+E000 U+E000, U+0000 -> U+E000 "0". Same column type, so
    no migration; SQLite stores the text unchanged."""

    impl = Text
    cache_ok = True
    _ESC = "\ue000"
    _UNESCAPE = re.compile("\ue000(.)", re.S)

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name != "postgresql":
            return value
        return value.replace(self._ESC, self._ESC * 2).replace("\x00", self._ESC + "0")

    def process_result_value(self, value, dialect):
        if value is None or dialect.name != "postgresql" or self._ESC not in value:
            return value
        return self._UNESCAPE.sub(lambda m: "\x00" if m.group(1) == "0" else m.group(1), value)


class Base(DeclarativeBase):
    pass


DEFAULT_PROGRAMME = "default"  # a pair's programme when none is given (app, CLI, ingest)


class Pair(Base):
    """A senior (learner) and a junior (mentor) working on one topic."""

    __tablename__ = "pairs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    programme: Mapped[str] = mapped_column(String(200), default=DEFAULT_PROGRAMME, index=True)
    senior: Mapped[str] = mapped_column(Text)  # role/context of the senior, e.g. "Retail operations director"
    junior: Mapped[str] = mapped_column(Text)  # role/strengths of the junior
    topic: Mapped[str] = mapped_column(Text)
    sessions: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    senior_name: Mapped[str | None] = mapped_column(String(200))
    junior_name: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    # the planned rhythm: a session every this many days from start_date (None: only the first
    # session's date is planned, if any); coach.sessions.planned_dates
    session_every_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # MiniLM float32 vectors of the topic and the senior's role, one after the other (coach.records:
    # derived when the pair is written or, for ingested pairs, in the background; None until then)
    vectors: Mapped[bytes | None] = mapped_column(LargeBinary)
    debriefs: Mapped[list[Debrief]] = relationship(back_populates="pair")
    baseline: Mapped[list[BaselineBelief]] = relationship(
        order_by="BaselineBelief.idx", cascade="all, delete-orphan")


class BaselineBelief(Base):
    """What the senior believed about the topic before the sessions, in their words."""

    __tablename__ = "baseline_beliefs"
    __table_args__ = (UniqueConstraint("pair_id", "idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pair_id: Mapped[str] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(ParticipantText)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Debrief(Base):
    """One participant's debrief interview (live or ingested)."""

    __tablename__ = "debriefs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pair_id: Mapped[str] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # senior | junior
    # open | done | ingested; "done" is set with the closing turn (the interview's state is the turns)
    status: Mapped[str] = mapped_column(String(16), default="open")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)  # participant agreed to share
    source: Mapped[str] = mapped_column(String(16), default="interview")  # interview | ingest
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The participant account that owns this debrief (None for ingested past debriefs).
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # A follow-up conversation (source "followup") follows a confirmed debrief: which one, which
    # round (1: a month after, 2: for actions still not started), and the actions it asks about
    # ({"actions": [{"record": id, "text": their words}]}), fixed when it was opened; "started"
    # (when the participant pressed Start) is added once.
    follows_id: Mapped[str | None] = mapped_column(ForeignKey("debriefs.id", ondelete="CASCADE"), index=True)
    round: Mapped[int | None] = mapped_column(Integer)
    plan: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    pair: Mapped[Pair] = relationship(back_populates="debriefs")
    participant: Mapped[User | None] = relationship()
    turns: Mapped[list[Turn]] = relationship(
        back_populates="debrief", order_by="Turn.idx", cascade="all, delete-orphan"
    )
    records: Mapped[list[Record]] = relationship(
        back_populates="debrief", order_by="Record.id", cascade="all, delete-orphan"
    )


class Turn(Base):
    """One message of a transcript, stored before anything else happens with it."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("debrief_id", "idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    debrief_id: Mapped[str] = mapped_column(ForeignKey("debriefs.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(16))  # coach | participant
    text: Mapped[str] = mapped_column(ParticipantText)
    meta: Mapped[dict | None] = mapped_column(JSON)  # e.g. {"slot": "learned", "probe": "example"}
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    debrief: Mapped[Debrief] = relationship(back_populates="turns")


class Record(Base):
    """An extracted item (learned, broken assumption, action, gain) grounded in a quote.

    Written only through :mod:`coach.records`, which derives ``text`` (for a broken assumption,
    from before and after), theme, depth, scope and ``vector`` from the item, again on each edit."""

    __tablename__ = "records"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are cited as evidence: never reused
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    debrief_id: Mapped[str] = mapped_column(ForeignKey("debriefs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # learned | broken_assumption | action | gain
    text: Mapped[str] = mapped_column(ParticipantText, default="")
    before: Mapped[str | None] = mapped_column(ParticipantText)
    after: Mapped[str | None] = mapped_column(ParticipantText)
    quote: Mapped[str] = mapped_column(ParticipantText, default="")
    turn_index: Mapped[int | None] = mapped_column(Integer)
    theme: Mapped[str | None] = mapped_column(String(32))
    depth: Mapped[str | None] = mapped_column(String(32))
    scope: Mapped[str | None] = mapped_column(String(32))
    extractor: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_id: Mapped[str | None] = mapped_column(String(100))
    prompt_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | rejected
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)  # MiniLM float32 vector of ``text``
    # extracted | confirmed (by the participant in the conversation) | participant (written or
    # reworded by them in the summary) | edited (by a facilitator; ``original`` keeps what it was)
    provenance: Mapped[str] = mapped_column(String(16), default="extracted")
    original: Mapped[dict | None] = mapped_column(JSON)  # text/before/after before a facilitator's first edit
    suspect: Mapped[str | None] = mapped_column(String(200))  # why it may be an injection attempt, for the reviewer
    reject_reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSON)  # kind-specific fields (an outcome's status, its action)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    debrief: Mapped[Debrief] = relationship(back_populates="records")


class IndexOutbox(Base):
    """A record whose place in the index may have changed, written in the same transaction as
    the change. The indexer brings the record's index entry in line with SQL, then deletes the
    row: whatever crashes in between, the row stays and the work is done again."""

    __tablename__ = "index_outbox"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(Integer)
    programme: Mapped[str] = mapped_column(String(200))  # the record's collection (its pair's programme)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lease(Base):
    """A named lease held by one process at a time (the indexer's), across app instances."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class User(Base):
    """A signed-in person: participant, facilitator (of one programme) or admin."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)  # lower-cased; often an e-mail
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # participant | facilitator | admin
    programme: Mapped[str | None] = mapped_column(String(200))  # a facilitator's programme
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None until the invitation is used
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A facilitator an admin created (or sent a new link) for a programme that already has a
    # facilitator or pairs: reads none of its debriefs until one of its facilitators approves
    # (coach.accounts.Accounts.approve_facilitator), so an admin cannot let themselves in.
    review_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # False: the participant turned reminders off (coach.mail sends them no nudges)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Invitation(Base):
    """A single-use link to set a password; only the token's SHA-256 is stored."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SignInSession(Base):
    """A signed-in browser; the cookie holds the token, the table only its SHA-256."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignInAttempt(Base):
    """A sign-in attempt not (yet) followed by a success, kept for the throttle's window
    (coach.web.Throttle). In SQL, so a restart or a second app instance does not reset it."""

    __tablename__ = "sign_in_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)  # as typed (lower-cased), cut to 200
    address: Mapped[str] = mapped_column(String(100))  # the client's (see COACH_TRUSTED_PROXIES)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # False once the name signed in successfully: the name's count from all addresses starts
    # again, while this address's own count stays (an attacker's guesses are not forgiven)
    counts_for_name: Mapped[bool] = mapped_column(Boolean, default=True)


class AccessLog(Base):
    """Who read or changed someone else's debrief content, and when."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))  # e.g. review.open, review.approve, export, suggest
    target: Mapped[str] = mapped_column(Text)  # e.g. "debrief:ab12", "records:3,4,9"
    detail: Mapped[str | None] = mapped_column(Text)


class ModelCall(Base):
    """One call through the model gateway, with its token usage."""

    __tablename__ = "model_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    backend: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(100))
    prompt_id: Mapped[str | None] = mapped_column(String(100))
    prompt_hash: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


class PairSession(Base):
    """One mentoring session a pair held, as logged by a participant or the facilitator."""

    __tablename__ = "pair_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pair_id: Mapped[str] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    covered: Mapped[str | None] = mapped_column(ParticipantText)  # one optional line on what was covered
    logged_by: Mapped[int | None] = mapped_column(Integer)  # users.id (0: the operator at the shell)
    logged_as: Mapped[str] = mapped_column(String(16))  # senior | junior | facilitator | operator
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PairAssessment(Base):
    """The last pair synthesis of a pair whose two debriefs are shared (coach.risk), kept with a
    fingerprint of what it read: the Pairs list runs MiniLM again only when that changed."""

    __tablename__ = "pair_assessments"
    pair_id: Mapped[str] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    unmatched: Mapped[int | None] = mapped_column(Integer)  # None: nothing taught to compare
    taught: Mapped[int | None] = mapped_column(Integer)
    assessed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CheckIn(Base):
    """A participant's short check-in after a logged session: written (unanswered) when the
    session is logged, answered later. Private to the programme's facilitator."""

    __tablename__ = "check_ins"
    __table_args__ = (UniqueConstraint("session_id", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("pair_sessions.id", ondelete="CASCADE"), index=True)
    pair_id: Mapped[str] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # senior | junior
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    asks_fit: Mapped[bool] = mapped_column(Boolean, default=False)  # the pairing-fit question is part of it
    usefulness: Mapped[int | None] = mapped_column(Integer)  # 1 (not useful) .. 4 (very useful)
    fit: Mapped[str | None] = mapped_column(String(16))  # good | deciding | not
    # the role's own question: junior "is your senior showing up as a learner?", senior "is this
    # a topic where your junior knows more than you?": yes | partly | no
    role_answer: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(ParticipantText)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MailMessage(Base):
    """A message waiting to be sent, or sent: written in SQL first, so a request never waits for
    the mail server and a failing server loses nothing. ``key`` makes each message happen once."""

    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # e.g. "checkin:12", "due:d-abc"
    kind: Mapped[str] = mapped_column(String(32))  # log_session | check_in | debrief_due | reminder | digest
    programme: Mapped[str | None] = mapped_column(String(200), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    to_addr: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MailAttempt(Base):
    """One try at handing a message to the mail server, and how it went."""

    __tablename__ = "mail_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("mail_outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


class ProgrammeOption(Base):
    """A programme's own choices, set by its facilitator: {"second_followup": bool,
    "highlights": [record ids chosen as the impact report's quotes]}."""

    __tablename__ = "programme_options"
    programme: Mapped[str] = mapped_column(String(200), primary_key=True)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
