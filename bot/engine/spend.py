"""What the models cost: token usage as providers report it, and spend as servers see it.

Pure: the store sums the usage kept with each turn (and each judge's ballot), and these
types and builders say what the sums mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.house_rules import BudgetDecision, Pricing, spend_from_usage


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens one request (or several) used, and its cost in USD when known.

    ``cost_usd`` is the provider's own figure when it reports one (OpenRouter's ``usage.cost``),
    otherwise what the catalog's pricing makes of the tokens, otherwise None (unknown).
    """

    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = None

    @staticmethod
    def total(first: TokenUsage | None, second: TokenUsage | None) -> TokenUsage | None:
        """Both together (None when neither reported); a cost is known only if both are."""
        if first is None or second is None:
            return first or second
        cost = (
            first.cost_usd + second.cost_usd
            if first.cost_usd is not None and second.cost_usd is not None
            else None
        )
        return TokenUsage(
            first.prompt_tokens + second.prompt_tokens,
            first.completion_tokens + second.completion_tokens,
            cost,
        )

    def priced(self, pricing: Pricing | None) -> TokenUsage:
        """With a cost from ``pricing`` when the provider reported none."""
        if self.cost_usd is not None or pricing is None:
            return self
        cost = spend_from_usage(self.prompt_tokens, self.completion_tokens, pricing)
        return TokenUsage(self.prompt_tokens, self.completion_tokens, cost)


@dataclass(frozen=True, slots=True)
class WrittenVerse:
    """A verse and what the provider reported it used (None when it sent no usage report;
    with retries, the usage of every attempt that reported one)."""

    text: str
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True)
class Spend:
    """Tokens and USD over some requests. ``unpriced`` counts requests whose cost is unknown
    (their tokens count, their cost does not), so a total can say it is a lower bound."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    requests: int = 0
    unpriced: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
            self.requests + other.requests,
            self.unpriced + other.unpriced,
        )


@dataclass(frozen=True, slots=True)
class SpendReport:
    """Spend for one server and for every server, today (UTC) and all time."""

    server_today: Spend
    server_all_time: Spend
    global_today: Spend
    global_all_time: Spend


def usd(amount: float) -> str:
    """Dollars for people: cents for ordinary sums, more digits for fractions of a cent."""
    if amount == 0:
        return "$0.00"
    if amount < 0.01:
        return f"${amount:.4f}"
    return f"${amount:,.2f}"


def spend_line(spend: Spend) -> str:
    """One line: dollars, then tokens; says so when some requests had no known price."""
    line = f"{usd(spend.cost_usd)} · {spend.tokens:,} tokens"
    line += f" ({spend.prompt_tokens:,} in, {spend.completion_tokens:,} out)"
    if spend.unpriced:
        line += f" · {spend.unpriced:,} requests of unknown price not included"
    return line


def spend_fields(report: SpendReport) -> list[tuple[str, str]]:
    """(name, value) pairs for an embed: this server's spend, then every server's."""
    return [
        (
            "Spend on this server",
            f"Today (UTC): {spend_line(report.server_today)}\n"
            f"All time: {spend_line(report.server_all_time)}",
        ),
        (
            "Spend on every server",
            f"Today (UTC): {spend_line(report.global_today)}\n"
            f"All time: {spend_line(report.global_all_time)}",
        ),
    ]


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """What a battle may cost, as its title card shows it: an upper bound in USD, or None when
    a model's price is unknown (then nothing is guessed)."""

    upper_bound_usd: float | None

    @property
    def shown(self) -> str:
        if self.upper_bound_usd is None:
            return "cost unknown"
        return f"at most {usd(self.upper_bound_usd)}"


def budget_refusal(decision: BudgetDecision) -> str:
    """Why a battle was refused by the daily budget, and when the budget resets (a Discord
    timestamp, shown in each reader's own time)."""
    assert decision.budget is not None
    return (
        f"This battle could cost up to {usd(decision.battle_bound)}, and this server has "
        f"{usd(decision.left_today or 0.0)} left of its {usd(decision.budget)} daily budget "
        f"(spent or held by running battles today, UTC). "
        f"The budget resets <t:{int(decision.resets_at.timestamp())}:R>."
    )


def unknown_cost_refusal(budget: float) -> str:
    return (
        f"This server has a daily budget of {usd(budget)}, and a model in this battle has no "
        "listed price, so its cost can't be checked against the budget. Pick priced models."
    )
