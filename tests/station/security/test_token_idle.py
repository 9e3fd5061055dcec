"""An API token left unused: after ``server.session_idle_minutes`` without a request it is revoked on the server, as
a browser session is (tests/api/test_idle_sign_out.py). A bearer token copied from a booth's client and used later
opens nothing once its owner's client has stopped using it for that long. The time is an injected clock, never a
sleep; the served path's clock (CLOCK_BOOTTIME) is moved as the suspended-laptop test moves it."""
import time

import pytest
from sqlalchemy import select

from station.db.models import ApiToken
from station.errors import AuthenticationFailed
from station.security.users import AccountService
from tests.support.stations import PASSWORDS, station_with_users

IDLE_MINUTES = 7


@pytest.fixture(scope="module")
def idle_station(tmp_path_factory, make_database_url):
    yield from station_with_users(tmp_path_factory.mktemp("token-idle"), make_database_url(), ["officer"])


@pytest.fixture
def clock():
    return [5_000.0]


@pytest.fixture
def accounts(idle_station, clock):
    return AccountService(transaction=idle_station.transaction, token_ttl_minutes=600, idle_minutes=IDLE_MINUTES,
                          clock=lambda: clock[0])


def _login(accounts):
    return accounts.login("officer", PASSWORDS["officer"][1])["token"]


def _rows(station):
    with station.transaction() as s:
        return len(s.scalars(select(ApiToken)).all())


def test_a_token_unused_past_the_limit_is_refused_and_revoked(accounts, idle_station, clock):
    token = _login(accounts)
    clock[0] += IDLE_MINUTES * 60 - 1
    assert accounts.authenticate(token).username == "officer"  # just under the limit
    before = _rows(idle_station)
    clock[0] += IDLE_MINUTES * 60 + 1
    with pytest.raises(AuthenticationFailed, match=f"unused for {IDLE_MINUTES} minutes"):
        accounts.authenticate(token)
    assert _rows(idle_station) == before - 1  # deleted on the server, not merely refused
    clock[0] = 0.0  # whatever the clock says later, the token is gone
    with pytest.raises(AuthenticationFailed, match="unknown token"):
        accounts.authenticate(token)


def test_a_one_minute_limit_is_said_in_the_singular(idle_station, clock):
    one = AccountService(transaction=idle_station.transaction, token_ttl_minutes=600, idle_minutes=1,
                         clock=lambda: clock[0])
    token = _login(one)
    clock[0] += 61
    with pytest.raises(AuthenticationFailed, match="^token unused for 1 minute: log in again$"):
        one.authenticate(token)


def test_a_token_in_use_lives_past_the_idle_limit(accounts, clock):
    token = _login(accounts)
    for _ in range(4):  # a request every (limit - 1) minutes: four times the limit in all
        clock[0] += (IDLE_MINUTES - 1) * 60
        assert accounts.authenticate(token).username == "officer"


def test_a_token_first_seen_by_this_process_starts_its_idle_clock_then(accounts, idle_station, clock):
    """A token issued before a restart (or by another process) is not known to the serving process's idle clock: its
    first use starts it, so a restart never signs API clients out, and the limit holds from then on."""
    other = AccountService(transaction=idle_station.transaction, token_ttl_minutes=600, idle_minutes=IDLE_MINUTES,
                           clock=lambda: 0.0)
    token = _login(other)
    clock[0] += IDLE_MINUTES * 60 * 3
    assert accounts.authenticate(token).username == "officer"
    clock[0] += IDLE_MINUTES * 60 + 1
    with pytest.raises(AuthenticationFailed, match="unused"):
        accounts.authenticate(token)


def test_idle_tokens_are_revoked_at_the_next_login_even_if_never_used_again(accounts, idle_station, clock):
    """The idle clocks kept in memory stay bounded: a login forgets the tokens idle past the limit and deletes them
    on the server, so a forgotten one is never taken for one first seen."""
    stale = [_login(accounts) for _ in range(3)]
    clock[0] += IDLE_MINUTES * 60 + 1
    fresh = _login(accounts)
    assert len(accounts._last_used) == 1
    for token in stale:
        with pytest.raises(AuthenticationFailed, match="unknown token"):
            accounts.authenticate(token)
    assert accounts.authenticate(fresh).username == "officer"


def test_the_served_api_refuses_a_bearer_token_left_idle(idle_station, monkeypatch):
    """Over HTTP with the station's own AccountService and clock (no clock injected): CLOCK_BOOTTIME moved forward by
    more than the limit, the next request with the token answers 401 and says why."""
    from api import create_app
    from tests.support.stations import build_station

    st = build_station(idle_station.config.home, idle_station.config.database_url,
                       server={"session_idle_minutes": IDLE_MINUTES})
    try:
        client = create_app(st).test_client()
        r = client.post("/api/auth/login", json={"username": "officer", "password": PASSWORDS["officer"][1]})
        headers = {"Authorization": f"Bearer {r.get_json()['token']}"}
        assert client.get("/api/voters/12345-1234567-1", headers=headers).status_code == 404
        real = time.clock_gettime
        monkeypatch.setattr(time, "clock_gettime", lambda clock_id: real(clock_id) + (
            (IDLE_MINUTES * 60 + 5) if clock_id == time.CLOCK_BOOTTIME else 0))
        r = client.get("/api/voters/12345-1234567-1", headers=headers)
        assert r.status_code == 401 and f"unused for {IDLE_MINUTES} minutes" in r.get_json()["detail"]
    finally:
        st.close()
