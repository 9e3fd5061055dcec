"""Attacks on the login: telling which usernames exist from the time a login takes, clearing a locked account's
lockout by flooding the throttle with made-up usernames, and guessing with many attempts in flight at once."""
import hashlib
import threading

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from station.db.models import Base
from station.errors import AuthenticationFailed
from station.security import users
from station.security.throttle import LoginThrottle, TooManyAttempts, login_throttled


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


class HeldWrongPassword:
    """A stand-in AccountService whose password check (a key derivation: slow) holds until the test lets it go, then
    fails; it counts the passwords it was asked to check."""

    def __init__(self, arrived: threading.Semaphore) -> None:
        self.checked = 0
        self.arrived, self.go = arrived, threading.Event()
        self._lock = threading.Lock()

    def login(self, username, password):
        with self._lock:
            self.checked += 1
        self.arrived.release()
        assert self.go.wait(timeout=30)
        raise AuthenticationFailed("wrong username or password")


def _guesses_in_flight_together(throttle, guesses) -> int:
    """Start every guess (username, address, device) at once; each is let go only once every guess is either inside
    its password check or refused, so that they are all in flight together. Returns how many passwords were checked."""
    settled = threading.Semaphore(0)  # a guess that reached its password check, or was refused
    accounts = HeldWrongPassword(settled)

    def guess(i, username, address, device):
        try:
            login_throttled(accounts, throttle, username, f"guess-{i}", address, device=device)
        except TooManyAttempts:
            settled.release()
        except AuthenticationFailed:
            pass

    threads = [threading.Thread(target=guess, args=(i, *g)) for i, g in enumerate(guesses)]
    for t in threads:
        t.start()
    for _ in threads:
        assert settled.acquire(timeout=30)
    accounts.go.set()
    for t in threads:
        t.join(timeout=30)
    return accounts.checked


@pytest.mark.parametrize("what, limit, guesses", [
    ("a stolen device cookie", 5, [("officer", f"203.0.113.{i}", "stolen-nonce") for i in range(20)]),
    ("one username from one address", 5, [("officer", "198.51.100.9", None)] * 20),
    ("one address over many usernames", 20, [(f"user{i}", "198.51.100.9", None) for i in range(30)]),
    ("one username from many addresses", 50, [("officer", f"10.0.{i // 4}.{i % 4}", None) for i in range(80)]),
])
def test_guesses_in_flight_together_get_no_more_password_checks_than_the_limit(what, limit, guesses):
    """The audit's race (s40 #1): the check and the count were two steps with the password check (slow) between them,
    so 30 guesses sent at once got 12 checks where the limit is 5. Each limit here is set by the test."""
    throttle = LoginThrottle(max_failures=5, window_s=900, max_address_failures=20, max_username_failures=50)
    checked = _guesses_in_flight_together(throttle, guesses)
    assert checked == limit, f"{what}: {checked} passwords checked in one window, the limit is {limit}"
    username, address, device = guesses[0]
    unheld = HeldWrongPassword(threading.Semaphore(0))
    unheld.go.set()
    with pytest.raises(TooManyAttempts):  # the failures were counted: the next one waits
        login_throttled(unheld, throttle, username, "next", address, device=device)


def test_an_attempt_counts_as_a_failure_until_it_succeeds_and_a_success_takes_back_its_own_only():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0], max_address_failures=20,
                             max_username_failures=50)
    for _ in range(4):
        throttle.failed("officer", "192.0.2.7")
    for i in range(3):
        throttle.failed("officer", f"198.51.100.{i}")
    throttle.failed("tech", "192.0.2.7")
    in_flight = throttle.attempt("officer", "192.0.2.7")  # counted before its password is checked: 5 of 5
    with pytest.raises(TooManyAttempts, match="for 'officer' from 192.0.2.7"):
        throttle.attempt("officer", "192.0.2.7")
    other = throttle.attempt("officer", "192.0.2.8")  # in flight at the same time, from elsewhere
    in_flight.succeeded()
    counts = {(e.scope, e.username, e.address): e.failures for e in throttle.state().entries}
    assert counts == {  # the success clears officer from 192.0.2.7 (as before) and is not a failure anywhere
        ("username", "officer", None): 4 + 3 + 1,  # the one still in flight stays counted
        ("address", None, "192.0.2.7"): 4 + 1,
        ("username_address", "officer", "198.51.100.0"): 1, ("username_address", "officer", "198.51.100.1"): 1,
        ("username_address", "officer", "198.51.100.2"): 1, ("address", None, "198.51.100.0"): 1,
        ("address", None, "198.51.100.1"): 1, ("address", None, "198.51.100.2"): 1,
        ("username_address", "officer", "192.0.2.8"): 1, ("address", None, "192.0.2.8"): 1,
        ("username_address", "tech", "192.0.2.7"): 1, ("username", "tech", None): 1,
    }
    other.cancel()  # not a guess (say, no password given): taken back everywhere
    counts = {(e.scope, e.username, e.address): e.failures for e in throttle.state().entries}
    assert counts[("username", "officer", None)] == 7 and ("address", None, "192.0.2.8") not in counts


def test_a_reservation_taken_back_after_the_technician_cleared_it_takes_nothing_else():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0])  # one clock reading for all
    first = throttle.attempt("officer", "192.0.2.7")
    assert throttle.clear("officer") and throttle.clear_address("192.0.2.7")
    for _ in range(4):
        throttle.failed("officer", "192.0.2.7")  # failures at the very same time as the reservation
    first.cancel()
    held = [throttle.attempt("officer", "192.0.2.7")]  # 4 failures left: room for exactly one more
    with pytest.raises(TooManyAttempts):
        held.append(throttle.attempt("officer", "192.0.2.7"))


def test_the_throttle_window_counts_the_time_a_laptop_lay_suspended(monkeypatch):
    """A lockout runs out while the laptop is suspended too: the throttle's own clock (none given, as the app builds
    it) reads CLOCK_BOOTTIME on Linux, which counts suspended time; time.monotonic does not. Suspension is imitated by
    moving what ``time.clock_gettime(CLOCK_BOOTTIME)`` answers forward and no other clock, so this shows only that the
    default clock is CLOCK_BOOTTIME on Linux (the station's platform), not what the kernel does while suspended."""
    import time

    throttle = LoginThrottle(max_failures=5, window_s=900)
    for _ in range(5):
        throttle.failed("officer", "192.0.2.7")
    with pytest.raises(TooManyAttempts):
        throttle.check("officer", "192.0.2.7")
    real = time.clock_gettime
    monkeypatch.setattr(time, "clock_gettime",
                        lambda clock_id: real(clock_id) + (901 if clock_id == time.CLOCK_BOOTTIME else 0))
    throttle.check("officer", "192.0.2.7")  # 15 minutes and a second later, suspended: the lock has run out
