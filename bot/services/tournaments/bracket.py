"""A Discord tournament's cards: its announcement, the bracket (or Swiss table) edited after every
match, and the champion; each within Discord's embed limits for 32 models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.engine.discord_limits import (
    EMBED_DESCRIPTION_CHARS,
    EMBED_FIELD_VALUE_CHARS,
    EMBED_FIELDS,
    EMBED_TITLE_CHARS,
    EMBED_TOTAL_CHARS,
    THREAD_NAME_CHARS,
)
from bot.engine.splitting import escape_markdown
from bot.engine.tournament import TournamentFormat, swiss_standings
from bot.services.stage import Card
from bot.services.tournaments.record import progression_of
from bot.store.tournaments import StoredMatch, StoredTournament, TournamentState

# Shorter and shorter model names, until a bracket of 32 fits one embed.
NAME_LIMITS: tuple[int | None, ...] = (None, 40, 24)


def match_label(round_number: int, index: int) -> str:
    """How a match is named on its title card and in notes (counting from 1, as people do)."""
    return f"round {round_number + 1}, match {index + 1}"


def bracket_card(tournament: StoredTournament, playing: StoredMatch | None = None) -> Card:
    """The bracket (or the Swiss table) as one embed, within Discord's limits for 32 models:
    names lose their vendor and then shrink, and the notes go, until it fits; at worst the
    earliest rounds are left out (a Swiss table's standings still hold every model)."""
    card = Card("")
    for limit in NAME_LIMITS:
        for notes in (True, False):
            card = _bracket(tournament, playing, _namer(limit), notes)
            if _fits(card):
                return card
    return _squeezed(card)


def _namer(limit: int | None) -> Callable[[str], str]:
    def name(model: str) -> str:
        if limit is not None:
            model = model.rsplit("/", 1)[-1]
            if len(model) > limit:  # the end often tells versions apart: keep more of it
                head = limit // 3
                model = model[:head] + "…" + model[-(limit - head - 1) :]
        return escape_markdown(model)

    return name


def _bracket(
    tournament: StoredTournament,
    playing: StoredMatch | None,
    name: Callable[[str], str],
    with_notes: bool = True,
) -> Card:
    single = tournament.tournament_format is TournamentFormat.SINGLE
    kind = "single elimination" if single else "Swiss"
    title = f"🏆 Tournament #{tournament.id}: {len(tournament.seeds)} models, {kind}"
    status = _status(tournament, playing, name)
    sections: list[tuple[str, list[str]]] = []
    for played in tournament.rounds:
        lines = [_match_line(match, playing, name) for match in played.matches]
        if played.bye is not None:
            sits = "advances without a battle" if single else "sits out (a point)"
            lines.insert(0 if single else len(lines), f"• {name(played.bye)} {sits}")
        sections.append((f"Round {played.number + 1}", lines))
    if not single and tournament.rounds:
        decisions, byes = progression_of(tournament).history()
        standings = swiss_standings(tournament.seeds, decisions, byes)
        sections.append(
            (
                "Standings",
                [
                    f"{place}. {name(row.model)}: {row.points:g} pts ({row.wins}–{row.losses})"
                    for place, row in enumerate(standings, 1)
                ],
            )
        )
    notes = [
        f"R{match.round + 1} M{match.index + 1}: {match.note}"
        for played in tournament.rounds
        for match in played.matches
        if match.note
    ]
    fields: list[tuple[str, str]] = []
    for section, lines in sections:
        fields += _fields(section, lines)
    description = status
    if notes and with_notes:
        description += "\n\n" + "\n".join(notes)
    return Card(title, description[:EMBED_DESCRIPTION_CHARS], tuple(fields))


def _status(
    tournament: StoredTournament, playing: StoredMatch | None, name: Callable[[str], str]
) -> str:
    if tournament.state is TournamentState.FINISHED and tournament.champion:
        return f"👑 Champion: **{name(tournament.champion)}**"
    if tournament.state is TournamentState.STOPPED:
        return f"⏹️ Stopped: {tournament.reason or 'ended early'}."
    if playing is not None:
        a, b = name(playing.side_a), name(playing.side_b)
        return f"▶️ Now: {match_label(playing.round, playing.index)}, {a} v {b}."
    return "The next match is about to start."


def _match_line(match: StoredMatch, playing: StoredMatch | None, name: Callable[[str], str]) -> str:
    number = f"{match.index + 1}."
    a, b = name(match.side_a), name(match.side_b)
    if match.winner is None:
        now = playing is not None and (playing.round, playing.index) == (match.round, match.index)
        return f"{'▶️' if now else '•'} {number} {a} v {b}"
    winner, loser = (a, b) if match.winner == match.side_a else (b, a)
    score = f" {match.votes_a}–{match.votes_b}" if match.votes_a is not None else ""
    mark = " *" if match.note else ""
    return f"✅ {number} **{winner}** beat {loser}{score}{mark}"


def _fields(section: str, lines: Sequence[str]) -> list[tuple[str, str]]:
    """A section as fields of at most 1,024 characters, continued under the same name."""
    fields: list[tuple[str, str]] = []
    block: list[str] = []
    for line in lines:
        line = line[:EMBED_FIELD_VALUE_CHARS]
        if block and len("\n".join([*block, line])) > EMBED_FIELD_VALUE_CHARS:
            fields.append((section if not fields else f"{section} (cont.)", "\n".join(block)))
            block = []
        block.append(line)
    if block or not fields:
        fields.append((section if not fields else f"{section} (cont.)", "\n".join(block)))
    return fields


def _size(card: Card) -> int:
    return len(card.title) + len(card.description) + sum(len(n) + len(v) for n, v in card.fields)


def _fits(card: Card) -> bool:
    return (
        _size(card) <= EMBED_TOTAL_CHARS
        and len(card.fields) <= EMBED_FIELDS
        and len(card.description) <= EMBED_DESCRIPTION_CHARS
    )


def _squeezed(card: Card) -> Card:
    """The last resort: the earliest fields go until the card fits, and it says so."""
    fields = list(card.fields)
    description = card.description + "\n(The earliest rounds are left out for space.)"
    while fields and not _fits(Card(card.title, description, tuple(fields))):
        fields.pop(0)
    return Card(card.title, description, tuple(fields))


def announcement_card(tournament: StoredTournament, starter_mention: str) -> Card:
    single = tournament.tournament_format is TournamentFormat.SINGLE
    kind = "single elimination" if single else "Swiss"
    seeds = ", ".join(escape_markdown(model) for model in tournament.seeds)
    text = (
        f"{len(tournament.seeds)} models, {kind}, started by {starter_mention}. Every match is "
        "a battle: the crowd's vote decides who advances, and counts on the leaderboard."
    )
    if len(text) + len(seeds) < EMBED_DESCRIPTION_CHARS - 20:
        text += f"\n\nSeeds, strongest first: {seeds}"
    return Card(f"🏆 Tournament #{tournament.id} begins", text)


def champion_card(tournament: StoredTournament) -> Card:
    assert tournament.champion is not None
    return Card(
        f"👑 {tournament.champion} wins tournament #{tournament.id}"[:EMBED_TITLE_CHARS],
        f"Champion of {len(tournament.seeds)} models after {len(tournament.rounds)} rounds.",
    )


def thread_name(tournament: StoredTournament) -> str:
    return f"🏆 Tournament #{tournament.id} ({len(tournament.seeds)} models)"[:THREAD_NAME_CHARS]
