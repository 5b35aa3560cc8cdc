"""A person's local time, from the country they are in, and the quiet hours nothing
scheduled may break (22:00–08:00 local): reminders, check-ins, family messages, broadcasts.

A country with one time zone has that one. For countries with several, the zone where most
migrants from Uzbekistan live and work (Moscow for Russia, Almaty for Kazakhstan) or the
capital's; any other multi-zone country gets its first listed zone. Without a country: home
(Tashkent), where the families are.
"""

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import get_global

HOME_ZONE = "Asia/Tashkent"
QUIET_FROM = time(22, 0)
QUIET_UNTIL = time(8, 0)
# How far into the quiet hours something scheduled before them may still go out (a claim
# behind a broadcast, a retry a minute late); later it waits for the morning.
LATE_GRACE = timedelta(minutes=15)
# Countries with several zones: the one that fits most people we serve there.
PRIMARY_ZONES = {
    "UZ": HOME_ZONE,
    "RU": "Europe/Moscow",
    "KZ": "Asia/Almaty",
    "US": "America/New_York",
    "CA": "America/Toronto",
    "DE": "Europe/Berlin",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CN": "Asia/Shanghai",
    "ID": "Asia/Jakarta",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "UA": "Europe/Kyiv",
}


@cache
def zone_of(country: str | None) -> tzinfo:
    """The time zone used for a person in `country` (ISO 3166 alpha-2)."""
    code = (country or "").upper()
    names = [PRIMARY_ZONES[code]] if code in PRIMARY_ZONES else []
    names += list(get_global("territory_zones").get(code, ()))
    for name in [*names, HOME_ZONE]:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return UTC


def zone_name(zone: tzinfo) -> str:
    """What names `zone` for zone_named (an IANA name, or "UTC")."""
    return getattr(zone, "key", None) or "UTC"


@cache
def zone_named(name: str) -> tzinfo:
    """The zone zone_name named; UTC for a name this system does not know (any more)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def held_for_the_morning(now: datetime, zone: tzinfo) -> datetime | None:
    """When something scheduled that is going out late at `now` (an outage, a restart) may
    go: None for now, unless it is more than LATE_GRACE into the quiet hours where the
    person is; then the next 08:00 there."""
    if not is_quiet(now, zone) or not is_quiet(now - LATE_GRACE, zone):
        return None
    return next_allowed(now, zone)


def local(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(zone)


def is_quiet(moment: datetime, zone: tzinfo) -> bool:
    """Whether it is between 22:00 and 08:00 where the person is."""
    clock = local(moment, zone).time()
    return clock >= QUIET_FROM or clock < QUIET_UNTIL


def next_allowed(moment: datetime, zone: tzinfo) -> datetime:
    """`moment` itself outside the quiet hours, else the next 08:00 local (in UTC)."""
    if not is_quiet(moment, zone):
        return moment
    here = local(moment, zone)
    day = here.date() if here.time() < QUIET_UNTIL else here.date() + timedelta(days=1)
    return at_local(day, QUIET_UNTIL, zone)


def at_local(day: date, clock: time, zone: tzinfo) -> datetime:
    """A local wall-clock time on a day, as an aware UTC datetime. A time skipped by a
    daylight-saving change is moved forward; a repeated one takes its first occurrence."""
    moment = datetime.combine(day, clock, tzinfo=zone)
    round_trip = moment.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != moment.replace(tzinfo=None):  # skipped (spring)
        moment = datetime.combine(day, clock, tzinfo=zone) + timedelta(hours=1)
    return moment.astimezone(UTC)


def local_date(moment: datetime, zone: tzinfo) -> date:
    return local(moment, zone).date()
