"""Dates and times as people read them: in the viewer's time zone, with the zone named.

Timestamps are stored in UTC (:class:`portal.models.base.UTCDateTime`); every page and email shows
them through one Jinja filter, ``when``, defined here: ``{{ ticket.created_at|when }}`` gives
"29 Nov 2026, 14:05 CET" to a person whose profile says Europe/Paris, and the same moment as
"29 Nov 2026, 08:05 EST" to one in America/New_York. Anyone not signed in, and anyone without a
zone in their profile, sees the portal's DEFAULT_TIME_ZONE (UTC unless configured).

A zone is an IANA name offered by :func:`zoneinfo.available_timezones` (the names of
:func:`zone_names`); anything else is refused where it is typed and ignored where it is stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from flask import Flask, current_app, has_app_context, has_request_context
from flask_login import current_user

#: Names in the time zone database that are not places: never offered, never accepted.
NOT_ZONES = frozenset({"Factory", "localtime", "posixrules", "posix", "right"})
DEFAULT_ZONE = "UTC"

#: ``when``'s styles: how much of the moment a place on a page needs.
STYLES = {
    "full": "{day} {month} {year}, {hour}:{minute} {zone}",  # 29 Nov 2026, 14:05 CET
    "short": "{day} {month}, {hour}:{minute} {zone}",  # 29 Nov, 14:05 CET (timelines, replies)
    "time": "{hour}:{minute} {zone}",  # 14:05 CET
    "seconds": "{hour}:{minute}:{second} {zone}",  # 14:05:09 CET ("updated at", a page that refreshes)
    "date": "{day} {month} {year}",  # 29 Nov 2026 (a day only: the zone would be noise)
    "day": "{weekday} {day} {month}",  # Sun 29 Nov (rows of a day-by-day table)
}
DATE_STYLES = ("date", "day")  # what a date without a time can be shown as

_VIEWER = object()  # ``when``'s default zone: the person looking at the page


@cache
def zone_names() -> tuple[str, ...]:
    """Every time zone a person may choose, sorted (from the zoneinfo database, read once)."""
    return tuple(sorted(z for z in available_timezones() if z not in NOT_ZONES))


@cache
def _zone_set() -> frozenset[str]:
    return frozenset(zone_names())


def valid_zone(name: object) -> str | None:
    """`name` if it is a time zone a person may choose (e.g. "Europe/Paris"), else None."""
    if not isinstance(name, str):
        return None
    name = name.strip()
    return name if name in _zone_set() else None


def default_zone() -> str:
    """The portal's zone (DEFAULT_TIME_ZONE) for people without one of their own."""
    configured = current_app.config.get("DEFAULT_TIME_ZONE") if has_app_context() else None
    return valid_zone(configured) or DEFAULT_ZONE


def viewer_zone() -> str:
    """The zone the current viewer reads times in: their profile's, or the portal's default."""
    if has_request_context() and current_user and current_user.is_authenticated:
        own = valid_zone(getattr(current_user, "time_zone", None))
        if own:
            return own
    return default_zone()


def zone_of(person) -> str:
    """The zone a given person reads times in (for an email to them): theirs, or the portal's default."""
    return valid_zone(getattr(person, "time_zone", None)) or default_zone()


def _as_utc(value) -> datetime | None:
    """A stored moment as an aware UTC datetime; ISO strings (walk transcripts) and naive values (UTC) too."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def zone_label(moment: datetime) -> str:
    """The zone's short name at that moment: "CET", "EDT", "UTC"; where it has none, its offset ("UTC+4")."""
    name = moment.tzname() or ""
    if name.isalpha():
        return name
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def when(value, style: str = "full", zone=_VIEWER) -> str:
    """Jinja's ``|when``: a moment in the viewer's zone (or `zone`), with the zone named.

    `style` is one of :data:`STYLES`, or "iso" for a ``<time datetime>`` attribute (UTC). A date
    (no time of day, e.g. a row of a day-by-day table) is shown as it is, in "date" or "day" style.
    `zone` is a zone name for someone else than the viewer (an email's recipient); None there
    means the portal's default.
    """
    if isinstance(value, date) and not isinstance(value, datetime):  # a day, as it is: no zone to convert
        if style == "iso":
            return value.isoformat()
        return STYLES[style if style in DATE_STYLES else "date"].format(
            weekday=f"{value:%a}", day=value.day, month=f"{value:%b}", year=value.year)
    moment = _as_utc(value)
    if moment is None:
        return ""
    if style == "iso":
        return moment.isoformat()
    name = viewer_zone() if zone is _VIEWER else (valid_zone(zone) or default_zone())
    local = moment.astimezone(ZoneInfo(name))
    return STYLES.get(style, STYLES["full"]).format(
        weekday=f"{local:%a}", day=local.day, month=f"{local:%b}", year=local.year,
        hour=f"{local:%H}", minute=f"{local:%M}", second=f"{local:%S}", zone=zone_label(local))


def requester_zone(ticket) -> str | None:
    """Where the ticket's requester is: their account's zone, else the one their browser gave when it opened."""
    requester = getattr(ticket, "requester", None)
    return valid_zone(getattr(requester, "time_zone", None)) or valid_zone(getattr(ticket, "requester_time_zone", None))


def local_time(zone: str, now: datetime) -> str:
    """The time of day in `zone` as a technician asks for it: "09:12, Mon 30 Nov (America/New_York)"."""
    local = _as_utc(now).astimezone(ZoneInfo(zone))
    return f"{local:%H:%M}, {local:%a} {local.day} {local:%b} ({zone})"


def init_app(app: Flask) -> None:
    """Check DEFAULT_TIME_ZONE and give templates ``|when``, ``viewer_zone()`` and ``requester_zone()``."""
    configured = app.config.get("DEFAULT_TIME_ZONE") or DEFAULT_ZONE
    if valid_zone(configured) is None:
        raise RuntimeError(f"DEFAULT_TIME_ZONE={configured!r} is not a time zone: use an IANA name such as "
                           "Europe/Paris or America/New_York (README, Configuration).")
    app.add_template_filter(when, "when")
    app.add_template_global(viewer_zone, "viewer_zone")
    app.add_template_global(requester_zone, "requester_zone")
    app.add_template_global(local_time, "local_time")
