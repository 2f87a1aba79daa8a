"""The vote audit's rules: set-aside reasons, the daily cap, and the outlier test's exact
binomial tail against known values."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from bot.engine.battle import Side
from bot.engine.discord_limits import DISCORD_EPOCH_MS
from bot.engine.vote_audit import (
    MIN_PICKS_FOR_OUTLIER_TEST,
    Agreement,
    SetAsideReason,
    SetAsideVote,
    VotePick,
    VoteRules,
    agreement_by_voter,
    audit_votes,
    binomial_cdf,
    check_voter,
    flagged_voters,
    outlier_test,
    server_rate,
    set_aside_note,
)
from bot.engine.votes import Tally, Voter, tally
from bot.services.battles.audit_lines import paged

NOW = 1_800_000_000.0
DAY = 86_400


def account_made(days_ago: float) -> int:
    """A Discord id whose account was made ``days_ago`` before NOW."""
    return (int((NOW - days_ago * DAY) * 1000) - DISCORD_EPOCH_MS) << 22


# Exact values, P(X <= k) for X ~ Binomial(n, p), from the sum of C(n, i) p^i (1-p)^(n-i) in
# rationals: 211/2^20; 17192497/5^20 (= 17192497/95367431640625); 1/4^20; 4781617/3^28.
KNOWN_TAILS = [
    (2, 20, 0.5, 211 / 2**20),
    (5, 20, 0.8, 17192497 / 95367431640625),
    (0, 20, 0.75, 1 / 4**20),
    (6, 30, 2 / 3, 4781617 / 3**28),
    (10, 100, 0.5, 1.5316450877189926e-17),  # scipy.stats.binom.cdf(10, 100, 0.5)
    (400, 1000, 0.5, 1.3642320780330092e-10),  # scipy.stats.binom.cdf(400, 1000, 0.5)
]


@pytest.mark.parametrize(("k", "n", "p", "expected"), KNOWN_TAILS)
def test_the_binomial_tail_matches_known_values(k, n, p, expected):
    assert binomial_cdf(k, n, p) == pytest.approx(expected, rel=1e-11)


def test_the_binomial_tail_matches_exact_rationals_on_a_grid():
    for n in (1, 7, 20, 33):
        for p in (Fraction(1, 10), Fraction(1, 2), Fraction(9, 10)):
            for k in range(n + 1):
                exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
                assert binomial_cdf(k, n, float(p)) == pytest.approx(float(exact), rel=1e-11)


def test_the_binomial_tail_at_its_edges():
    assert binomial_cdf(-1, 10, 0.5) == 0.0
    assert binomial_cdf(10, 10, 0.5) == 1.0
    assert binomial_cdf(3, 10, 0.0) == 1.0
    assert binomial_cdf(3, 10, 1.0) == 0.0
    assert binomial_cdf(0, 5000, 0.9) == 0.0  # underflows to zero only at the very end
    assert binomial_cdf(4500, 5000, 0.9) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError):
        binomial_cdf(1, 2, 1.5)


def test_bots_and_both_emoji_are_set_aside_with_their_reason_and_the_bot_itself_is_not():
    counted = tally(
        {
            Side.A: [Voter(1), Voter(2), Voter(50, is_bot=True), Voter(99, True, is_self=True)],
            Side.B: [Voter(2), Voter(3), Voter(99, True, is_self=True)],
        }
    )
    assert counted == Tally({1: Side.A, 3: Side.B})
    assert counted.bots == {50: Side.A} and counted.both_sides == {2}
    audited = audit_votes(counted, NOW, VoteRules(), {})
    assert audited.tally == Tally({1: Side.A, 3: Side.B})
    assert set(audited.set_aside_votes) == {
        SetAsideVote(50, Side.A, SetAsideReason.BOT),
        SetAsideVote(2, None, SetAsideReason.BOTH_SIDES),
    }
    assert audited.set_aside == 0  # counting's own rules, not the server's
    assert set_aside_note(audited, VoteRules()) is None


def test_the_daily_cap_sets_aside_votes_past_it_and_exclusion_comes_last():
    veteran, capped, fresh, excluded = (account_made(d) for d in (400, 300, 1, 200))
    ballots = {veteran: Side.A, capped: Side.A, fresh: Side.B, excluded: Side.B}
    rules = VoteRules(min_age_days=3, daily_cap=5, excluded=frozenset({excluded}))
    counted_today = {veteran: 4, capped: 5, excluded: 1}
    audited = audit_votes(Tally(ballots), NOW, rules, counted_today)
    assert audited.tally == Tally({veteran: Side.A})
    reasons = {vote.user_id: vote.reason for vote in audited.set_aside_votes}
    assert reasons == {
        capped: SetAsideReason.DAILY_CAP,
        fresh: SetAsideReason.ACCOUNT_AGE,
        excluded: SetAsideReason.EXCLUDED,
    }
    assert audited.set_aside == 3
    assert set_aside_note(audited, rules) == (
        "3 votes were set aside: 1 from accounts younger than 3 days, "
        "1 past the daily cap of 5 votes a member, 1 by this server's admins."
    )


def test_an_excluded_member_is_set_aside_for_the_other_rules_first():
    fresh, capped = account_made(1), account_made(50)
    rules = VoteRules(min_age_days=3, daily_cap=2, excluded=frozenset({fresh, capped}))
    audited = audit_votes(Tally({fresh: Side.A, capped: Side.B}), NOW, rules, {capped: 2})
    reasons = {vote.user_id: vote.reason for vote in audited.set_aside_votes}
    # /battle-voter include must not count these: they never counted on their own.
    assert reasons == {fresh: SetAsideReason.ACCOUNT_AGE, capped: SetAsideReason.DAILY_CAP}


def test_no_cap_means_no_cap_and_fresh_accounts_alone_keep_their_line():
    member = account_made(100)
    assert audit_votes(Tally({member: Side.A}), NOW, VoteRules(), {member: 500}).set_aside == 0
    fresh = account_made(0.5)
    audited = audit_votes(Tally({fresh: Side.A}), NOW, VoteRules(min_age_days=2), {})
    assert set_aside_note(audited, VoteRules(min_age_days=2)) == (
        "1 vote was set aside: this server counts votes from accounts at least 2 days old."
    )


def pick(user: int, side: Side | None, a: int, b: int, reason=None, battle: int = 1) -> VotePick:
    return VotePick(battle, user, side, reason, a, b)


def test_a_pick_is_compared_with_the_rest_of_the_crowd_not_with_itself():
    assert pick(1, Side.A, 1, 0).agrees() is None  # alone: nobody else decided
    assert pick(1, Side.A, 2, 1).agrees() is None  # without it, 1-1
    assert pick(1, Side.A, 3, 1).agrees() is True
    assert pick(1, Side.B, 3, 2).agrees() is False
    # Set aside: the counted votes are all the others'.
    assert pick(1, Side.B, 3, 2, SetAsideReason.DAILY_CAP).agrees() is False
    assert pick(1, Side.A, 3, 2, SetAsideReason.EXCLUDED).agrees() is True
    assert pick(1, None, 3, 2, SetAsideReason.BOTH_SIDES).agrees() is None
    assert pick(1, Side.A, 3, 2, SetAsideReason.BOT).agrees() is None


def test_agreement_and_the_smoothed_server_rate():
    picks = [
        pick(1, Side.A, 3, 1),
        pick(1, Side.B, 3, 1),
        pick(2, Side.A, 3, 1),
        pick(3, None, 0, 0),
    ]
    by_voter = agreement_by_voter(picks)
    assert by_voter == {1: Agreement(2, 1), 2: Agreement(1, 1)}
    assert by_voter[1].rate == 0.5
    assert server_rate(by_voter) == (2 + 1) / (3 + 2)
    assert server_rate(by_voter, leaving_out=1) == (1 + 1) / (1 + 2)
    assert server_rate({}) == 0.5


def test_the_outlier_test_needs_twenty_picks_and_flags_only_below_one_in_a_thousand():
    assert MIN_PICKS_FOR_OUTLIER_TEST == 20
    untested = outlier_test(Agreement(19, 0), 0.8)
    assert untested.p_value is None and not untested.flagged
    # 20 picks, 5 agreements, against a server agreeing 80% of the time: p = 1.8e-7.
    flagged = outlier_test(Agreement(20, 5), 0.8)
    assert flagged.p_value == pytest.approx(17192497 / 95367431640625, rel=1e-11)
    assert flagged.flagged
    # 20 picks, 12 agreements at 80%: p = 0.032, unusual but not past the bar.
    assert not outlier_test(Agreement(20, 12), 0.8).flagged
    # Agreeing more than the server never flags (the test is one-sided).
    assert not outlier_test(Agreement(40, 40), 0.5).flagged


def test_flagged_voters_are_tested_against_everyone_else():
    by_voter = {user: Agreement(50, 45) for user in range(1, 11)}
    by_voter[66] = Agreement(24, 4)
    by_voter[67] = Agreement(10, 0)  # contrarian, but too few picks to say
    flagged = flagged_voters(by_voter)
    assert list(flagged) == [66]
    assert flagged[66].server_rate == pytest.approx((450 + 1) / (500 + 10 + 2))
    assert not check_voter(by_voter, 1).flagged


def test_long_audits_page_with_the_head_on_every_page():
    lines = [f"<@{user}> · a line" for user in range(45)]
    pages = paged(["head"], lines, per_page=20)
    assert len(pages) == 3 and all(page.startswith("head\n\n") for page in pages)
    assert pages[2].endswith("<@44> · a line") and pages[1].count("\n") == 21
    wide = paged(["head"], ["x" * 1000] * 9)  # within an embed's 4,096 characters a page
    assert len(wide) == 3 and all(len(page) <= 4096 for page in wide)
