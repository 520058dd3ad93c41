"""The site's time zone: readers see dates in it, authors type them in it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

DEFAULT_ZONE = "UTC"


def zone_problem(name: object) -> str | None:
    """Return what is wrong with ``name`` as the site's time zone, or None."""
    if not isinstance(name, str) or not name:
        return "SITE_TIMEZONE must be an IANA time zone name, such as Europe/Berlin."
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return (
            f"SITE_TIMEZONE {name!r} is no time zone this system knows: use an IANA "
            "name such as Europe/Berlin or UTC (is the tzdata package installed?)."
        )
    return None


def zone_name() -> str:
    """Return the name of the site's time zone."""
    return current_app.config.get("SITE_TIMEZONE") or DEFAULT_ZONE


def site_zone() -> ZoneInfo:
    """Return the site's time zone."""
    return ZoneInfo(zone_name())


def local(moment: datetime) -> datetime:
    """Return ``moment`` (aware, or naive UTC) in the site's time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(site_zone())


def from_local(wall: datetime) -> datetime:
    """Return the UTC moment of a naive wall-clock time in the site's time zone.

    A time that a clock change skips or repeats is read as the clocks showed
    it before the change (``fold=0``), as most calendars do.
    """
    return wall.replace(tzinfo=site_zone()).astimezone(UTC)


def format_moment(moment: datetime) -> str:
    """Format a moment for the author, e.g. "5 March 2026, 14:30 (Europe/Berlin)"."""
    shown = local(moment)
    return f"{shown.day} {shown:%B %Y, %H:%M} ({zone_name()})"


def format_short(moment: datetime) -> str:
    """Format a moment briefly in the site's time zone, e.g. "2026-03-05 14:30"."""
    return f"{local(moment):%Y-%m-%d %H:%M}"
