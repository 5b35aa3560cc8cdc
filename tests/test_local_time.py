"""Local time and quiet hours: what reminders, check-ins and broadcasts are scheduled by."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from services.local_time import at_local, is_quiet, next_allowed, zone_of


def test_the_zone_is_the_countrys_or_the_one_most_people_live_in() -> None:
    assert zone_of("TR") == ZoneInfo("Europe/Istanbul")
    assert zone_of("ru") == ZoneInfo("Europe/Moscow")
    assert zone_of("KZ") == ZoneInfo("Asia/Almaty")
    assert zone_of(None) == ZoneInfo("Asia/Tashkent")
    assert zone_of("XX") == ZoneInfo("Asia/Tashkent")  # unknown: home


def test_quiet_hours_are_from_ten_at_night_to_eight_in_the_morning_local() -> None:
    seoul = zone_of("KR")  # UTC+9
    assert is_quiet(datetime(2026, 12, 1, 13, 0, tzinfo=UTC), seoul)  # 22:00 in Seoul
    assert is_quiet(datetime(2026, 12, 1, 22, 59, tzinfo=UTC), seoul)  # 07:59
    assert not is_quiet(datetime(2026, 12, 1, 23, 0, tzinfo=UTC), seoul)  # 08:00
    assert not is_quiet(datetime(2026, 12, 1, 12, 59, tzinfo=UTC), seoul)  # 21:59


def test_a_quiet_moment_moves_to_the_next_morning_and_a_day_time_stays() -> None:
    moscow = zone_of("RU")  # UTC+3
    evening = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
    assert next_allowed(evening, moscow) == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    night = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 04:00 in Moscow, the same morning
    assert next_allowed(night, moscow) == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    noon = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert next_allowed(noon, moscow) == noon


def test_local_wall_clock_times_survive_daylight_saving_changes() -> None:
    berlin = zone_of("DE")
    assert at_local(date(2026, 7, 1), time(9, 0), berlin) == datetime(2026, 7, 1, 7, tzinfo=UTC)
    assert at_local(date(2026, 12, 1), time(9, 0), berlin) == datetime(2026, 12, 1, 8, tzinfo=UTC)
    # 02:30 does not exist on 29 March 2026 in Berlin: the clock jumps from 02:00 to 03:00.
    skipped = at_local(date(2026, 3, 29), time(2, 30), berlin)
    assert skipped == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 local
