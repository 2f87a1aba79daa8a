"""What the bot's embeds say: a battle's title card, vote, results and verdict, a tournament's
cards and the server's settings, each within Discord's limits (see ``bot.engine.discord_limits``).
The Discord stage posts them; the cogs post the settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import discord

from bot.engine.battle import Battle, Side
from bot.engine.discord_limits import (
    EMBED_DESCRIPTION_CHARS,
    EMBED_FIELD_NAME_CHARS,
    EMBED_FIELD_VALUE_CHARS,
    EMBED_FIELDS,
    EMBED_TITLE_CHARS,
    EMBED_TOTAL_CHARS,
)
from bot.engine.leaderboard import RatingChange
from bot.engine.server_settings import SETTINGS, ServerRules
from bot.engine.spend import CostEstimate
from bot.engine.splitting import escape_markdown
from bot.engine.verdicts import Decision, Verdict
from bot.engine.votes import Tally
from bot.services.stage import Card

TITLE_COLOUR = discord.Colour.gold()
VOTE_COLOUR = discord.Colour.blurple()
RESULT_COLOUR = discord.Colour.green()
NO_CONTEST_COLOUR = discord.Colour.dark_grey()
VERDICT_COLOUR = discord.Colour.purple()
VERDICT_TITLE = "⚖️ Judges' verdict"


def title_card_embed(
    battle: Battle, starter_mention: str, estimate: CostEstimate | None, label: str | None
) -> discord.Embed:
    """Who battles whom, over how many rounds and on what topic, and who started it."""
    a, b = (escape_markdown(battle.stage_name(side)) for side in (Side.A, Side.B))
    embed = discord.Embed(title=f"🎤 {a} v {b}"[:EMBED_TITLE_CHARS], colour=TITLE_COLOUR)
    if label:
        # An author's name has the same limit as a title.
        embed.set_author(name=label[:EMBED_TITLE_CHARS])
    embed.add_field(name="Rounds", value=str(battle.rounds))
    if battle.topic:
        embed.add_field(name="Topic", value=battle.topic[:EMBED_FIELD_VALUE_CHARS], inline=False)
    embed.add_field(name="Started by", value=starter_mention)
    if estimate is not None:
        embed.add_field(name="Estimated cost", value=estimate.shown)
    if battle.blind:
        embed.description = "Blind battle: the models' names are revealed when voting closes."
    return embed


def vote_embed(battle: Battle, emoji: Mapping[Side, str], closes_at: float) -> discord.Embed:
    lines = [f"{emoji[side]} **{escape_markdown(battle.stage_name(side))}**" for side in Side]
    return discord.Embed(
        title="🗳️ Who won? Vote with a reaction",
        description="\n".join(lines) + f"\n\nVoting closes <t:{int(closes_at)}:R>.",
        colour=VOTE_COLOUR,
    )


def results_embed(
    battle: Battle,
    emoji: Mapping[Side, str],
    tally: Tally,
    changes: Sequence[RatingChange],
    notes: Sequence[str],
    link: str | None,
) -> discord.Embed:
    """The crowd's count, the blind battle's models revealed, the rating changes and any
    house rules that applied; the title links to ``link`` when set."""
    embed = discord.Embed(
        title=results_title(battle, tally)[:EMBED_TITLE_CHARS], colour=RESULT_COLOUR, url=link
    )
    embed.description = "\n".join(
        f"{emoji[side]} {escape_markdown(battle.stage_name(side))}: {_votes(tally.votes(side))}"
        for side in Side
    )
    if battle.blind:
        embed.add_field(
            name="Revealed",
            value="\n".join(
                f"{battle.stage_name(side)} was **{escape_markdown(battle.model(side))}**"
                for side in Side
            ),
            inline=False,
        )
    if changes:
        embed.add_field(
            name="Ratings", value="\n".join(change.line() for change in changes), inline=False
        )
    if notes:
        embed.add_field(
            name="House rules", value="\n".join(notes)[:EMBED_FIELD_VALUE_CHARS], inline=False
        )
    return embed


def results_title(battle: Battle, tally: Tally) -> str:
    a, b = tally.votes(Side.A), tally.votes(Side.B)
    if tally.total == 0:
        return "No votes: no winner this time"
    if tally.winner is None:
        return f"🤝 A draw, {a}–{b}"
    winner = tally.winner
    real_name = battle.model(winner)
    return f"🏆 {real_name} wins, {max(a, b)}–{min(a, b)}"


def _votes(count: int) -> str:
    return f"{count} vote" if count == 1 else f"{count} votes"


def notice_embed(text: str) -> discord.Embed:
    return discord.Embed(description=text[:EMBED_DESCRIPTION_CHARS], colour=NO_CONTEST_COLOUR)


def verdict_embed(battle: Battle, verdict: Verdict, crowd: Tally | None) -> discord.Embed:
    """The judges' verdict as one embed within Discord's limits: the score, whether the judges
    agreed with the crowd, then each judge's pick with its statement, cut to share what room
    is left. Shown after the vote closed, so a blind battle's models are named."""
    a, b = verdict.votes(Side.A), verdict.votes(Side.B)
    names = {side: escape_markdown(_clip(verdict.model(side), 100)) for side in Side}
    if verdict.decision is Decision.NONE:
        headline = f"**No verdict**: {verdict.summary().removeprefix('no verdict: ')}."
    else:
        headline = f"**{names[Side.A]}** {a} – {b} **{names[Side.B]}**\n{verdict.summary()}"
    description = f"{headline}\n{_agreement(verdict, crowd, names)}"
    field_names, prefixes, texts = [], [], []
    for ballot in verdict.ballots:
        mark = " · same vendor as a contestant" if ballot.same_vendor else ""
        field_names.append(_clip(f"{ballot.judge}{mark}", EMBED_FIELD_NAME_CHARS))
        if ballot.pick is None:
            prefixes.append("Abstained")
            texts.append(ballot.abstained or "")
        else:
            prefixes.append(f"Picked **{names[ballot.pick]}**")
            texts.append(ballot.statement)
    # As many judges as their names and picks leave room for (a field for the rest).
    room = EMBED_TOTAL_CHARS - len(VERDICT_TITLE) - len(description)
    costs = [
        len(name) + len(prefix) + 1 for name, prefix in zip(field_names, prefixes, strict=True)
    ]
    shown, extra = len(costs), ""
    while shown and (
        shown > EMBED_FIELDS - (shown < len(costs)) or sum(costs[:shown]) > room - len(extra) * 2
    ):
        shown -= 1
        extra = f"… and {len(costs) - shown} more judges"
    shares = _fair_shares(
        [len(text) for text in texts[:shown]],
        room - len(extra) * 2 - sum(costs[:shown]),
        [EMBED_FIELD_VALUE_CHARS - len(prefix) - 1 for prefix in prefixes[:shown]],
    )
    embed = discord.Embed(title=VERDICT_TITLE, description=description, colour=VERDICT_COLOUR)
    for name, prefix, text, share in zip(field_names, prefixes, texts, shares, strict=False):
        body = _clip(text, share) if share > 0 else ""
        embed.add_field(name=name, value=f"{prefix}\n{body}" if body else prefix, inline=False)
    if extra:
        embed.add_field(name=extra, value=extra, inline=False)
    return embed


def _agreement(verdict: Verdict, crowd: Tally | None, names: Mapping[Side, str]) -> str:
    if crowd is None or crowd.total == 0:
        return "The crowd did not vote, so there is nothing to compare."
    if verdict.decision is Decision.NONE:
        return "With no verdict, there is nothing to compare with the crowd."
    if crowd.winner is None:
        return "➖ The crowd drew, so the judges could not agree or disagree with it."
    if verdict.winner is None:
        return f"➖ The judges split; the crowd picked **{names[crowd.winner]}**."
    if verdict.winner is crowd.winner:
        return "✅ The judges agreed with the crowd."
    return f"❌ The judges disagreed with the crowd, which picked **{names[crowd.winner]}**."


def _fair_shares(lengths: Sequence[int], budget: int, caps: Sequence[int]) -> list[int]:
    """Characters for each text: short texts whole, the rest sharing what is left equally."""
    shares = [0] * len(lengths)
    wanted = sorted(range(len(lengths)), key=lambda i: min(lengths[i], caps[i]))
    left = max(budget, 0)
    for position, i in enumerate(wanted):
        fair = left // (len(wanted) - position)
        shares[i] = max(0, min(lengths[i], caps[i], fair))
        left -= shares[i]
    return shares


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def card_embed(card: Card) -> discord.Embed:
    """A card as an embed; the card's maker keeps it within Discord's limits."""
    embed = discord.Embed(
        title=card.title[:EMBED_TITLE_CHARS],
        description=card.description[:EMBED_DESCRIPTION_CHARS] or None,
        colour=TITLE_COLOUR,
    )
    for name, value in card.fields[:EMBED_FIELDS]:
        embed.add_field(
            name=name[:EMBED_FIELD_NAME_CHARS],
            value=value[:EMBED_FIELD_VALUE_CHARS] or "\u200b",
            inline=False,
        )
    return embed


def settings_embed(
    rules: ServerRules,
    changed: Sequence[str] = (),
    here: Sequence[tuple[str, str]] = (),
) -> discord.Embed:
    """The server's battle settings, marking the ones just changed; ``here``: fields about the
    channel the command was used in (see :func:`bot.stages.discord.channel_fields`)."""
    embed = discord.Embed(title="⚙️ Battle settings", colour=VOTE_COLOUR)
    for setting in SETTINGS:
        mark = " ✏️" if setting.name in changed else ""
        embed.add_field(name=f"{setting.label}{mark}", value=setting.show(rules[setting]))
    for name, value in here:
        embed.add_field(name=name, value=value, inline=False)
    if changed:
        embed.set_footer(text="Changes apply from the next battle.")
    return embed
