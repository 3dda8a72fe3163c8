"""What coach mails, and when: the participants' nudges and the facilitators' weekly digest.

A scan looks at every open pair and queues (coach.mail, once per key) what has become due:

- "log your session": the day after a planned session's date passed with no session logged for
  it; for a pair with no planned date ahead, after ``log_session_days`` without a session since
  pairing or the last one;
- the check-in: a session was logged and this participant has not answered its check-in (the
  participant who logged it sees the check-in at once, so theirs waits a day);
- "your debrief is ready": the debrief became due and is not finished;
- one reminder, ``debrief_reminder_days`` after it became due, if it is still not finished;
- "your follow-up is ready": a follow-up on their actions opened (coach.followups opens those
  due first, each scan);
- to each facilitator with pairs at risk, once a week on ``digest_weekday``, how many and why
  (no names, no content).

Each message is plain, short, has one link (the app) and holds no debrief content. Nothing goes
to a participant who turned reminders off, or whose sign-in name is not an e-mail address.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import select

from coach.config import WEEKDAYS
from coach.mail import address_of, queue_once
from coach.policy import OPERATOR
from coach.prompts import default_prompts_dir
from coach.risk import AT_RISK, PairsAtRisk
from coach.sessions import PairStatus, pair_status
from coach.store.db import Database
from coach.store.models import CheckIn, Debrief, MailMessage, Pair, PairSession, User, utcnow


@cache
def _messages(folder: Path) -> dict:
    return yaml.safe_load((folder / "mail" / "messages.yaml").read_text(encoding="utf-8"))


def text(kind: str, link: str, prompts_dir: Path | None = None, **facts) -> tuple[str, str]:
    """(subject, body) of a message (prompts/mail/messages.yaml): plain, short, one link, no
    debrief content."""
    table = _messages((prompts_dir or default_prompts_dir()).resolve())
    m = table["messages"][kind]  # KeyError: no such message
    planned = facts.get("planned")
    values = {"topic": "", **facts, "link": link,
              "planned": f" (one was planned for {planned:%A %d %B})" if planned else "",
              "reasons": "\n".join(f"- {n} × {reason}" for reason, n in facts.get("reasons", ()))}
    body = m["body"].format(**values) + (table["sign_off"] if m.get("sign_off") else "")
    return m["subject"].format(**values), body


def reason_kind(reason: str) -> str:
    """A reason without its particulars (days, counts), for the digest's tally."""
    for k in ("no session logged", "not a good fit", "still deciding", "not showing up as a learner",
              "overdue", "disagree"):
        if k in reason:
            return {"no session logged": "no first session", "disagree": "the two debriefs disagree"}.get(k, k)
    return reason


def log_session_due(st: PairStatus, p: Pair, today: date, quiet_days: int) -> bool:
    """Whether the pair's participants are asked to log a session: the day after the next planned
    session's date (keyed by sessions held, so once per gap); with no planned date ahead, after
    ``quiet_days`` without a session."""
    if st.due:
        return False
    if st.next_planned is not None:
        return today > st.next_planned
    quiet_since = st.last_session or p.created_at.date()
    return (today - quiet_since).days >= quiet_days


class Reminders:
    def __init__(self, db: Database, settings, risk: PairsAtRisk, poke=lambda: None, followups=None):
        """``followups`` (coach.followups.Followups), if given, opens the follow-ups due before each scan."""
        self.db, self.settings, self.risk, self.poke, self.followups = db, settings, risk, poke, followups

    @property
    def link(self) -> str:
        return self.settings.public_url.rstrip("/") + "/"

    def invite(self, user_id: int, username: str, link: str, programme: str | None) -> bool:
        """Mail a single-use invitation link (when mail is configured and the sign-in name is an
        address). The link leaves SQL once it is sent (coach.mail scrubs the body)."""
        to = address_of(username)
        if not self.settings.mail_configured or to is None:
            return False
        subject, body = text("invitation", link, self.settings.prompts_dir, days=self.settings.invitation_days)
        key = "invite:" + hashlib.sha256(link.encode()).hexdigest()[:32]
        queued = queue_once(self.db, key=key, kind="invitation", to=to, subject=subject, body=body, user_id=user_id,
                            programme=programme)
        self.poke()
        return queued

    def scan(self, today: date | None = None) -> int:
        """Queue every message that has become due; returns how many were queued."""
        if self.followups is not None:  # opened whether or not there is mail: the page shows them
            self.followups.open_due(datetime.combine(today, time(23, 59), UTC) if today else None)
        today = today or utcnow().date()
        if not self.settings.mail_configured:
            return 0  # no mail server: the app shows links, as before
        n = self._participants(today) + self._digests(today)
        if n:
            self.poke()
        return n

    def _send(self, key: str, kind: str, user: User, programme: str, **facts) -> int:
        to = address_of(user.username)
        if to is None or not user.reminders or not user.active:
            return 0
        subject, body = text(kind, self.link, self.settings.prompts_dir, **facts)
        return int(queue_once(self.db, key=key, kind=kind, to=to, subject=subject, body=body, user_id=user.id,
                              programme=programme))

    def _participants(self, today: date) -> int:
        n = 0
        with self.db.session() as s:
            for p in s.scalars(select(Pair)):
                for d in p.debriefs:  # a follow-up comes after the round, often once the pair is closed
                    u = d.participant
                    if d.source == "followup" and u is not None and d.confirmed_at is None and d.status != "done":
                        n += self._send(f"followup:{d.id}", "followup_ready", u, p.programme, topic=p.topic)
                if (p.extra or {}).get("closed"):
                    continue
                sessions = list(s.scalars(select(PairSession).where(PairSession.pair_id == p.id)))
                st = pair_status(p, sessions)
                for d in p.debriefs:
                    u = d.participant
                    if d.source != "interview" or u is None:
                        continue
                    n += self._nudges(s, p, d, u, sessions, st, today)
        return n

    def _nudges(self, s, p: Pair, d: Debrief, u: User, sessions, st, today: date) -> int:
        n, topic = 0, p.topic
        if log_session_due(st, p, today, self.settings.log_session_days):
            n += self._send(f"log:{d.id}:{st.held}", "log_session", u, p.programme, topic=topic,
                            planned=st.next_planned)
        day_ago = utcnow() - timedelta(days=1)
        for ci, sess in s.execute(select(CheckIn, PairSession).join(PairSession, PairSession.id == CheckIn.session_id)
                                  .where(CheckIn.pair_id == p.id, CheckIn.participant_id == u.id,
                                         CheckIn.answered_at.is_(None))).all():
            own = sess.logged_by == u.id and sess.logged_as in ("senior", "junior")
            if own and _aware(sess.created_at) > day_ago:
                continue  # they logged it and saw the check-in then
            n += self._send(f"checkin:{ci.id}", "check_in", u, p.programme, topic=topic)
        if st.due and d.status != "done":
            n += self._send(f"due:{d.id}", "debrief_due", u, p.programme, topic=topic)
            assert st.due_since is not None
            if (today - st.due_since).days >= self.settings.debrief_reminder_days:
                n += self._send(f"remind:{d.id}", "reminder", u, p.programme, topic=topic)
        return n

    def _digests(self, today: date) -> int:
        if WEEKDAYS[today.weekday()] != self.settings.digest_weekday:
            return 0  # the digest goes out on its day only (the week's first scan may be any day)
        year, week, _ = today.isocalendar()
        key = f"{year}-W{week:02d}"
        with self.db.session() as s:
            done = set(s.scalars(select(MailMessage.key).where(MailMessage.key.like(f"digest:%:{key}"))))
            staff = [u for u in s.scalars(select(User).where(User.role == "facilitator", User.active.is_(True),
                                                             User.review_pending.is_(False)))
                     if f"digest:{u.id}:{key}" not in done and address_of(u.username)]
        if not staff:
            return 0  # this week's digests are out: the pairs are not assessed again until next week
        by_programme: dict[str, list[dict]] = {}
        for r in self.risk.overview(OPERATOR, today, logged=False):
            by_programme.setdefault(r["programme"], []).append(r)
        n = 0
        for f in staff:
            mine = [r for r in by_programme.get(f.programme or "", []) if r["status"] != "closed"]
            risky = [r for r in mine if r["status"] == AT_RISK]
            to = address_of(f.username)
            if not risky or to is None:
                continue
            tally = Counter(reason_kind(x) for r in risky for x in r["reasons"]).most_common()
            subject, body = text("digest", self.link, self.settings.prompts_dir, at_risk=len(risky), pairs=len(mine),
                                 reasons=tally)
            n += int(queue_once(self.db, key=f"digest:{f.id}:{key}", kind="digest", to=to,
                                subject=subject, body=body, user_id=f.id, programme=f.programme))
        return n


def _aware(t):
    from datetime import UTC

    return t if t.tzinfo else t.replace(tzinfo=UTC)
