"""Login throttling: failures slow down, then lock out, never the author for long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from homepage.admin import throttle

from .support import PASSWORD, csrf_from

# Threaded servers, Hypothesis or many requests per test: too slow for make
# test-fast, which runs the quick part of the suite in under 30 s.
pytestmark = pytest.mark.slow


class Clock:
    """A clock the test moves by hand, so no test waits or races real time."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(throttle, "utcnow", clock)
    return clock


def attempt(
    client: FlaskClient,
    address: str = "192.0.2.1",
    password: str = "wrong password",
    username: str = "alice",
):
    """Try to log in from ``address``."""
    environ = {"REMOTE_ADDR": address}
    page = client.get("/admin/login", environ_base=environ).get_data(as_text=True)
    return client.post(
        "/admin/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_from(page),
        },
        environ_base=environ,
    )


def fail(client: FlaskClient, times: int, **where) -> None:
    """Fail to log in ``times`` times, each refused as a wrong password."""
    for _ in range(times):
        assert attempt(client, **where).status_code == 400


def test_wrong_passwords_from_one_address_lock_it_out(client, app, clock):
    fail(client, 5)
    # Even the right password is refused now, without being checked.
    response = attempt(client, password=PASSWORD)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert "Too many failed attempts. Wait 2 seconds" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_the_author_elsewhere_is_not_locked_out(client, app, clock):
    fail(client, 5, address="192.0.2.1")
    other = app.test_client()
    assert attempt(other, address="198.51.100.7", password=PASSWORD).status_code == 302
    assert other.get("/admin/").status_code == 200


def test_waits_double_up_to_the_lockout(app, client, clock):
    app.config["LOGIN_LOCKOUT"] = 100
    fail(client, 5)
    waits = []
    for _ in range(8):
        refused = attempt(client)
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(waits[-1])
        fail(client, 1)
    assert waits == [2, 4, 8, 16, 32, 64, 100, 100]


def test_a_lockout_ends_however_often_it_is_knocked_on(client, clock):
    fail(client, 5)
    clock.advance(2)
    fail(client, 1)
    for _ in range(10):
        refused = attempt(client)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) <= 4
        clock.advance(0.3)
    clock.advance(1)
    assert attempt(client, password=PASSWORD).status_code == 302


def test_failures_are_forgotten_after_the_window(client, app, clock):
    fail(client, 5)
    clock.advance(app.config["LOGIN_WINDOW"] + 1)
    assert attempt(client, password=PASSWORD).status_code == 302


def test_a_good_login_forgets_the_failures_from_that_address(client, clock):
    fail(client, 4)
    assert attempt(client, password=PASSWORD).status_code == 302
    client.delete_cookie("session")
    fail(client, 4)
    assert attempt(client, password=PASSWORD).status_code == 302


def test_unknown_names_are_throttled_like_real_ones(client, clock):
    fail(client, 5, username="mallory")
    response = attempt(client, username="mallory")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"


def test_one_address_trying_many_names_is_locked_out(app, client, clock):
    app.config["LOGIN_ADDRESS_FREE_ATTEMPTS"] = 8
    for number in range(8):
        fail(client, 1, username=f"user{number}")
    assert attempt(client, username="alice", password=PASSWORD).status_code == 429


def test_guessing_one_name_from_many_addresses_only_slows_it_briefly(
    app, client, clock
):
    app.config["LOGIN_USER_LOCKOUT"] = 20
    for number in range(10):
        fail(client, 1, address=f"203.0.113.{number}")
    waits = []
    for number in range(10, 20):
        refused = attempt(client, address=f"203.0.113.{number}")
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(waits[-1])
        fail(client, 1, address=f"203.0.113.{number}")
    # However long the attack goes on, the name's wait stays short.
    assert waits == [2, 4, 8, 16, 20, 20, 20, 20, 20, 20]
    assert attempt(app.test_client(), address="198.51.100.7").status_code == 429


def test_a_browser_the_author_used_before_ignores_attacks_on_the_name(app, clock):
    browser = app.test_client()
    assert (
        attempt(browser, address="198.51.100.7", password=PASSWORD).status_code == 302
    )
    browser.delete_cookie("session")
    attacker = app.test_client()
    for number in range(30):
        attacker_address = f"203.0.113.{number}"
        if attempt(attacker, address=attacker_address).status_code == 429:
            break
    else:
        pytest.fail("the attack on the name was never slowed down")
    # From a new address, the author's own browser still gets in at once ...
    assert attempt(browser, address="192.0.2.50", password=PASSWORD).status_code == 302
    # ... while a stranger's browser there waits.
    assert attempt(app.test_client(), address="192.0.2.50").status_code == 429


def test_a_browser_the_author_used_before_gets_in_from_a_busy_address(app, clock):
    app.config["LOGIN_ADDRESS_FREE_ATTEMPTS"] = 8
    browser = app.test_client()
    assert attempt(browser, address="192.0.2.9", password=PASSWORD).status_code == 302
    browser.delete_cookie("session")
    # Someone behind the same address tries many names until it is locked.
    neighbour = app.test_client()
    for number in range(8):
        fail(neighbour, 1, address="192.0.2.9", username=f"user{number}")
    assert attempt(neighbour, address="192.0.2.9", username="x").status_code == 429
    assert attempt(browser, address="192.0.2.9", password=PASSWORD).status_code == 302


def test_a_forged_known_browser_cookie_is_ignored(app, clock):
    attacker = app.test_client()
    attacker.set_cookie(throttle.DEVICE_COOKIE, '["alice"]', path="/admin")
    for number in range(11):
        attempt(attacker, address=f"203.0.113.{number}")
    assert attempt(attacker, address="203.0.113.200").status_code == 429


def test_ipv6_addresses_count_by_their_64_bit_network(client, clock):
    for host in range(1, 6):
        fail(client, 1, address=f"2001:db8:0:1::{host}")
    assert attempt(client, address="2001:db8:0:1::ffff").status_code == 429
    assert (
        attempt(client, address="2001:db8:0:2::1", password=PASSWORD).status_code == 302
    )


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8::abcd:1", "2001:db8::/64"),
        ("not an address", "not an address"),
    ],
)
def test_client_address_keys(app, remote, key):
    with app.test_request_context(environ_base={"REMOTE_ADDR": remote}):
        assert throttle.client_address() == key


@pytest.mark.parametrize(
    ("proxies", "key"), [(0, "127.0.0.1"), (1, "203.0.113.5"), (2, "198.51.100.1")]
)
def test_addresses_behind_trusted_proxies(make_app, proxies, key):
    app = make_app(create=False, PROXY_FIX_X_FOR=proxies)
    seen = []
    app.before_request(lambda: seen.append(throttle.client_address()))
    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}
    app.test_client().get("/static/style.css", headers=forwarded).close()
    assert seen == [key]
