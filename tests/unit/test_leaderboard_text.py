"""Leaderboard lines, pages and rating changes as people read them."""

from bot.engine.discord_limits import EMBED_DESCRIPTION_CHARS
from bot.engine.leaderboard import (
    ROWS_PER_PAGE,
    ModelRecord,
    pages,
    rating_changes,
    standing_line,
    standings,
)
from bot.engine.ratings import fit_ratings


def test_standings_carry_rank_rating_interval_and_record():
    ratings = fit_ratings([("m/a", "m/b", 1.0)] * 30 + [("m/a", "m/b", 0.0)] * 10)
    rows = standings(ratings, {"m/a": ModelRecord(30, 10, 0, 40, 400)})
    assert [row.model for row in rows] == ["m/a", "m/b"]
    assert rows[0].rank == 1 and rows[1].record == ModelRecord()
    line = standing_line(rows[0])
    assert line.startswith("`#1  ` **m/a** ")
    assert "±" in line and line.endswith("30-10-0 · 40 battles · 400 votes")


def test_overlapping_intervals_share_a_rank():
    ratings = fit_ratings([("m/a", "m/b", 0.6), ("m/a", "m/b", 0.4)])
    assert {row.rank for row in standings(ratings, {})} == {1}


def test_pages_hold_ten_rows_and_stay_inside_embed_limits():
    outcomes = [
        (f"vendor/model-{i:03d}-" + "x" * 80, f"vendor/model-{i + 1:03d}-" + "x" * 80, 0.7)
        for i in range(34)
    ]
    texts = pages(standings(fit_ratings(outcomes), {}))
    assert len(texts) == 4
    assert [len(t.splitlines()) for t in texts] == [ROWS_PER_PAGE] * 3 + [5]
    assert all(len(t) <= EMBED_DESCRIPTION_CHARS for t in texts)
    assert pages([]) == ["No rated battles yet. Start one with `/battle`!"]


def test_rating_changes_say_new_or_by_how_much():
    before = standings(fit_ratings([("m/a", "m/b", 1.0)]), {})
    after = standings(fit_ratings([("m/a", "m/b", 1.0), ("m/a", "m/c", 0.0)]), {})
    changes = {c.model: c for c in rating_changes(["m/a", "m/c"], before, after)}
    assert changes["m/c"].line().startswith("**m/c** ") and "(new)" in changes["m/c"].line()
    assert changes["m/a"].after < changes["m/a"].before
    assert "(-" in changes["m/a"].line() and "rank #" in changes["m/a"].line()
