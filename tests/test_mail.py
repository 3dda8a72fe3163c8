"""Mail against a real SMTP server (aiosmtpd on loopback, started here): what each person
receives and when, opt-out, and a mail server that is down losing nothing."""

from __future__ import annotations

import time
from datetime import timedelta
from email import message_from_bytes
from email.message import Message

import pytest
from sqlalchemy import select, update

from coach.config import WEEKDAYS
from coach.local_server import free_port
from coach.mail import backoff
from coach.policy import Actor
from coach.services import Services
from coach.store.models import MailMessage, Pair, PairSession, utcnow

PROGRAMME = "Retail pilot"
TODAY = utcnow().date()
SECRET = "teenagers search TikTok before Google"  # debrief content: never in a mail


class Inbox:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self, port: int):
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> Inbox:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.messages) >= n, [m["Subject"] for m in self.messages]


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def inbox(port):
    box = Inbox(port).start()
    yield box
    box.stop()


def mail_settings(make_settings, port, **more):
    return make_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none", mail_from="coach@example.org",
                         public_url="https://coach.example.org", mail_retry_seconds=0.5, **more)


@pytest.fixture
def svc(make_settings, port, either_database):
    # today is the digest's day here; test_the_digest_goes_out_on_its_weekday_only sets another
    s = Services(mail_settings(make_settings, port, database_url=either_database,
                               digest_weekday=WEEKDAYS[TODAY.weekday()]))
    yield s
    s.close()


def person(svc, name, role="participant", programme=None) -> Actor:
    return Actor.of(svc.accounts.create_user(name, role, password="correct horse 42", programme=programme))


@pytest.fixture
def pair(svc):
    ann, jo = person(svc, "ann@example.org"), person(svc, "jo@example.org")
    fran = person(svc, "fran@example.org", "facilitator", PROGRAMME)
    p = svc.debriefs.create_pair(senior="Retail director", junior="Social media associate", topic="TikTok search",
                                 sessions=2, programme=PROGRAMME)
    svc.debriefs.open(p.id, "senior", participant_id=ann.id)
    svc.debriefs.open(p.id, "junior", participant_id=jo.id)
    return p.id, ann, jo, fran


def body(m: Message) -> str:
    return m.get_payload(decode=True).decode()


def assert_plain_short_one_link(m: Message) -> None:
    text = body(m)
    assert m.get_content_type() == "text/plain" and len(text) < 600
    assert text.count("https://") == 1 and "https://coach.example.org/" in text
    assert SECRET not in text


def deliver(svc) -> int:
    svc.reminders.scan()
    return svc.mail.send_due()


def test_a_logged_session_mails_the_other_participant_a_check_in(svc, inbox, pair):
    pid, ann, jo, _ = pair
    svc.sessions.log(jo, pid, TODAY, 30, f"I showed him that {SECRET}")
    assert deliver(svc) == 1  # the junior logged it and saw their check-in then: theirs waits a day
    [m] = inbox.to("ann@example.org")
    assert m["Subject"] == "Two quick questions about your session" and m["From"] == "coach@example.org"
    assert "only by your programme's facilitator" in body(m) and "turn these reminders off" in body(m)
    assert_plain_short_one_link(m)
    assert deliver(svc) == 0  # once
    with svc.db.session() as s:  # a day later, the junior's own check-in still unanswered: now mailed
        s.execute(update(PairSession).values(created_at=utcnow() - timedelta(days=2)))
    assert deliver(svc) == 1 and inbox.to("jo@example.org")[0]["Subject"].startswith("Two quick questions")


def test_the_debrief_is_ready_then_one_reminder(svc, inbox, pair):
    pid, ann, jo, _ = pair
    svc.sessions.log(ann, pid, TODAY - timedelta(days=9), 30)
    svc.sessions.log(ann, pid, TODAY - timedelta(days=8), 30)
    for p in (ann, jo):
        for ci in svc.sessions.pending(p):
            svc.sessions.answer(p, ci["id"], 3, "yes", "good" if ci["asks_fit"] else None)
    svc.reminders.scan(today=TODAY - timedelta(days=8))
    svc.mail.send_due()
    assert sorted(m["Subject"] for m in inbox.to("ann@example.org")) == ["Your debrief is ready"]
    assert [m["Subject"] for m in inbox.to("jo@example.org")] == ["Your debrief is ready"]
    for m in inbox.messages:
        assert_plain_short_one_link(m)
    svc.reminders.scan(today=TODAY)  # 8 days later (reminder after 7): one reminder each
    svc.reminders.scan(today=TODAY)
    svc.mail.send_due()
    assert [m["Subject"] for m in inbox.to("ann@example.org")] == ["Your debrief is ready",
                                                                 "Reminder: your debrief is waiting"]
    assert len(inbox.to("jo@example.org")) == 2


def test_log_your_session_after_days_without_one(svc, inbox, pair):
    pid, ann, jo, _ = pair
    svc.reminders.scan()
    assert svc.mail.send_due() == 0  # a new pair: nothing yet
    with svc.db.session() as s:
        s.execute(update(Pair).where(Pair.id == pid).values(created_at=utcnow() - timedelta(days=15)))
    assert deliver(svc) == 3
    for who in ("ann@example.org", "jo@example.org"):
        assert [m["Subject"] for m in inbox.to(who)] == ["Log your last mentoring session"]
    # and the pair is at risk (no first session within 14 days): the facilitator's digest says so
    [digest] = inbox.to("fran@example.org")
    assert "1 × no first session" in body(digest)
    assert deliver(svc) == 0


def test_log_your_session_the_day_after_a_planned_session_passes(svc, inbox, pair):
    pid, ann, jo, fran = pair
    start = TODAY + timedelta(days=3)
    svc.debriefs.update_pair(fran, pid, "TikTok search", 2, (start, 14))
    for day in (TODAY, start):  # before the first planned session, and on its day: nothing
        svc.reminders.scan(day)
        assert svc.mail.send_due() == 0
    svc.reminders.scan(start + timedelta(days=1))
    assert svc.mail.send_due() == 2
    for who in ("ann@example.org", "jo@example.org"):
        [m] = inbox.to(who)
        assert m["Subject"] == "Log your last mentoring session"
        assert f"planned for {start:%A %d %B}" in body(m)
        assert_plain_short_one_link(m)
    svc.reminders.scan(start + timedelta(days=2))
    assert svc.mail.send_due() == 0  # once per gap
    svc.sessions.log(jo, pid, start + timedelta(days=1), 30, today=start + timedelta(days=1))
    for days in (2, 13, 14):  # the next one is planned two weeks after the first: not before it has passed
        svc.reminders.scan(start + timedelta(days=days))
    assert [m["Subject"] for m in inbox.to("jo@example.org")] == ["Log your last mentoring session"]
    svc.reminders.scan(start + timedelta(days=15))
    svc.mail.send_due()
    assert [m["Subject"] for m in inbox.to("jo@example.org")][-1] == "Log your last mentoring session"
    assert f"planned for {start + timedelta(days=14):%A %d %B}" in body(inbox.to("jo@example.org")[-1])


def test_the_digest_goes_out_on_its_weekday_only(make_settings, inbox, port):
    svc = Services(mail_settings(make_settings, port, digest_weekday="thursday"))
    try:
        ann, jo = person(svc, "ann@example.org"), person(svc, "jo@example.org")
        person(svc, "fran@example.org", "facilitator", PROGRAMME)
        p = svc.debriefs.create_pair(senior="D", junior="A", topic="T", sessions=4, programme=PROGRAMME)
        svc.debriefs.open(p.id, "senior", participant_id=ann.id)
        svc.debriefs.open(p.id, "junior", participant_id=jo.id)
        svc.sessions.log(jo, p.id, TODAY, 30)
        [ci] = svc.sessions.pending(ann)
        svc.sessions.answer(ann, ci["id"], 1, "no", "not")  # at risk: not a good fit
        monday = TODAY - timedelta(days=TODAY.weekday()) + timedelta(days=7)
        for day in range(3):  # Monday to Wednesday, the first scans of that week: no digest
            svc.reminders.scan(monday + timedelta(days=day))
        svc.mail.send_due()
        assert inbox.to("fran@example.org") == []
        svc.reminders.scan(monday + timedelta(days=3))  # Thursday
        svc.reminders.scan(monday + timedelta(days=4))
        svc.mail.send_due()
        [digest] = inbox.to("fran@example.org")
        assert "1 × not a good fit" in body(digest)
        svc.reminders.scan(monday + timedelta(days=10))  # the next Thursday: the next week's
        svc.mail.send_due()
        assert len(inbox.to("fran@example.org")) == 2
    finally:
        svc.close()


def test_opt_out_holds_even_for_a_message_already_queued(svc, inbox, pair):
    pid, ann, jo, _ = pair
    svc.sessions.set_reminders(ann, False)
    svc.sessions.log(jo, pid, TODAY, 30)
    svc.reminders.scan()
    with svc.db.session() as s:
        s.execute(update(PairSession).values(created_at=utcnow() - timedelta(days=2)))
    svc.reminders.scan()  # the junior's check-in: queued
    svc.sessions.set_reminders(jo, False)  # then the junior turns reminders off before it is sent
    assert svc.mail.send_due() == 0
    assert inbox.messages == []
    with svc.db.session() as s:
        assert [(m.to_addr, m.status) for m in s.scalars(select(MailMessage))] == [("jo@example.org", "cancelled")]


def test_an_unreachable_server_is_retried_and_delivers_later(make_settings, inbox, port):
    down = free_port()  # nothing listens here yet
    svc = Services(mail_settings(make_settings, down))
    try:
        ann, jo = person(svc, "ann@example.org"), person(svc, "jo@example.org")
        fran = person(svc, "fran@example.org", "facilitator", PROGRAMME)
        p = svc.debriefs.create_pair(senior="Director", junior="Associate", topic="TikTok search", sessions=3,
                                     programme=PROGRAMME)
        svc.debriefs.open(p.id, "senior", participant_id=ann.id)
        svc.debriefs.open(p.id, "junior", participant_id=jo.id)
        svc.sessions.log(jo, p.id, TODAY, 30)
        assert deliver(svc) == 0
        [late] = svc.mail.undelivered(fran)  # the facilitator sees what was not delivered, and why
        assert (late["to"], late["kind"], late["attempts"]) == ("ann@example.org", "check_in", 1)
        assert "Connection" in late["last_error"] or "refused" in late["last_error"].lower()
        assert svc.mail.undelivered(Actor(50, "olga", "facilitator", "Other")) == []
        assert svc.mail.send_due() == 0  # not before its back-off has passed
        later = utcnow() + timedelta(seconds=1)
        assert svc.mail.send_due(now=later) == 0  # still down: a second attempt, a longer wait
        assert svc.mail.undelivered(fran)[0]["attempts"] == 2
        back = Inbox(down).start()  # the server comes back
        try:
            assert svc.mail.send_due(now=utcnow() + timedelta(seconds=5)) == 1
            assert [m["To"] for m in back.messages] == ["ann@example.org"]
        finally:
            back.stop()
        assert svc.mail.undelivered(fran) == []
        [key] = [k for k in [f"checkin:{i}" for i in range(1, 5)] if svc.mail.attempts(k)]
        assert [ok for ok, _ in svc.mail.attempts(key)] == [False, False, True]
    finally:
        svc.close()


def test_back_off_doubles_up_to_its_cap():
    assert [backoff(n, 60, 3600) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]


def test_the_weekly_digest_tells_facilitators_counts_not_names(svc, inbox, pair):
    pid, ann, jo, fran = pair
    person(svc, "olga@example.org", "facilitator", "Other programme")
    svc.sessions.log(jo, pid, TODAY, 30)
    for p in (ann, jo):
        [ci] = svc.sessions.pending(p)
        svc.sessions.answer(p, ci["id"], 2, "no", "not", "Our calendars never match.")
    deliver(svc)
    [digest] = inbox.to("fran@example.org")
    assert digest["Subject"] == "1 pairs need attention"
    text = body(digest)
    assert "not a good fit" in text and "not showing up as a learner" in text
    assert "ann" not in text and "calendars" not in text and "TikTok" not in text
    assert_plain_short_one_link(digest)
    assert inbox.to("olga@example.org") == []  # nothing at risk in her programme
    deliver(svc)
    assert len(inbox.to("fran@example.org")) == 1  # once a week


def test_nothing_is_queued_without_a_mail_server(make_settings):
    svc = Services(make_settings())
    try:
        ann, jo = person(svc, "ann@example.org"), person(svc, "jo@example.org")
        p = svc.debriefs.create_pair(senior="D", junior="A", topic="T", sessions=1)
        svc.debriefs.open(p.id, "senior", participant_id=ann.id)
        svc.debriefs.open(p.id, "junior", participant_id=jo.id)
        svc.sessions.log(jo, p.id, TODAY, 30)
        assert svc.reminders.scan() == 0
        with svc.db.session() as s:
            assert s.scalars(select(MailMessage)).all() == []
    finally:
        svc.close()


def test_the_sender_thread_delivers_without_being_asked(svc, inbox, pair):
    pid, ann, jo, _ = pair
    svc.mail_worker.start()
    svc.sessions.log(jo, pid, TODAY, 30)  # the log pokes the sender: no waiting for the next scan
    inbox.wait_for(1)
    assert inbox.messages[0]["To"] == "ann@example.org"


def test_an_invitation_by_mail_works_once_and_its_link_leaves_sql(svc, inbox):
    import re as _re

    from coach.accounts import AccountError

    u = svc.accounts.create_user("new@example.org", "participant")
    token = svc.accounts.invite(u.id)
    link = f"https://coach.example.org/auth/invite/{token}"
    assert svc.reminders.invite(u.id, u.username, link, PROGRAMME)
    assert not svc.reminders.invite(u.id, u.username, link, PROGRAMME)  # once
    svc.sessions.set_reminders(Actor.of(u), False)  # an invitation is not a reminder: still sent
    assert svc.mail.send_due() == 1
    [m] = inbox.to("new@example.org")
    assert m["Subject"] == "Your invitation to coach"
    [sent] = _re.findall(r"https://\S+", body(m))
    assert sent == link
    with svc.db.session() as s:
        assert token not in s.scalar(select(MailMessage.body))  # not kept once sent
    svc.accounts.accept(sent.rsplit("/", 1)[1], "correct horse 42")
    with pytest.raises(AccountError):
        svc.accounts.accept(sent.rsplit("/", 1)[1], "correct horse 43")  # works once
    assert not svc.reminders.invite(u.id, "not-an-address", link + "x", PROGRAMME)
