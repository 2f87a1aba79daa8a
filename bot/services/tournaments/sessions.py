"""Tournaments in Discord: a seeded roster played out as ordinary battles, one after another.

A ``TournamentSession`` owns its task. It plays each match through the arena (title card, verses,
the crowd's vote, results: every match counts on the leaderboard like any battle) and decides it
from the crowd's tally; the pairing and the Swiss table come from bot/engine/tournament.py, as in
``rapbattle tournament``. Everything it has done lives in the store (bot/store/tournaments.py), so
after a restart it goes on with the next unplayed match, plays an interrupted one again, and
posts nothing twice. Like the arena it imports no ``discord``: it posts through stages.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.engine.battle import Battle, Side
from bot.engine.lifecycle import ENDED_WITHOUT_VOTE, BattleState
from bot.engine.splitting import escape_markdown
from bot.engine.tournament import (
    Decision,
    NoPairing,
    Pairing,
    RoundPlan,
    TournamentFormat,
    elimination_round,
    next_contestants,
    swiss_round,
    swiss_standings,
    swiss_table,
)
from bot.engine.votes import Tally
from bot.errors import UserError
from bot.services.battles.arena import Arena, BattleOutcome, BattleRequest
from bot.services.battles.sessions import LOST_CHANNEL_REASON, BattleSession
from bot.services.stage import Card, StageError, TournamentStage, TournamentStageFactory
from bot.store.tournaments import (
    NewTournament,
    StoredMatch,
    StoredTournament,
    TournamentState,
    TournamentStore,
)

log = logging.getLogger(__name__)

MIN_MODELS, MAX_MODELS = 3, 32
# A match the arena refuses for now (the server's cap on battles, a busy channel, a cooldown) is
# asked for again this often, until it starts or the tournament is stopped.
START_RETRY_SECONDS = 15.0
# Discord's embed limits (the bracket is one embed edited after every match).
EMBED_TOTAL_CHARS = 6000
EMBED_FIELD_CHARS = 1024
EMBED_FIELDS = 25
EMBED_DESCRIPTION_CHARS = 4096
THREAD_NAME_CHARS = 100
# Shorter and shorter model names, until a bracket of 32 fits one embed.
NAME_LIMITS: tuple[int | None, ...] = (None, 40, 24)


class SeedOrder(enum.Enum):
    GIVEN = "given"  # the order the models were listed in
    RATING = "rating"  # this server's crowd leaderboard; unrated models after, as listed


# -- pure rules --------------------------------------------------------------------------------


def parse_models(text: str) -> tuple[str, ...]:
    """The comma-separated list of /tournament's ``models`` option, as typed."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def check_roster(models: Sequence[str]) -> None:
    """3 to 32 different models; raises UserError saying what is wrong."""
    if not MIN_MODELS <= len(models) <= MAX_MODELS:
        raise UserError(
            f"A tournament takes {MIN_MODELS} to {MAX_MODELS} models, separated by commas; "
            f"got {len(models)}."
        )
    seen: set[str] = set()
    for model in models:
        if model in seen:
            raise UserError(f"`{model}` is listed twice: each model plays once.")
        seen.add(model)


def seeded_by_rating(models: Sequence[str], leaderboard: Sequence[str]) -> tuple[str, ...]:
    """The models in leaderboard order, then those without a rating in the order given."""
    listed = set(models)
    rated = [model for model in leaderboard if model in listed]
    rated_set = set(rated)
    return tuple(rated + [model for model in models if model not in rated_set])


def swiss_round_count(models: int) -> int:
    """Swiss rounds: enough for one model to win every round, as in single elimination."""
    return max(1, math.ceil(math.log2(models)))


def match_label(round_number: int, index: int) -> str:
    """How a match is named on its title card and in notes (counting from 1, as people do)."""
    return f"round {round_number + 1}, match {index + 1}"


def planned_rounds(tournament: StoredTournament) -> list[RoundPlan]:
    """The stored rounds as the engine's plans, each with its contestants going into it."""
    plans: list[RoundPlan] = []
    contestants: tuple[str, ...] = tournament.seeds
    decisions: list[Decision] = []
    byes: list[str] = []
    for played in tournament.rounds:
        pairings = tuple(match.pairing for match in played.matches)
        if tournament.tournament_format is TournamentFormat.SINGLE:
            plans.append(RoundPlan(contestants, played.bye, pairings))
            if played.decided:
                contestants = next_contestants(plans[-1], [m.winner or "" for m in played.matches])
        else:
            order = tuple(s.model for s in swiss_standings(tournament.seeds, decisions, byes))
            plans.append(RoundPlan(order, played.bye, pairings))
            decisions += [_decision(m) for m in played.matches if m.winner is not None]
            byes += [played.bye] if played.bye else []
    return plans


def next_step(tournament: StoredTournament) -> StoredMatch | RoundPlan | str:
    """What the tournament does next: play a match, plan a round, or crown a champion."""
    for played in tournament.rounds:
        for match in played.matches:
            if match.winner is None:
                return match
    if tournament.tournament_format is TournamentFormat.SINGLE:
        if not tournament.rounds:
            return elimination_round(tournament.seeds)
        last = planned_rounds(tournament)[-1]
        contestants = next_contestants(
            last, [m.winner or "" for m in tournament.rounds[-1].matches]
        )
        return contestants[0] if len(contestants) == 1 else elimination_round(contestants)
    decisions, byes = swiss_history(tournament)
    if len(tournament.rounds) >= swiss_round_count(len(tournament.seeds)):
        return swiss_table(tournament.seeds, decisions, byes)[0].model
    try:
        return swiss_round(tournament.seeds, decisions, byes)
    except NoPairing:  # every pairing left would be a rematch: the table stands as it is
        return swiss_table(tournament.seeds, decisions, byes)[0].model


def swiss_history(tournament: StoredTournament) -> tuple[list[Decision], list[str]]:
    """Every decided match as the engine's decisions, and the byes, for its Swiss table."""
    decisions = [
        _decision(match)
        for played in tournament.rounds
        for match in played.matches
        if match.winner is not None
    ]
    byes = [played.bye for played in tournament.rounds if played.bye is not None]
    return decisions, byes


def _decision(match: StoredMatch) -> Decision:
    assert match.winner is not None
    return Decision(match.pairing, match.winner, match.votes_a or 0, match.votes_b or 0)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Who advances from a match, the crowd's votes, and the note shown when it was not simply
    the crowd's choice."""

    winner: str
    votes: tuple[int, int] | None
    note: str | None = None


def match_result(pairing: Pairing, outcome: BattleOutcome) -> MatchResult | None:
    """Decides a finished match; None when it was interrupted and must be played again.

    The crowd's winner advances. On a draw or with no votes, the judges' verdict decides when the
    battle was judged; otherwise side A, the higher seed, advances. A match that ended without a
    vote (a model failed, someone stopped it) also goes to the higher seed.
    """
    stored = outcome.stored
    a = pairing.side_a
    if stored.state is BattleState.INTERRUPTED:
        return None
    if stored.state in ENDED_WITHOUT_VOTE:
        why = stored.reason or stored.state.value
        return MatchResult(a, None, f"No contest ({why}): `{a}`, the higher seed, advances.")
    tally = outcome.tally or Tally()
    votes_a, votes_b = tally.votes(Side.A), tally.votes(Side.B)
    by_side = {Side.A: stored.battle.model_a, Side.B: stored.battle.model_b}
    votes = (votes_a, votes_b) if by_side[Side.A] == a else (votes_b, votes_a)
    if tally.winner is not None:
        return MatchResult(by_side[tally.winner], votes)
    crowd = f"A draw, {votes_a}–{votes_b}" if tally.total else "No votes"
    verdict = outcome.verdict
    if verdict is not None and verdict.winner is not None:
        judged = by_side[verdict.winner]
        split = f"{verdict.votes(verdict.winner)}–{verdict.votes(verdict.winner.opponent)}"
        return MatchResult(judged, votes, f"{crowd}: the judges chose `{judged}` ({split}).")
    return MatchResult(a, votes, f"{crowd}: `{a}`, the higher seed, advances.")


# -- the bracket -------------------------------------------------------------------------------


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
        decisions, byes = swiss_history(tournament)
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
        line = line[:EMBED_FIELD_CHARS]
        if block and len("\n".join([*block, line])) > EMBED_FIELD_CHARS:
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
        f"👑 {tournament.champion} wins tournament #{tournament.id}"[:256],
        f"Champion of {len(tournament.seeds)} models after {len(tournament.rounds)} rounds.",
    )


def thread_name(tournament: StoredTournament) -> str:
    return f"🏆 Tournament #{tournament.id} ({len(tournament.seeds)} models)"[:THREAD_NAME_CHARS]


# -- running tournaments -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TournamentRequest:
    """Who asks for a tournament where, as the command saw it (models already resolved)."""

    guild_id: int
    channel_id: int
    starter_id: int
    models: tuple[str, ...]
    tournament_format: TournamentFormat = TournamentFormat.SINGLE
    seed: SeedOrder = SeedOrder.GIVEN
    judges: bool | None = None  # None: the server's setting
    threaded: bool = True  # False when the bot may not open a thread here
    battle_rounds: int = 1


class Tournaments:
    """Every tournament this process runs, at most one per server at a time."""

    def __init__(
        self,
        arena: Arena,
        store: TournamentStore,
        stages: TournamentStageFactory,
        *,
        retry_seconds: float = START_RETRY_SECONDS,
        may_use_webhooks: Callable[[int], bool] = lambda channel_id: False,
    ) -> None:
        self.arena = arena
        self.store = store
        self.stages = stages
        self.retry_seconds = retry_seconds
        # Whether the MCs may post through a webhook in a channel (or thread), asked per match:
        # permissions can change during a long tournament.
        self.may_use_webhooks = may_use_webhooks
        self.sessions: dict[int, TournamentSession] = {}  # by tournament id, while running
        self._starting: set[int] = set()  # guilds whose tournament is passing its checks

    async def start(self, request: TournamentRequest) -> TournamentSession:
        """Checks the roster and the server, stores the tournament, and starts it."""
        check_roster(request.models)
        if request.guild_id in self._starting:
            raise UserError("A tournament is already starting on this server.")
        self._starting.add(request.guild_id)
        try:
            running = await self.store.tournaments_in([TournamentState.RUNNING], request.guild_id)
            if running:
                raise UserError(
                    f"Tournament #{running[0].id} is still running on this server: one at a "
                    "time. /tournament-stop ends it."
                )
            rules = await self.arena.rules_for(request.guild_id)
            for model in request.models:
                rules.check_allowed(model)
            seeds = request.models
            if request.seed is SeedOrder.RATING:
                board = await self.arena.standings.standings(request.guild_id)
                seeds = seeded_by_rating(seeds, [row.model for row in board])
            stored = await self.store.create_tournament(
                NewTournament(
                    request.guild_id,
                    request.channel_id,
                    request.starter_id,
                    request.tournament_format,
                    seeds,
                    request.battle_rounds,
                    request.judges,
                    request.threaded,
                ),
                self.arena.clock(),
            )
        finally:
            self._starting.discard(request.guild_id)
        return self._run(stored)

    def _run(self, stored: StoredTournament) -> TournamentSession:
        """The tournament's one session, started unless it already runs: recovery may find a
        tournament that /tournament has just stored and is about to start."""
        session = self.sessions.get(stored.id)
        if session is None:
            session = TournamentSession(self, stored)
            self.sessions[stored.id] = session
            session.start()
        return session

    async def find(self, guild_id: int, channel_id: int) -> StoredTournament | None:
        """The tournament of this thread or channel (the latest), else the server's running one."""
        here = [
            t
            for t in await self.store.tournaments_in(list(TournamentState), guild_id)
            if channel_id in (t.channel_id, t.thread_id)
        ]
        if here:
            return here[-1]
        running = await self.store.tournaments_in([TournamentState.RUNNING], guild_id)
        return running[0] if running else None

    async def status(self, guild_id: int, channel_id: int) -> Card:
        found = await self.find(guild_id, channel_id)
        if found is None:
            raise UserError("No tournament here, and none is running on this server.")
        session = self.sessions.get(found.id)
        return bracket_card(found, session.playing if session else None)

    async def stop(self, guild_id: int, channel_id: int, by_name: str) -> str:
        """Ends the server's running tournament (the one of this thread or channel first)."""
        found = await self.find(guild_id, channel_id)
        if found is None or found.state is not TournamentState.RUNNING:
            running = await self.store.tournaments_in([TournamentState.RUNNING], guild_id)
            if not running:
                raise UserError("No tournament is running on this server.")
            found = running[0]
        session = self.sessions.get(found.id)
        reason = f"stopped by {by_name}"
        if session is not None:
            await session.stop(reason)
        elif not await self.store.stop_tournament(found.id, reason):
            raise UserError("That tournament has already ended.")
        return f"Tournament #{found.id} is stopped."

    async def recover(self) -> None:
        """After a restart (and after the arena's own recovery): running tournaments go on, and
        a champion crowned but never announced is announced."""
        pending = await self.store.tournaments_in([TournamentState.RUNNING])
        pending += await self.store.unannounced_champions()
        for stored in pending:
            if self.arena.owns_guild(stored.guild_id) and stored.id not in self.sessions:
                self._run(stored)

    async def shutdown(self) -> None:
        """Stops every session's task; the store keeps where each stood."""
        tasks = [s.task for s in self.sessions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.sessions.clear()


class TournamentSession:
    """One tournament: its announcement, thread and bracket, then its matches one by one."""

    def __init__(self, tournaments: Tournaments, stored: StoredTournament) -> None:
        self.tournaments = tournaments
        self.arena = tournaments.arena
        self.store = tournaments.store
        self.stored = stored
        self.id = stored.id
        self.playing: StoredMatch | None = None
        self.battle: BattleSession | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def starter_mention(self) -> str:
        return f"<@{self.stored.starter_id}>"

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"tournament {self.id}")
        self.task.add_done_callback(self._finished)

    async def stop(self, reason: str) -> None:
        """Ends the tournament now: the match under way stops, the bracket says so."""
        if not await self.store.stop_tournament(self.id, reason):
            raise UserError("That tournament has already ended.")
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.battle is not None and self.battle.stored.id in self.arena.battles:
            self.battle.stop(f"stopped: the tournament was {reason}")
        self.playing = None
        self.stored = await self._reload()
        await _quietly(self._edit_bracket())
        await _quietly(self._place().post_notice(f"⏹️ Tournament #{self.id} {reason}."))

    async def _reload(self) -> StoredTournament:
        stored = await self.store.tournament(self.id)
        assert stored is not None
        self.stored = stored
        return stored

    def _stage(self, channel_id: int) -> TournamentStage:
        return self.tournaments.stages.stage_for(channel_id)

    def _place(self) -> TournamentStage:
        return self._stage(self.stored.place_id)

    async def _run(self) -> None:
        stored = await self._reload()
        if stored.state is TournamentState.RUNNING:
            await self._set_up()
            while True:
                step = next_step(await self._reload())
                if self.stored.state is not TournamentState.RUNNING:
                    return
                if isinstance(step, StoredMatch):
                    await self._play(step)
                elif isinstance(step, RoundPlan):
                    number = len(self.stored.rounds)
                    await self.store.plan_round(self.id, number, step.bye, step.pairings)
                else:
                    await self.store.finish_tournament(self.id, step)
                    await self._reload()
                    await _quietly(self._edit_bracket())
                    break
        if self.stored.state is TournamentState.FINISHED and not self.stored.champion_announced:
            await self._announce_champion()

    async def _set_up(self) -> None:
        """The announcement, the thread and the bracket, each posted once (the store says which
        are already out)."""
        stored = self.stored
        channel = self._stage(stored.channel_id)
        announcement = stored.announcement_message_id
        if announcement is None:
            announcement = await channel.post_card(announcement_card(stored, self.starter_mention))
            await self.store.set_tournament_announcement(self.id, announcement)
        if stored.threaded and stored.thread_id is None:
            try:
                thread_id = await channel.open_thread_from(announcement, thread_name(stored))
            except StageError as error:
                log.warning("Tournament %s could not open its thread: %s", self.id, error)
                await channel.post_notice(
                    "I could not open a thread for the tournament, so it goes on in this channel."
                )
            else:
                await self.store.set_tournament_thread(self.id, thread_id)
        stored = await self._reload()
        if stored.bracket_message_id is None:
            message_id = await self._place().post_card(bracket_card(stored))
            await self.store.set_bracket_message(self.id, message_id)
            await self._reload()

    async def _play(self, match: StoredMatch) -> None:
        """Plays one match (or finds how its battle ended) and records who advances."""
        outcome = None if match.battle_id is None else await self._outcome_of(match.battle_id)
        result = None if outcome is None else match_result(match.pairing, outcome)
        while result is None:  # not played yet, or interrupted: play it (again)
            self.playing = match
            await _quietly(self._edit_bracket())
            outcome = await self._battle(match)
            result = match_result(match.pairing, outcome)
        self.playing = self.battle = None
        assert outcome is not None
        if outcome.stored.reason == LOST_CHANNEL_REASON:
            # Its place is gone (a deleted thread, permissions taken away): every match left
            # would end the same way, so the seeds would decide the rest. It ends here instead.
            reason = f"ended: {LOST_CHANNEL_REASON}"
            if await self.store.stop_tournament(self.id, reason):
                channel = self._stage(self.stored.channel_id)
                await _quietly(channel.post_notice(f"⏹️ Tournament #{self.id} {reason}."))
            return
        if await self.store.decide_match(
            self.id, match.round, match.index, result.winner, result.votes, result.note
        ):
            if result.note:
                label = match_label(match.round, match.index).capitalize()
                await _quietly(self._place().post_notice(f"{label}: {result.note}"))
        await self._reload()
        await _quietly(self._edit_bracket())

    async def _battle(self, match: StoredMatch) -> BattleOutcome:
        stored = self.stored
        request = BattleRequest(
            guild_id=stored.guild_id,
            channel_id=stored.place_id,
            starter_id=stored.starter_id,
            starter_mention=self.starter_mention,
            label=f"Tournament #{self.id}: {match_label(match.round, match.index)}",
            judges=stored.judges,
            verses_by_webhook=self.tournaments.may_use_webhooks(stored.place_id),
        )
        battle = Battle(match.side_a, match.side_b, stored.battle_rounds, None, False)
        told = False
        while True:
            try:
                session = await self.arena.start(request, battle)
                break
            except UserError as refusal:
                if not told:
                    told = True
                    label = match_label(match.round, match.index).capitalize()
                    await _quietly(
                        self._place().post_notice(
                            f"{label} cannot start yet: {refusal} I will keep trying."
                        )
                    )
                await asyncio.sleep(self.tournaments.retry_seconds)
        self.battle = session
        await self.store.set_match_battle(self.id, match.round, match.index, session.stored.id)
        return await session.outcome()

    async def _outcome_of(self, battle_id: int) -> BattleOutcome | None:
        """How a match's battle ended, waiting for its vote if it is still open; None when it
        must be played again (interrupted, or lost)."""
        future = self.arena.outcome(battle_id)  # asked first, so that no settling is missed
        stored = await self.arena.store.battle(battle_id)
        if stored is None or stored.state is BattleState.INTERRUPTED:
            return None
        if stored.state is BattleState.CLOSED:
            return BattleOutcome(stored, Tally(await self.arena.store.ballots(battle_id)))
        if stored.state in ENDED_WITHOUT_VOTE:
            return BattleOutcome(stored)
        return await asyncio.shield(future)

    async def _edit_bracket(self) -> None:
        stored = self.stored
        if stored.bracket_message_id is not None:
            await self._place().edit_card(
                stored.bracket_message_id, bracket_card(stored, self.playing)
            )

    async def _announce_champion(self) -> None:
        stored = self.stored
        card = champion_card(stored)
        await _quietly(self._place().post_card(card))
        if stored.thread_id is not None:
            await _quietly(self._stage(stored.channel_id).post_card(card))
        await self.store.set_champion_announced(self.id)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tournaments.sessions.pop(self.id, None)
        if task.cancelled() or task.exception() is None:
            return
        log.error(
            "Tournament %s (guild %s) crashed",
            self.id,
            self.stored.guild_id,
            exc_info=task.exception(),
        )
        self.arena.in_background(self._report_crash(), f"report crash of tournament {self.id}")

    async def _report_crash(self) -> None:
        await _quietly(
            self._place().post_notice(
                f"⚠️ Tournament #{self.id} hit an error on our side and is paused; it goes on "
                "after the bot restarts, or /tournament-stop ends it."
            )
        )


async def _quietly(post: Any) -> None:
    """A post whose failure must not stop the tournament (the bracket, a note)."""
    try:
        await post
    except StageError as error:
        log.warning("Could not post for a tournament: %s", error)
