"""Seasons: names, boundaries in UTC, the previous season, and what a command may ask for."""

from __future__ import annotations

import datetime

import pytest

from bot.engine.seasons import (
    InvalidSeason,
    Season,
    SeasonLength,
    parse_season,
    season_length,
)
from bot.engine.server_settings import SEASON, InvalidSetting, ServerRules, ServerSettings

MONTH, QUARTER = SeasonLength.MONTH, SeasonLength.QUARTER


def at(*parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()


NOW = at(2026, 12, 4, 17, 0)


def test_names_of_months_and_quarters():
    assert Season.of(NOW).name == "2026-12"
    assert Season.of(NOW, QUARTER).name == "2026-Q4"
    assert Season.of(at(2026, 1, 1)).name == "2026-01"
    assert [Season.of(at(2026, month, 15), QUARTER).name for month in (1, 3, 4, 6, 7, 9, 10)] == [
        "2026-Q1",
        "2026-Q1",
        "2026-Q2",
        "2026-Q2",
        "2026-Q3",
        "2026-Q3",
        "2026-Q4",
    ]
    assert str(Season(2027, 2)) == "2027-02"


def test_a_season_runs_from_its_first_moment_to_the_next_seasons_first_moment():
    december = Season(2026, 12)
    assert december.start == at(2026, 12, 1)
    assert december.end == at(2027, 1, 1) == december.next.start
    q1 = Season(2027, 1, QUARTER)
    assert (q1.start, q1.end) == (at(2027, 1, 1), at(2027, 4, 1))
    assert at(2026, 12, 31, 23, 59, 59) in december
    assert at(2027, 1, 1) not in december and at(2026, 12, 1) in december
    # February of a leap year.
    assert Season(2028, 2).end - Season(2028, 2).start == 29 * 86_400


def test_the_previous_season_crosses_years():
    assert Season(2027, 1).previous == Season(2026, 12)
    assert Season(2027, 1, QUARTER).previous == Season(2026, 4, QUARTER)
    assert Season(2026, 6).previous.previous == Season(2026, 4)
    assert Season(2026, 12).next == Season(2027, 1)


def test_a_battle_counts_in_the_season_in_which_it_started():
    started = at(2026, 12, 31, 23, 58)
    vote_closed = at(2027, 1, 1, 0, 0, 30)  # just after midnight on the last day of the month
    assert Season.of(started).name == "2026-12"
    assert Season.of(vote_closed).name == "2027-01"
    assert started in Season(2026, 12) and started not in Season(2027, 1)
    assert Season.of(started, QUARTER).name == "2026-Q4"


def test_parsing_what_a_command_asks_for():
    assert parse_season(None, MONTH, NOW) == Season(2026, 12)
    assert parse_season("current", MONTH, NOW) == Season(2026, 12)
    assert parse_season(" Previous ", MONTH, NOW) == Season(2026, 11)
    assert parse_season("previous", QUARTER, NOW) == Season(2026, 3, QUARTER)
    assert parse_season("all", MONTH, NOW) is None
    assert parse_season("2026-03", MONTH, NOW) == Season(2026, 3)
    assert parse_season("2026-3", MONTH, NOW) == Season(2026, 3)
    assert parse_season("2026-q2", QUARTER, NOW) == Season(2026, 2, QUARTER)
    assert parse_season("2026-Q4", QUARTER, NOW) == Season(2026, 4, QUARTER)
    # Seasons off: all time, whatever is left out.
    assert parse_season(None, None, NOW) is None
    assert parse_season("ALL", None, NOW) is None


@pytest.mark.parametrize(
    ("text", "length", "message"),
    [
        ("2026-13", MONTH, "is not a season"),
        ("2026-00", MONTH, "is not a season"),
        ("2026-Q5", QUARTER, "is not a season"),
        ("spring", MONTH, "give current, previous, all, or a name such as 2026-12"),
        ("spring", QUARTER, "such as 2026-Q4"),
        ("2026-Q4", MONTH, "These seasons are months: name one such as 2026-12"),
        ("2026-12", QUARTER, "These seasons are quarters"),
        ("2027-01", MONTH, "Season 2027-01 has not started yet"),
        ("1969-12", MONTH, "is not a season"),
        ("current", None, "Seasons are off here"),
        ("2026-12", None, "Seasons are off here"),
    ],
)
def test_bad_names_are_refused_clearly(text, length, message):
    with pytest.raises(InvalidSeason, match=message):
        parse_season(text, length, NOW)


def test_a_long_name_is_cut_in_the_message():
    with pytest.raises(InvalidSeason) as refused:
        parse_season("x" * 500, MONTH, NOW)
    assert len(str(refused.value)) < 200


def test_the_season_setting():
    assert ServerRules.defaults()[SEASON] == "off"
    assert season_length("off") is None and season_length(None) is None
    assert season_length("quarter") is QUARTER
    assert SEASON.parse("Month") == "month"
    with pytest.raises(InvalidSetting, match="give one of off, month, quarter"):
        SEASON.parse("weekly")
    # Off is the default: choosing it changes nothing, and the column stays empty.
    assert ServerSettings(season="off").to_row() == ServerSettings().to_row()
    chosen = ServerSettings().changed(season="quarter")
    assert ServerSettings.from_row(chosen.to_row()).chosen(SEASON) == "quarter"
    assert SEASON.show("month") == "every month (UTC)" and SEASON.show("off") == "off"
