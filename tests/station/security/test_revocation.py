"""Attacks on accounts and the throttle below the API: a token that outlives its logout, a disabled user's tokens, one
password sprayed over many usernames from one address, a flood of anonymous browser sessions pushing out signed-in
ones; and the CLI that disables users and revokes tokens (one line on error, never a traceback)."""
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from station.db.models import Base
from station.errors import AuthenticationFailed, NotFound
from station.security import users
from station.security.sessions import SessionStore
from station.security.throttle import LoginThrottle, TooManyAttempts, address_key


@pytest.fixture
def session(make_database_url):  # SQLite, or PostgreSQL under scripts/with-postgres.sh (Makefile DB_TESTS)
    engine = create_engine(make_database_url())
    Base.metadata.create_all(engine)
    with sessionmaker(engine).begin() as s:
        users.add_user(s, "officer", "officer-pass-1", "polling_officer")
        users.add_user(s, "auditor", "auditor-pass-1", "auditor")
        yield s
    engine.dispose()


def test_logout_deletes_the_token(session):
    token, _, _ = users.login(session, "officer", "officer-pass-1", 60)
    assert users.authenticate(session, token).username == "officer"
    assert users.logout(session, token) is True
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, token)
    assert users.logout(session, token) is False


def test_disable_revokes_every_token_and_refuses_logins(session):
    tokens = [users.login(session, "officer", "officer-pass-1", 60)[0] for _ in range(3)]
    other, _, _ = users.login(session, "auditor", "auditor-pass-1", 60)
    assert users.set_disabled(session, "officer", True) == 3
    for token in tokens:
        with pytest.raises(AuthenticationFailed):
            users.authenticate(session, token)
    with pytest.raises(AuthenticationFailed, match="wrong username or password"):
        users.login(session, "officer", "officer-pass-1", 60)
    assert users.authenticate(session, other).username == "auditor"
    users.set_disabled(session, "officer", False)
    assert users.login(session, "officer", "officer-pass-1", 60)[1].username == "officer"


def test_revoke_and_disable_name_an_unknown_user(session):
    with pytest.raises(NotFound, match="no user named 'ghost'"):
        users.revoke_tokens(session, "ghost")
    with pytest.raises(NotFound, match="no user named 'ghost'"):
        users.set_disabled(session, "ghost", True)


def test_one_address_spraying_many_usernames_is_throttled():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0], max_address_failures=20)
    for i in range(20):
        throttle.check(f"user{i}", "198.51.100.9")
        throttle.failed(f"user{i}", "198.51.100.9")
    with pytest.raises(TooManyAttempts, match="from 198.51.100.9") as err:
        throttle.check("officer", "198.51.100.9")
    assert err.value.retry_after_s == 900
    throttle.check("officer", "198.51.100.10")
    throttle.attempt("officer", "198.51.100.10").succeeded()  # a success elsewhere does not reset the address
    with pytest.raises(TooManyAttempts):
        throttle.check("officer", "198.51.100.9")
    now[0] = 901
    throttle.check("officer", "198.51.100.9")


def test_ipv6_addresses_count_by_their_64():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::7") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    throttle = LoginThrottle(max_address_failures=3)
    for i in range(3):
        throttle.failed(f"user{i}", f"2001:db8:1:2::{i + 1}")  # a new address of the same /64 for every guess
    with pytest.raises(TooManyAttempts):
        throttle.check("officer", "2001:db8:1:2::ffff")


def test_a_flood_of_anonymous_sessions_does_not_push_out_signed_in_ones():
    store = SessionStore(idle_s=600, max_sessions=100)
    officer = store.new_id()
    store.save(officer, {"token": "t", "csrf": "c"})
    for _ in range(1000):
        store.save(store.new_id(), {"csrf": "x"})
    assert len(store) <= 100
    assert store.load(officer) == {"token": "t", "csrf": "c"}
    store.delete(officer)
    assert store.load(officer) is None


def test_sessions_expire_when_idle():
    now = [0.0]
    store = SessionStore(idle_s=100, anonymous_idle_s=10, clock=lambda: now[0])
    signed_in, anonymous = store.new_id(), store.new_id()
    store.save(signed_in, {"token": "t"})
    store.save(anonymous, {"csrf": "c"})
    now[0] = 50
    assert store.load(anonymous) is None and store.load(signed_in) is not None
    now[0] = 149
    assert store.load(signed_in) is not None  # loading it counted as use
    now[0] = 250
    assert store.load(signed_in) is None


def test_opening_a_session_that_expired_for_idleness_hands_back_its_token_once():
    now = [0.0]
    store = SessionStore(idle_s=100, anonymous_idle_s=10, clock=lambda: now[0])
    signed_in, anonymous = store.new_id(), store.new_id()
    store.save(signed_in, {"token": "t", "lang": "ur"})
    store.save(anonymous, {"lang": "ur"})
    now[0] = 101
    assert store.open(anonymous).idle_expired is None  # nothing to revoke, nothing to tell
    opened = store.open(signed_in)
    assert opened.data is None and opened.idle_expired == {"token": "t", "lang": "ur"}  # the caller revokes "t"
    assert store.open(signed_in).idle_expired is None and store.open("no-such-id").data is None


def test_cli_disable_enable_and_revoke(tmp_path, make_database_url):
    from station.cli.main import main
    from tests.support.stations import build_station

    home, url = tmp_path / "home", make_database_url()
    st = build_station(home, url)
    st.init()
    st.accounts.add_user("officer", "officer-pass-1", "polling_officer")
    token = st.accounts.login("officer", "officer-pass-1")["token"]
    run = CliRunner()
    env = {"STATION_DATABASE__URL": url}
    base = ["--profile", "test", "--home", str(home)]

    r = run.invoke(main, [*base, "token", "revoke", "--user", "officer"], env=env)
    assert r.exit_code == 0 and r.output.strip() == "1 token(s) of user officer revoked"
    with pytest.raises(AuthenticationFailed):
        st.accounts.authenticate(token)

    token = st.accounts.login("officer", "officer-pass-1")["token"]
    r = run.invoke(main, [*base, "user", "disable", "officer"], env=env)
    assert r.exit_code == 0 and r.output.strip() == "user officer disabled; 1 token(s) revoked"
    with pytest.raises(AuthenticationFailed):
        st.accounts.authenticate(token)
    with pytest.raises(AuthenticationFailed):
        st.accounts.login("officer", "officer-pass-1")
    r = run.invoke(main, [*base, "user", "enable", "officer"], env=env)
    assert r.exit_code == 0 and st.accounts.login("officer", "officer-pass-1")

    for argv in (["user", "disable", "ghost"], ["user", "enable", "ghost"], ["token", "revoke", "--user", "ghost"]):
        r = run.invoke(main, [*base, *argv], env=env)
        assert r.exit_code == 3, r.output
        assert r.output.strip() == "error: no user named 'ghost'" and "Traceback" not in r.output
    st.close()
