"""The vote audit: a closing vote counted under the server's rules (who is excluded, fresh
accounts, the daily cap), what ``/battle-audit`` shows of a battle, a member or the server, and
``/battle-voter``'s exclusions, which refit the board.

The rules themselves are the engine's (bot/engine/vote_audit.py); here they meet the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.battle import Side
from bot.engine.house_rules import SECONDS_PER_DAY, set_aside_line
from bot.engine.server_settings import MAX_VOTES_PER_DAY, MIN_ACCOUNT_AGE_DAYS, ServerRules
from bot.engine.vote_audit import (
    AuditedVotes,
    OutlierTest,
    SetAsideVote,
    VotePick,
    VoteRules,
    agreement_by_voter,
    audit_votes,
    check_voter,
    flagged_voters,
    set_aside_note,
)
from bot.engine.votes import Tally
from bot.errors import UserError
from bot.services.battles.standings import StandingsService
from bot.store import Store, StoredBattle
from bot.store.audits import VoterChange
from bot.store.base import StoredWithheldVerse


async def counted_votes(
    store: Store, guild_id: int, reactions: Tally, now: float, rules: ServerRules
) -> tuple[AuditedVotes, VoteRules]:
    """A closing vote's count under the server's rules, and the rules it was counted by. The
    daily cap counts the member's votes counted on this server since the UTC day began."""
    vote_rules = VoteRules(
        rules[MIN_ACCOUNT_AGE_DAYS], rules[MAX_VOTES_PER_DAY], await store.excluded_voters(guild_id)
    )
    counted_today: dict[int, int] = {}
    if vote_rules.daily_cap:
        day_started = now - now % SECONDS_PER_DAY  # Unix time has no leap seconds
        counted_today = await store.votes_counted_since(guild_id, reactions.ballots, day_started)
    return audit_votes(reactions, now, vote_rules, counted_today), vote_rules


async def stored_set_aside_note(
    store: Store, stored: StoredBattle, rules: ServerRules
) -> str | None:
    """What a closed battle's results say of its votes set aside, from what the store kept (for
    results posted after a restart); battles closed before reasons were kept say only how many."""
    if not stored.votes_set_aside:
        return None
    kept = tuple(await store.set_aside_votes(stored.id))
    audited = AuditedVotes(Tally(), kept)
    if audited.set_aside != stored.votes_set_aside:
        return set_aside_line(stored.votes_set_aside)
    return set_aside_note(audited, VoteRules(rules[MIN_ACCOUNT_AGE_DAYS], rules[MAX_VOTES_PER_DAY]))


@dataclass(frozen=True)
class BattleAudit:
    """One battle's vote as its audit shows it: the counted ballots, the reactions set aside
    and why, house-rule set-asides counted before the audit kept reasons (``unitemized``), and
    the verse the content filter withheld, if any."""

    stored: StoredBattle
    counted: dict[int, Side]
    set_aside: list[SetAsideVote]
    unitemized: int = 0
    withheld: tuple[StoredWithheldVerse, ...] = ()


@dataclass(frozen=True)
class MemberAudit:
    """One member's votes on a server, their agreement with the crowd tested against the
    server's, whether they are excluded, and the log of /battle-voter changes about them."""

    user_id: int
    picks: list[VotePick]
    test: OutlierTest
    excluded: bool
    changes: list[VoterChange]


@dataclass(frozen=True)
class ServerAudit:
    """A server at a glance: its flagged members, its excluded ones, its daily cap and log."""

    flagged: dict[int, OutlierTest]
    excluded: frozenset[int]
    daily_cap: int
    changes: list[VoterChange]


class VoteAudit:
    """What /battle-audit reads and /battle-voter changes, for one server at a time."""

    def __init__(self, store: Store, standings: StandingsService) -> None:
        self._store = store
        self._standings = standings

    async def battle(self, guild_id: int, battle_id: int) -> BattleAudit:
        stored = await self._store.battle(battle_id)
        if stored is None or stored.guild_id != guild_id:
            raise UserError(f"There is no battle #{battle_id} on this server.")
        counted = dict(await self._store.ballots(battle_id))
        set_aside = await self._store.set_aside_votes(battle_id)
        itemized = sum(1 for vote in set_aside if vote.reason.is_house_rule)
        unitemized = max(0, (stored.votes_set_aside or 0) - itemized)
        withheld = tuple(await self._store.withheld_verses(battle_id))
        return BattleAudit(stored, counted, set_aside, unitemized, withheld)

    async def member(self, guild_id: int, user_id: int) -> MemberAudit:
        picks = await self._store.vote_picks(guild_id)
        test = check_voter(agreement_by_voter(picks), user_id)
        return MemberAudit(
            user_id,
            [pick for pick in picks if pick.user_id == user_id],
            test,
            user_id in await self._store.excluded_voters(guild_id),
            await self._store.voter_changes(guild_id, user_id),
        )

    async def server(self, guild_id: int, rules: ServerRules) -> ServerAudit:
        flagged = flagged_voters(agreement_by_voter(await self._store.vote_picks(guild_id)))
        return ServerAudit(
            flagged,
            await self._store.excluded_voters(guild_id),
            rules[MAX_VOTES_PER_DAY],
            await self._store.voter_changes(guild_id),
        )

    async def set_excluded(
        self, guild_id: int, user_id: int, excluded: bool, changed_by: int, now: float
    ) -> VoterChange:
        """Excludes (or includes again) a member's votes, past and future, and refits the
        server's board at once, so the next /leaderboard shows it without waiting on a fit."""
        change = await self._store.set_voter_excluded(guild_id, user_id, excluded, changed_by, now)
        if change is None:
            state = "already excluded" if excluded else "not excluded"
            raise UserError(f"That member's votes are {state} on this server.")
        if change.votes_moved:
            await self._standings.standings(guild_id)
        return change
