"""Attacks on the login: telling which usernames exist from the time a login takes, and clearing a locked account's
lockout by flooding the throttle with made-up usernames."""
import hashlib

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from station.db.models import Base
from station.errors import AuthenticationFailed
from station.security import users
from station.security.throttle import LoginThrottle, TooManyAttempts


@pytest.fixture
def session(make_database_url):  # SQLite, or PostgreSQL under scripts/with-postgres.sh (Makefile DB_TESTS)
    engine = create_engine(make_database_url())
    Base.metadata.create_all(engine)
    with sessionmaker(engine).begin() as s:
        users.add_user(s, "officer", "officer-pass-1", "polling_officer")
        yield s
    engine.dispose()


def test_a_known_and_an_unknown_username_cost_the_same_key_derivations(session, monkeypatch):
    calls = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    users.login_decoy_hash()  # made once per process, before any attacker's timing (not counted)
    monkeypatch.setattr(users.hashlib, "scrypt", counting)
    costs = {}
    for username in ("officer", "no-such-user"):
        calls.clear()
        with pytest.raises(AuthenticationFailed):
            users.login(session, username, "wrong-password", 60)
        costs[username] = len(calls)
    assert costs == {"officer": 1, "no-such-user": 1}


def test_a_flood_of_made_up_usernames_does_not_clear_a_lockout():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0])
    for _ in range(5):
        throttle.failed("officer")
    with pytest.raises(TooManyAttempts):
        throttle.check("officer")
    for i in range(10_500):  # more made-up usernames than the throttle keeps
        now[0] += 0.001
        throttle.failed(f"junk-{i}")
    with pytest.raises(TooManyAttempts):
        throttle.check("officer")


def test_an_attackers_failures_lock_that_username_from_their_address_only():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0], max_address_failures=20,
                             max_username_failures=50)
    for name in ("tech", " TECH", "Tech ", "tech", "TECH"):  # one username however it is spelled
        throttle.check(name, "192.0.2.66")
        throttle.failed(name, "192.0.2.66")
    with pytest.raises(TooManyAttempts, match="for 'tech' from 192.0.2.66") as err:
        throttle.check("tech", "192.0.2.66")  # the attacker's own address is locked for that username ...
    assert err.value.retry_after_s == 900
    throttle.check("tech", "192.0.2.7")  # ... the real user's is not
    throttle.check("officer", "192.0.2.66")  # nor another username from the attacker's address
    now[0] = 901
    throttle.check("tech", "192.0.2.66")


def test_a_distributed_guesser_is_capped_per_username_across_addresses():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0], max_address_failures=20,
                             max_username_failures=50)
    for i in range(10):  # ten addresses, each stopping just before its own lock
        for _ in range(4):
            throttle.check("tech", f"198.51.100.{i}")
            throttle.failed("tech", f"198.51.100.{i}")
    throttle.check("tech", "192.0.2.7")  # 40 failures in all: under the username's cap
    for i in range(10, 20):
        throttle.failed("tech", f"198.51.100.{i}")
    with pytest.raises(TooManyAttempts, match="for 'tech'") as err:
        throttle.check("tech", "192.0.2.7")  # 50: every address waits, the right password too
    assert err.value.retry_after_s == 900
    throttle.check("officer", "192.0.2.7")
    everywhere = [e for e in throttle.state().entries if e.scope == "username" and e.username == "tech"]
    assert [(e.failures, e.locked_for_s) for e in everywhere] == [(50, 900)]
