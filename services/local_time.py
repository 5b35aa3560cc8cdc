"""A person's local time, from the country they are in, and the quiet hours nothing
scheduled may break (22:00–08:00 local): reminders, check-ins, family messages, broadcasts.

A country with one time zone has that one. A country with several has its capital's, named
in PRIMARY_ZONES (CLDR lists a country's zones in no useful order: its first for Mongolia is
Hovd's, for Ecuador the Galápagos'). Without a country: home (Tashkent), where the families
are.
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
# Every country CLDR gives several zones (tests/test_zone_and_batch_fixes.py checks none is
# missing): its capital's zone, where the government, embassies and consulates are and, in
# nearly all of them, most people live. Where a country has no capital, the zone of the most
# people.
PRIMARY_ZONES = {
    "AQ": "Antarctica/McMurdo",  # the largest station
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",  # Canberra's
    "BR": "America/Sao_Paulo",  # Brasília's
    "CA": "America/Toronto",  # Ottawa's
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "CY": "Asia/Nicosia",
    "DE": "Europe/Berlin",
    "EC": "America/Guayaquil",  # Quito's
    "ES": "Europe/Madrid",
    "FM": "Pacific/Pohnpei",  # Palikir's
    "GL": "America/Nuuk",
    "ID": "Asia/Jakarta",
    "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty",  # Astana's, and Almaty's, where most migrants from Uzbekistan work
    "MH": "Pacific/Majuro",
    "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",  # Wellington's
    "PF": "Pacific/Tahiti",  # Papeete's
    "PG": "Pacific/Port_Moresby",
    "PS": "Asia/Hebron",  # the West Bank's (Ramallah)
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UM": "Pacific/Wake",  # the island with the most people
    "US": "America/New_York",  # Washington's
    "UZ": HOME_ZONE,
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
