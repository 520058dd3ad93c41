"""Login throttling: repeated failures first slow down, then lock out for a while.

Failures are rows in ``login_failures``, counted over a sliding window under three
keys, each with its own allowance and longest wait:

- the user name *from one address*: few free attempts, then waits that double up
  to ``LOGIN_LOCKOUT`` (15 minutes by default); this is what stops a guesser;
- the address, whatever the name: more free attempts (many people may share one
  address), the same lockout; this stops one machine trying many names;
- the user name *from any address*: the widest allowance and a short cap
  (``LOGIN_USER_LOCKOUT``, a minute), so guessers spread over many addresses are
  slowed, yet the real author, elsewhere, is never locked out for long.

Browsers where the author has logged in before carry a signed cookie that
exempts them from the last two keys, so neither an attack on the name nor one
from a shared address (an office, a carrier's NAT) keeps the author out; only
their own mistakes from that address count.

Refused attempts never check the password and are not counted, so a lockout ends
on time however hard an attacker keeps knocking.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from math import ceil

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, or_, select
from werkzeug.wrappers import Response as BaseResponse

from ..core.models import LoginFailure, utcnow
from ..db import session

DEVICE_COOKIE = "homepage_known"
_DEVICE_SALT = "homepage.known-device"
#: How many user names one browser remembers; more than any author needs.
_DEVICE_NAMES = 5


def normalize_username(username: str) -> str:
    """Return the throttle key for a typed user name."""
    return " ".join(username.split()).lower()[:80]


def client_address() -> str:
    """Return the client's address, widening IPv6 to its /64 network.

    One IPv6 host usually owns a whole /64, so counting single addresses would
    give it billions of fresh allowances.
    """
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _wait(failures: list, free: int, cap: timedelta) -> timedelta:
    """Return how long after the latest of ``failures`` the next try must wait."""
    if len(failures) < free:
        return timedelta(0)
    # 2 s after the first failure over the allowance, then 4, 8, 16 ... up to cap.
    doubling = min(len(failures) - free + 1, 30)
    return min(timedelta(seconds=2**doubling), cap)


def retry_after(username: str, address: str, known_device: bool = False) -> int:
    """Return how many seconds this login attempt must wait; 0 lets it through."""
    config = current_app.config
    now = utcnow()
    name = normalize_username(username)
    rows = session.execute(
        select(LoginFailure.username, LoginFailure.address, LoginFailure.failed_at)
        .where(
            LoginFailure.failed_at > now - timedelta(seconds=config["LOGIN_WINDOW"]),
            or_(LoginFailure.username == name, LoginFailure.address == address),
        )
        .order_by(LoginFailure.failed_at)
    ).all()
    lockout = timedelta(seconds=config["LOGIN_LOCKOUT"])
    rules = [
        (
            [row for row in rows if row.username == name and row.address == address],
            config["LOGIN_FREE_ATTEMPTS"],
            lockout,
        )
    ]
    if not known_device:
        rules += [
            (
                [row for row in rows if row.address == address],
                config["LOGIN_ADDRESS_FREE_ATTEMPTS"],
                lockout,
            ),
            (
                [row for row in rows if row.username == name],
                config["LOGIN_USER_FREE_ATTEMPTS"],
                timedelta(seconds=config["LOGIN_USER_LOCKOUT"]),
            ),
        ]
    until = now
    for failures, free, cap in rules:
        wait = _wait(failures, free, cap)
        if wait:
            until = max(until, failures[-1].failed_at + wait)
    return ceil((until - now).total_seconds())


def record_failure(username: str, address: str) -> LoginFailure:
    """Count a failed login, and forget failures older than the window."""
    now = utcnow()
    window = timedelta(seconds=current_app.config["LOGIN_WINDOW"])
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - window))
    failure = LoginFailure(
        username=normalize_username(username), address=address, failed_at=now
    )
    session.add(failure)
    return failure


def withdraw(failure_id: int) -> None:
    """Uncount one failure recorded before the password proved right."""
    session.execute(delete(LoginFailure).where(LoginFailure.id == failure_id))


def forget(username: str, address: str) -> None:
    """Clear the failures of this name from this address after a good login."""
    # Only the pair: clearing the name's or the address's failures would hand
    # an attacker elsewhere a fresh allowance each time the author logs in.
    session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == normalize_username(username),
            LoginFailure.address == address,
        )
    )


def _device_serializer() -> URLSafeSerializer:
    """Return the signer of the known-browser cookie."""
    secret_key = current_app.secret_key
    assert secret_key is not None  # create_app always sets one
    return URLSafeSerializer(secret_key, salt=_DEVICE_SALT)


def known_names() -> list[str]:
    """Return the user names that have logged in from this browser before."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return []
    try:
        names = _device_serializer().loads(raw)
    except BadSignature:
        return []
    if not isinstance(names, list):
        return []
    return [name for name in names if isinstance(name, str)]


def is_known_device(username: str) -> bool:
    """Tell whether ``username`` has logged in from this browser before."""
    return normalize_username(username) in known_names()


def remember_device(response: BaseResponse, username: str) -> None:
    """Mark this browser as one ``username`` logs in from."""
    name = normalize_username(username)
    names = [name] + [other for other in known_names() if other != name]
    config = current_app.config
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps(names[:_DEVICE_NAMES]),
        max_age=int(timedelta(days=365).total_seconds()),
        path="/admin",
        secure=config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
