"""What /battle-audit says, as pages of lines: a battle's votes, a member's, or the server's
flagged and excluded voters. Members are named as mentions, which embeds show without pinging."""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.battle import Side
from bot.engine.discord_limits import EMBED_DESCRIPTION_CHARS
from bot.engine.splitting import escape_markdown
from bot.engine.vote_audit import (
    MIN_PICKS_FOR_OUTLIER_TEST,
    OUTLIER_P_VALUE,
    OutlierTest,
    VotePick,
)
from bot.engine.votes import DEFAULT_EMOJI
from bot.services.battles.audit import BattleAudit, MemberAudit, ServerAudit
from bot.services.battles.history import history_lines
from bot.store.audits import VoterChange

LINES_PER_PAGE = 20
CHANGES_SHOWN = 10
WITHHELD_CHARS = 1500
FLAG = "🚩"


def battle_pages(audit: BattleAudit) -> list[str]:
    stored = audit.stored
    emoji = stored.emoji or DEFAULT_EMOJI
    battle = stored.battle
    head = [history_lines([stored])]
    if stored.unrated_reason is not None:
        head.append(f"Votes kept but not rated: {stored.unrated_reason}.")
    if stored.votes_a is None:
        head.append("Its vote has not been counted: nothing was counted or set aside.")
    for verse in audit.withheld:
        who = f"{escape_markdown(verse.model)}, round {verse.round}, {verse.category.value}"
        head.append(f"**Withheld by the content filter** ({who}):\n{_quoted(verse.text)}")
    lines = [f"**Counted ({len(audit.counted)})**"]
    lines += [
        f"<@{user}> · {emoji[side]} {escape_markdown(battle.model(side))}"
        for user, side in sorted(audit.counted.items())
    ] or ["nobody"]
    lines.append(f"**Set aside ({len(audit.set_aside) + audit.unitemized})**")
    for vote in audit.set_aside:
        pick = f"{emoji[vote.side]} {escape_markdown(battle.model(vote.side))}" if vote.side else ""
        lines.append(
            " · ".join(part for part in (f"<@{vote.user_id}>", pick, vote.reason.label) if part)
        )
    if audit.unitemized:
        lines.append(
            f"{audit.unitemized} set aside before the audit kept who and why "
            "(accounts younger than the minimum age)."
        )
    if not audit.set_aside and not audit.unitemized:
        lines.append("nothing")
    return paged(head, lines)


def _quoted(text: str) -> str:
    """A withheld verse as a quote, cut to leave the page room for the votes."""
    clipped = text[:WITHHELD_CHARS] + ("…" if len(text) > WITHHELD_CHARS else "")
    return "\n".join(f"> {line}" for line in clipped.splitlines())


def member_pages(audit: MemberAudit) -> list[str]:
    user = audit.user_id
    counted = sum(1 for pick in audit.picks if pick.counted)
    head = [
        f"<@{user}> · {'**excluded** on this server' if audit.excluded else 'votes count'}",
        f"Votes: {counted} counted, {len(audit.picks) - counted} set aside",
        agreement_line(audit.test),
    ]
    head += [change_line(change) for change in audit.changes[-CHANGES_SHOWN:]]
    lines = [pick_line(pick) for pick in audit.picks] or ["No votes on this server yet."]
    return paged(head, lines)


def server_pages(audit: ServerAudit) -> list[str]:
    cap = f"{audit.daily_cap} votes a member a UTC day" if audit.daily_cap else "none"
    head = [
        f"Daily vote cap: {cap}",
        f"Outlier test: members with at least {MIN_PICKS_FOR_OUTLIER_TEST} comparable picks "
        f"who agree with the rest of the crowd far less than the server does "
        f"(p < {OUTLIER_P_VALUE:g}). A flag removes no vote.",
        "Give `battle_id` or `member` for the details.",
    ]
    lines = [f"**{FLAG} Flagged ({len(audit.flagged)})**"]
    lines += [f"<@{user}> · {_agreement(test)}" for user, test in audit.flagged.items()] or [
        "nobody"
    ]
    lines.append(f"**Excluded ({len(audit.excluded)})**")
    lines += [f"<@{user}>" for user in sorted(audit.excluded)] or ["nobody"]
    if audit.changes:
        lines.append("**Latest changes**")
        lines += [change_line(change) for change in audit.changes[-CHANGES_SHOWN:]]
    return paged(head, lines)


def agreement_line(test: OutlierTest) -> str:
    if test.p_value is None:
        return (
            f"Agreement with the crowd: {_share(test.agreement.agreed, test.agreement.picks)}; "
            f"not tested (fewer than {MIN_PICKS_FOR_OUTLIER_TEST} comparable picks)"
        )
    verdict = f"{FLAG} **flagged** as an outlier" if test.flagged else "not flagged"
    return f"Agreement with the crowd: {_agreement(test)} · {verdict}"


def _agreement(test: OutlierTest) -> str:
    agreement = test.agreement
    p_value = "" if test.p_value is None else f" · p = {test.p_value:.2g}"
    return (
        f"{_share(agreement.agreed, agreement.picks)} v the server's "
        f"{test.server_rate:.0%}{p_value}"
    )


def _share(agreed: int, picks: int) -> str:
    return f"{agreed} of {picks} picks" + (f" ({agreed / picks:.0%})" if picks else "")


def change_line(change: VoterChange) -> str:
    what = "Excluded" if change.excluded else "Included again"
    moved = "1 past vote" if change.votes_moved == 1 else f"{change.votes_moved} past votes"
    return (
        f"{what}: <@{change.user_id}> by <@{change.changed_by}> "
        f"<t:{int(change.changed_at)}:f> ({moved} moved)"
    )


def pick_line(pick: VotePick) -> str:
    models = f"{escape_markdown(pick.model_a)} v {escape_markdown(pick.model_b)}"
    chose = "both" if pick.side is None else escape_markdown(_model(pick, pick.side))
    agrees = pick.agrees()
    mark = "➖" if agrees is None else "✅" if agrees else "❌"
    line = f"`#{pick.battle_id}` {models} · picked {chose} {mark}"
    if pick.reason is not None:
        line += f" · set aside: {pick.reason.label}"
    return line


def _model(pick: VotePick, side: Side) -> str:
    return pick.model_a if side is Side.A else pick.model_b


def paged(head: Sequence[str], lines: Sequence[str], per_page: int = LINES_PER_PAGE) -> list[str]:
    """The head on every page, then the lines, ``per_page`` at a time, each page within an
    embed's description."""
    top = "\n".join(head)
    pages, page = [], []
    for line in lines:
        candidate = "\n".join([top, "", *page, line])
        if page and (len(page) >= per_page or len(candidate) > EMBED_DESCRIPTION_CHARS):
            pages.append("\n".join([top, "", *page]))
            page = []
        page.append(line)
    pages.append("\n".join([top, "", *page]))
    return [text[:EMBED_DESCRIPTION_CHARS] for text in pages]
