"""Accounts on a real database: password hashing, invitations, expiring sessions, and the
checks deciding who may see which debrief."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from coach.accounts import AccessDenied, AccountError, Accounts, Actor, _token_hash
from coach.services import Services
from coach.store.models import Invitation, SignInSession, User, utcnow

PW = "correct horse 42"


@pytest.fixture
def svc(make_settings):
    s = Services(make_settings())
    yield s
    s.close()


@pytest.fixture
def acc(svc):
    return Accounts(svc.db, idle_minutes=30, max_hours=8, invitation_days=7, cache_seconds=0)


def test_an_admin_reissues_a_lost_link_or_password(acc):
    from coach.accounts import AccessDenied, Actor

    admin = Actor.of(acc.create_user("root-admin", "admin", password=PW))
    fay = acc.create_user("fay@example.org", "facilitator", programme="north", password=PW)
    session = acc.sign_in("fay@example.org", PW)
    with pytest.raises(AccountError, match="user reset"):  # a password: only the operator resets it
        acc.reinvite(admin, fay.id)
    from coach.policy import OPERATOR

    username, token = acc.reset(OPERATOR, fay.id)
    assert username == "fay@example.org" and acc.invitation_user(token).username == "fay@example.org"
    acc.accept(token, "a brand new passphrase")
    assert acc.sign_in("fay@example.org", PW) is None and acc.sign_in("fay@example.org", "a brand new passphrase")
    assert acc.session_actor(session) is None  # the old sign-in ended with the reset
    with pytest.raises(AccessDenied):
        acc.reinvite(Actor.of(fay), admin.id)  # facilitators cannot
    acc.set_active(admin, fay.id, False)
    with pytest.raises(AccountError, match="reopen the account first"):
        acc.reinvite(admin, fay.id)
    with pytest.raises(AccountError, match="No such account"):
        acc.reinvite(admin, 9999)
    pat = acc.create_user("pat@example.org", "participant", password=PW)
    with pytest.raises(AccountError, match="has chosen a password"):
        acc.reinvite(admin, pat.id)  # an admin must not be able to take over a participant's debrief
    new = acc.create_user("new@example.org", "participant")
    assert acc.reinvite(admin, new.id)[0] == "new@example.org"  # a lost first link: fine


def test_passwords_are_stored_as_argon2id_hashes_and_checked(acc, svc):
    acc.create_user("Ann@Example.org", "participant", password=PW)
    with svc.db.session() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "ann@example.org"))
    assert stored.startswith("$argon2id$") and PW not in stored
    assert acc.sign_in("ANN@example.org", PW)  # names are case-insensitive
    assert acc.sign_in("ann@example.org", PW + "x") is None
    assert acc.sign_in("nobody@example.org", PW) is None
    with pytest.raises(AccountError, match="at least 10"):
        acc.create_user("bob", "participant", password="short")
    with pytest.raises(AccountError, match="already taken"):
        acc.create_user("ann@example.org", "participant")
    with pytest.raises(AccountError, match="programme"):
        acc.create_user("fay", "facilitator")


def test_invitation_sets_the_password_once(acc):
    u = acc.create_user("jo@example.org", "participant")
    assert acc.sign_in("jo@example.org", PW) is None  # no password yet
    old = acc.invite(u.id)
    token = acc.invite(u.id)  # a new link replaces the unused old one
    assert acc.invitation_user(old) is None
    assert acc.invitation_user(token).username == "jo@example.org"
    acc.accept(token, PW)
    assert acc.sign_in("jo@example.org", PW)
    with pytest.raises(AccountError, match="used or has expired"):
        acc.accept(token, "another password 1")  # single use
    assert acc.sign_in("jo@example.org", "another password 1") is None


def test_expired_invitation_is_refused(acc, svc):
    u = acc.create_user("late@example.org", "participant")
    token = acc.invite(u.id)
    with svc.db.session() as s:
        s.execute(update(Invitation).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert acc.invitation_user(token) is None
    with pytest.raises(AccountError):
        acc.accept(token, PW)


def test_sessions_expire_when_idle_and_at_their_maximum_age(acc, svc):
    acc.create_user("ann@example.org", "participant", password=PW)
    idle, old, fresh = (acc.sign_in("ann@example.org", PW) for _ in range(3))
    assert acc.session_actor(idle).username == "ann@example.org"
    with svc.db.session() as s:
        assert len(s.scalars(select(SignInSession)).all()) == 3  # only hashes are stored
        assert idle not in {r.token_hash for r in s.scalars(select(SignInSession))}
    with svc.db.session() as s:
        s.get(SignInSession, _token_hash(idle)).last_seen = utcnow() - timedelta(minutes=31)
        s.get(SignInSession, _token_hash(old)).expires_at = utcnow() - timedelta(seconds=1)
    assert acc.session_actor(idle) is None and acc.session_actor(old) is None
    assert acc.session_actor(fresh) is not None
    acc.sign_out(fresh)
    assert acc.session_actor(fresh) is None
    assert acc.session_actor("made-up-token") is None and acc.session_actor(None) is None


def test_closing_an_account_ends_its_sessions(acc):
    admin = acc.create_user("root", "admin", password=PW)
    acc.create_user("fay@example.org", "facilitator", password=PW, programme="Pilot")
    token = acc.sign_in("fay@example.org", PW)
    me = Actor(admin.id, "root", "admin")
    fay = acc.find("fay@example.org")
    acc.set_active(me, fay.id, False)
    assert acc.session_actor(token) is None and acc.sign_in("fay@example.org", PW) is None
    with pytest.raises(AccountError, match="own account"):
        acc.set_active(me, admin.id, False)
    with pytest.raises(AccessDenied):
        acc.set_active(Actor(fay.id, fay.username, "facilitator", "Pilot"), admin.id, False)


def test_a_participant_owns_only_their_debriefs_and_a_facilitator_only_their_programme(acc, svc):
    d = svc.debriefs
    fay = Actor(0, "fay", "facilitator", "Pilot")
    ann, _ = acc.participant("ann@example.org", "Ann", fay)
    bob, _ = acc.participant("bob@example.org", "Bob", fay)
    pair = d.create_pair(senior="CFO", junior="Analyst", topic="AI tools", programme="Pilot")
    mine = d.open(pair.id, "senior", participant_id=ann.id)
    ann_a = acc.actor("ann@example.org")
    bob_a = acc.actor("bob@example.org")
    d.view(ann_a, mine)  # the domain checks the owner on every action
    for who, did in ((bob_a, mine), (ann_a, "d-does-not-exist"), (fay, mine)):
        with pytest.raises(AccessDenied, match="not yours"):  # same answer whether it exists or not
            d.view(who, did)
    assert [r[0] for r in acc.own_debriefs(ann_a)] == [mine] and acc.own_debriefs(bob_a) == []
    for _ in d.end(ann_a, mine):
        pass
    d.confirm(ann_a, mine, share=True)
    svc.review.open(fay, mine)
    with pytest.raises(AccessDenied, match="not in your programme"):
        svc.review.open(Actor(0, "other", "facilitator", "Other programme"), mine)
    with pytest.raises(AccessDenied):
        svc.review.open(Actor(0, "root", "admin"), mine)  # admins read no debriefs
    acc.create_user("fay2@example.org", "facilitator", programme="Pilot")
    with pytest.raises(AccountError, match="cannot be used") as e:
        acc.participant("fay2@example.org", None, fay)  # one account, one role
    assert "facilitator" not in str(e.value)  # and the message does not say what the account is


def test_topic_ideas_draw_on_the_programmes_a_person_belongs_to(acc, svc):
    d = svc.debriefs
    fay = Actor(0, "fay", "facilitator", "Pilot")
    ann, _ = acc.participant("ann@example.org", "Ann", fay)
    bob, _ = acc.participant("bob@example.org", "Bob", fay)
    for programme in ("Pilot", "Finance"):
        pair = d.create_pair(senior="CFO", junior="Analyst", topic="AI tools", programme=programme)
        d.open(pair.id, "junior", participant_id=ann.id)
    assert acc.programmes_of(acc.actor("ann@example.org")) == {"Pilot", "Finance"}
    assert acc.programmes_of(acc.actor("bob@example.org")) == set()  # in no pair yet: no one's debriefs
    assert acc.programmes_of(fay) == {"Pilot"}


def test_sign_out_takes_effect_at_once_despite_the_session_cache(svc):
    acc = Accounts(svc.db)  # the app's default: sessions cached for a few seconds
    acc.create_user("ann@example.org", "participant", password=PW)
    token = acc.sign_in("ann@example.org", PW)
    assert acc.session_actor(token) is not None and acc.session_actor(token) is not None  # second from cache
    acc.sign_out(token)
    assert acc.session_actor(token) is None


def test_a_facilitator_cannot_take_over_another_programmes_invited_participant(acc, svc):
    d = svc.debriefs
    amy = Actor(0, "amy", "facilitator", "Programme A")
    ben = Actor(0, "ben", "facilitator", "Programme B")
    user, token_a = acc.participant("pat@example.org", "Pat", amy)
    pair = d.create_pair(senior="CFO", junior="Analyst", topic="Secret A topic", programme="Programme A")
    d.open(pair.id, "senior", participant_id=user.id)
    same, token_b = acc.participant("pat@example.org", "Pat", ben)  # Ben names the same person
    assert same.id == user.id and token_b is None  # no new link for Ben ...
    assert acc.invitation_user(token_a).id == user.id  # ... and Amy's link still works
    _, again = acc.participant("pat@example.org", "Pat", amy)  # Amy may send a fresh one
    assert again and acc.invitation_user(token_a) is None


def test_sign_in_attempts_are_counted_before_the_password_is_checked(svc):
    from coach.web import MAX_FAILURES, Throttle

    t = Throttle(svc.db)
    assert all(t.attempt("ann") for _ in range(MAX_FAILURES))
    assert not t.attempt("ann") and t.attempt("bob")  # per name
    t.clear("ann")
    assert t.attempt("ann")
