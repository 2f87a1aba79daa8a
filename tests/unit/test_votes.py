"""Vote counting rules."""

from bot.engine.battle import Side
from bot.engine.votes import DEFAULT_EMOJI, LiveTally, Voter, side_for_emoji, tally


def test_bots_never_count_and_double_voters_count_for_neither():
    result = tally(
        {
            Side.A: [Voter(1), Voter(2), Voter(3), Voter(99, is_bot=True)],
            Side.B: [Voter(3), Voter(4), Voter(98, is_bot=True)],
        }
    )
    assert (result.votes(Side.A), result.votes(Side.B), result.total) == (2, 1, 3)
    assert result.winner is Side.A
    assert result.score_a() == 2 / 3


def test_draw_and_no_votes():
    assert tally({Side.A: [Voter(1)], Side.B: [Voter(2)]}).winner is None
    empty = tally({Side.A: [], Side.B: []})
    assert empty.winner is None and empty.total == 0 and empty.score_a() is None


def test_live_tally_follows_adds_and_removes():
    live = LiveTally()
    live.add(Side.A, Voter(1))
    live.add(Side.B, Voter(1))
    live.add(Side.B, Voter(2))
    live.add(Side.A, Voter(3, is_bot=True))
    assert (live.current().votes(Side.A), live.current().votes(Side.B)) == (0, 1)
    live.remove(Side.B, 1)
    assert (live.current().votes(Side.A), live.current().votes(Side.B)) == (1, 1)


def test_emoji_match_ignores_variation_selectors():
    assert side_for_emoji("🅰", DEFAULT_EMOJI) is Side.A
    assert side_for_emoji("🅱️", DEFAULT_EMOJI) is Side.B
    assert side_for_emoji("🔥", DEFAULT_EMOJI) is None
