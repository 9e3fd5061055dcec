"""Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): the signed cookie, and the login
throttle's trusted-device path, its own lockout, and the technician's view and clearing of lockouts."""
import secrets

import pytest

from station.security.device_cookies import DeviceCookies
from station.security.throttle import LoginThrottle, TooManyAttempts

DAY_S = 24 * 60 * 60


@pytest.fixture
def now():
    return [1_700_000_000.0]


@pytest.fixture
def cookies(now):
    return DeviceCookies(secrets.token_bytes(32), clock=lambda: now[0])


def test_a_device_cookie_is_trusted_for_its_own_username_only(cookies):
    value = cookies.issue("officer")
    nonce = cookies.trusted(value, "officer")
    assert nonce and nonce in value
    assert cookies.trusted(value, " OFFICER ") == nonce  # the username as the throttle normalises it
    assert cookies.trusted(value, "tech") is None
    assert "officer" not in value


def test_a_cookie_signed_with_another_key_or_altered_is_untrusted(cookies, now):
    value = cookies.issue("officer")
    other = DeviceCookies(secrets.token_bytes(32), clock=lambda: now[0])
    assert other.trusted(value, "officer") is None
    assert cookies.trusted(other.issue("officer"), "officer") is None
    for i, ch in enumerate(value):
        altered = value[:i] + ("B" if ch == "A" else "A") + value[i + 1:]
        assert cookies.trusted(altered, "officer") is None, i


@pytest.mark.parametrize("value", [None, "", "~", "...", "x" * 100_000, "1.2.3", "گ" * 50, "\x00"])
def test_garbage_is_untrusted_and_raises_nothing(cookies, value):
    assert cookies.trusted(value, "officer") is None
    assert cookies.trusted(cookies.issue("officer", value), "officer")


def test_a_device_cookie_expires_after_30_days(cookies, now):
    value = cookies.issue("officer")
    now[0] += 30 * DAY_S - 1
    assert cookies.trusted(value, "officer")
    now[0] += 2
    assert cookies.trusted(value, "officer") is None


def test_one_browser_holds_a_cookie_per_user_and_a_new_sign_in_replaces_that_users(cookies):
    value = cookies.issue("officer")
    first = cookies.trusted(value, "officer")
    value = cookies.issue("tech", value)
    assert cookies.trusted(value, "officer") == first and cookies.trusted(value, "tech")
    value = cookies.issue("officer", value)
    renewed = cookies.trusted(value, "officer")
    assert renewed and renewed != first and first not in value  # a fresh nonce, the old one gone
    for i in range(100):  # many users through one browser: the cookie stays within a browser's 4 KB
        value = cookies.issue(f"user{i}", value)
        assert len(value) < 4000
    assert cookies.trusted(value, "user99") and cookies.trusted(value, "officer") is None  # the oldest went first


def _throttle(now):
    return LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0], max_address_failures=20,
                         max_username_failures=50)


def test_a_trusted_device_passes_every_lock_but_its_own(now):
    throttle = _throttle(now)
    for i in range(12):  # the distributed guesser: the username locked everywhere
        for _ in range(5):
            throttle.failed("officer", f"198.51.100.{i}")
    for i in range(20):  # and the address locked for every username
        throttle.failed(f"user{i}", "198.51.100.0")
    with pytest.raises(TooManyAttempts):
        throttle.check("officer", "192.0.2.7")
    throttle.check("officer", "198.51.100.0", device="nonce-1")  # pair, address and username locks: all passed
    for _ in range(5):
        throttle.failed("officer", "198.51.100.0", device="nonce-1")
    with pytest.raises(TooManyAttempts, match="from this device") as err:
        throttle.check("officer", "192.0.2.7", device="nonce-1")
    assert err.value.retry_after_s == 900
    throttle.check("officer", "192.0.2.7", device="nonce-2")  # another device of the same user
    now[0] += 901
    throttle.check("officer", "192.0.2.7", device="nonce-1")


def test_failures_from_a_trusted_device_count_against_the_device_only(now):
    throttle = _throttle(now)
    for _ in range(5):
        throttle.failed("officer", "192.0.2.7", device="stolen")
    throttle.check("officer", "192.0.2.7")  # untrusted, same address: nothing counted
    entries = throttle.state().entries
    assert [(e.scope, e.username, e.address, e.failures) for e in entries] == [("device", "officer", None, 5)]
    assert "stolen" not in repr(entries)  # the nonce is the cookie's secret: never shown


def test_a_flood_of_made_up_devices_does_not_clear_a_locked_device(now):
    throttle = _throttle(now)
    for _ in range(5):
        throttle.failed("officer", device="stolen")
    for i in range(10_500):  # more devices than the throttle keeps
        now[0] += 0.001
        throttle.failed("officer", device=f"junk-{i}")
    with pytest.raises(TooManyAttempts):
        throttle.check("officer", device="stolen")


def test_state_lists_every_count_and_clear_forgets_one_username_everywhere(now):
    throttle = _throttle(now)
    for i in range(12):
        for _ in range(5):
            throttle.failed("officer", f"198.51.100.{i}")
    throttle.failed("tech", "198.51.100.0")
    throttle.failed("officer", "192.0.2.7", device="d")
    now[0] += 100
    entries = {(e.scope, e.username, e.address): e for e in throttle.state().entries}
    assert entries[("username", "officer", None)].failures == 50
    assert entries[("username", "officer", None)].locked_for_s == 800
    assert entries[("username_address", "officer", "198.51.100.3")].failures == 5
    assert entries[("address", None, "198.51.100.0")].failures == 6
    assert entries[("username", "tech", None)].failures == 1
    assert entries[("device", "officer", None)].failures == 1
    assert throttle.clear(" Officer") is True
    throttle.check("officer", "198.51.100.3")
    left = {(e.scope, e.username, e.address) for e in throttle.state().entries}
    assert not [key for key in left if key[1] == "officer"]
    assert ("username", "tech", None) in left and ("address", None, "198.51.100.0") in left  # not the officer's
    assert throttle.clear("officer") is False
