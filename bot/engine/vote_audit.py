"""The vote audit's rules: which votes are set aside and why, and which voters are outliers.

A vote is set aside, never silently dropped: the audit keeps who reacted and why their reaction
did not count (a bot, both emoji, a voter the server's admins excluded, an account younger than
the server allows, or past the member's daily cap), so ``/battle-audit`` can show it.

Outlier voters follow Chatbot Arena's anomalous-user detection: a member whose picks disagree
with the crowd far more often than chance allows is flagged, by a one-sided binomial test of
their agreements against the server's agreement rate. A flag is a sign for the admins to look,
not a verdict: it removes no vote (``/battle-voter exclude`` does that).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.engine.battle import Side
from bot.engine.house_rules import is_fresh, set_aside_line
from bot.engine.votes import Tally

# A member is tested only with this many comparable picks: fewer say too little either way.
MIN_PICKS_FOR_OUTLIER_TEST = 20
# The one-sided p-value under which a member is flagged: one honest member in a thousand.
OUTLIER_P_VALUE = 0.001


class SetAsideReason(enum.Enum):
    """Why a reaction on a vote did not count; the value is what the store keeps."""

    BOT = "bot"
    BOTH_SIDES = "both_sides"
    EXCLUDED = "excluded"
    ACCOUNT_AGE = "account_age"
    DAILY_CAP = "daily_cap"

    @property
    def label(self) -> str:
        return _REASON_LABELS[self]

    @property
    def is_house_rule(self) -> bool:
        """A rule of this server's (not of counting itself): what a battle's results mention
        and its ``votes_set_aside`` counts."""
        return self in _HOUSE_RULES


_REASON_LABELS = {
    SetAsideReason.BOT: "a bot",
    SetAsideReason.BOTH_SIDES: "reacted with both emoji",
    SetAsideReason.EXCLUDED: "excluded by the admins",
    SetAsideReason.ACCOUNT_AGE: "account too new",
    SetAsideReason.DAILY_CAP: "past the daily cap",
}
_HOUSE_RULES = frozenset(
    {SetAsideReason.EXCLUDED, SetAsideReason.ACCOUNT_AGE, SetAsideReason.DAILY_CAP}
)


@dataclass(frozen=True, slots=True)
class SetAsideVote:
    """One reaction that did not count: whose, for which side (None: both), and why."""

    user_id: int
    side: Side | None
    reason: SetAsideReason


@dataclass(frozen=True, slots=True)
class VoteRules:
    """The server's rules for counting a vote: the minimum account age in days (0: any), each
    member's daily cap (0: none) and the members whose votes its admins set aside."""

    min_age_days: float = 0
    daily_cap: int = 0
    excluded: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class AuditedVotes:
    """A vote after the audit: the ballots that count, and every reaction set aside."""

    tally: Tally
    set_aside_votes: tuple[SetAsideVote, ...] = ()

    @property
    def set_aside(self) -> int:
        """Votes the server's rules set aside (bots and both emoji never counted anyway)."""
        return sum(1 for vote in self.set_aside_votes if vote.reason.is_house_rule)

    def count(self, reason: SetAsideReason) -> int:
        return sum(1 for vote in self.set_aside_votes if vote.reason is reason)

    def by_reason(self) -> dict[str, int]:
        """How many reactions were set aside for each reason (the store's names), every
        reason listed (for metrics, whose label values are these names)."""
        return {reason.value: self.count(reason) for reason in SetAsideReason}


def audit_votes(
    tally: Tally, now: float, rules: VoteRules, counted_today: Mapping[int, int]
) -> AuditedVotes:
    """The vote with the server's rules applied, in this order: an account younger than
    ``rules.min_age_days`` at ``now``, a member who already has ``rules.daily_cap`` votes
    counted today (``counted_today``: their counted votes on this server since the UTC day
    began, before this one), then a member the admins excluded."""
    set_aside = [SetAsideVote(user, side, SetAsideReason.BOT) for user, side in tally.bots.items()]
    set_aside += [
        SetAsideVote(user, None, SetAsideReason.BOTH_SIDES) for user in sorted(tally.both_sides)
    ]
    kept: dict[int, Side] = {}
    for user, side in tally.ballots.items():
        reason = _house_rule_against(user, now, rules, counted_today)
        if reason is None:
            kept[user] = side
        else:
            set_aside.append(SetAsideVote(user, side, reason))
    return AuditedVotes(Tally(kept), tuple(set_aside))


def _house_rule_against(
    user: int, now: float, rules: VoteRules, counted_today: Mapping[int, int]
) -> SetAsideReason | None:
    if is_fresh(user, now, rules.min_age_days):
        return SetAsideReason.ACCOUNT_AGE
    if rules.daily_cap and counted_today.get(user, 0) >= rules.daily_cap:
        return SetAsideReason.DAILY_CAP
    # Last: /battle-voter include counts again exactly what the exclusion alone set aside.
    if user in rules.excluded:
        return SetAsideReason.EXCLUDED
    return None


def set_aside_note(audited: AuditedVotes, rules: VoteRules) -> str | None:
    """What the results say about the votes the server's rules set aside (None: none were).
    Nobody is named: the audit is for the admins."""
    total = audited.set_aside
    if not total:
        return None
    fresh = audited.count(SetAsideReason.ACCOUNT_AGE)
    if fresh == total:
        return set_aside_line(total, rules.min_age_days or None)
    parts = []
    if fresh:
        days = "1 day" if rules.min_age_days == 1 else f"{rules.min_age_days:g} days"
        parts.append(f"{fresh} from accounts younger than {days}")
    if capped := audited.count(SetAsideReason.DAILY_CAP):
        cap = "1 vote" if rules.daily_cap == 1 else f"{rules.daily_cap} votes"
        parts.append(f"{capped} past the daily cap of {cap} a member")
    if excluded := audited.count(SetAsideReason.EXCLUDED):
        parts.append(f"{excluded} by this server's admins")
    votes = "1 vote was" if total == 1 else f"{total} votes were"
    return f"{votes} set aside: {', '.join(parts)}."


# -- outlier voters --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VotePick:
    """A member's reaction on a closed vote, as the audit reads it back: their side (None: both
    emoji), why it was set aside (None: it counted), and the battle's counted votes."""

    battle_id: int
    user_id: int
    side: Side | None
    reason: SetAsideReason | None
    votes_a: int
    votes_b: int
    model_a: str = ""
    model_b: str = ""

    @property
    def counted(self) -> bool:
        return self.reason is None

    def others_result(self) -> Side | None:
        """What the rest of the crowd decided: the counted votes without this pick's own (when
        it counted), so that a member is never measured against themselves. None: a draw."""
        a, b = self.votes_a, self.votes_b
        if self.counted and self.side is Side.A:
            a -= 1
        elif self.counted and self.side is Side.B:
            b -= 1
        if a == b:
            return None
        return Side.A if a > b else Side.B

    def agrees(self) -> bool | None:
        """Whether the pick went the crowd's way; None when it cannot be compared (no single
        side, a bot, or the rest of the crowd drew)."""
        if self.side is None or self.reason is SetAsideReason.BOT:
            return None
        result = self.others_result()
        return None if result is None else result is self.side


@dataclass(frozen=True, slots=True)
class Agreement:
    """How often a member's (or a server's) comparable picks went the crowd's way."""

    picks: int = 0
    agreed: int = 0

    @property
    def rate(self) -> float | None:
        return self.agreed / self.picks if self.picks else None

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(self.picks + other.picks, self.agreed + other.agreed)

    def __sub__(self, other: Agreement) -> Agreement:
        return Agreement(self.picks - other.picks, self.agreed - other.agreed)


def agreement_by_voter(picks: Iterable[VotePick]) -> dict[int, Agreement]:
    """Each member's agreement over their comparable picks."""
    found: dict[int, Agreement] = {}
    for pick in picks:
        agrees = pick.agrees()
        if agrees is not None:
            found[pick.user_id] = found.get(pick.user_id, Agreement()) + Agreement(1, int(agrees))
    return found


def server_rate(by_voter: Mapping[int, Agreement], leaving_out: int | None = None) -> float:
    """The server's agreement rate over every other member's picks, smoothed by one agreement
    and one disagreement (Laplace), so that a server where nobody has yet disagreed does not
    make a single disagreement impossible; 0.5 with no picks at all."""
    total = sum(by_voter.values(), Agreement())
    if leaving_out is not None:
        total -= by_voter.get(leaving_out, Agreement())
    return (total.agreed + 1) / (total.picks + 2)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed exactly term by term in log space (each term
    log C(n, i) + i log p + (n - i) log(1 - p)), so that large n neither overflows nor
    underflows to a wrong zero before the sum."""
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], not {p}")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p == 0:
        return 1.0
    if p == 1:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    logs = [_log_comb(n, i) + i * log_p + (n - i) * log_q for i in range(k + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(term - top) for term in logs))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


@dataclass(frozen=True, slots=True)
class OutlierTest:
    """A member's agreement tested against the server's rate: the one-sided p-value (None:
    too few picks to test) and whether they are flagged."""

    agreement: Agreement
    server_rate: float
    p_value: float | None

    @property
    def flagged(self) -> bool:
        return self.p_value is not None and self.p_value < OUTLIER_P_VALUE


def outlier_test(agreement: Agreement, rate: float) -> OutlierTest:
    """How likely so few agreements are by chance for a member who agrees as often as the
    server does: P(X <= agreed), X ~ Binomial(picks, rate). Tested from
    MIN_PICKS_FOR_OUTLIER_TEST picks."""
    if agreement.picks < MIN_PICKS_FOR_OUTLIER_TEST:
        return OutlierTest(agreement, rate, None)
    return OutlierTest(agreement, rate, binomial_cdf(agreement.agreed, agreement.picks, rate))


def check_voter(by_voter: Mapping[int, Agreement], user_id: int) -> OutlierTest:
    """One member tested against the rest of the server."""
    return outlier_test(by_voter.get(user_id, Agreement()), server_rate(by_voter, user_id))


def flagged_voters(by_voter: Mapping[int, Agreement]) -> dict[int, OutlierTest]:
    """Every flagged member of a server, most significant first."""
    tests = {user: check_voter(by_voter, user) for user in by_voter}
    flagged = [(user, test) for user, test in tests.items() if test.flagged]
    flagged.sort(key=lambda item: (item[1].p_value, item[0]))
    return dict(flagged)
