"""Results the channel refused when the vote closed, posted once the bot may post there again.

A 403 (a permission taken away) may be undone by the server's admins at any time, so such
results are kept among the store's unannounced results and tried again at the next start and
whenever the bot's access in that server changes. They are given up on (marked undeliverable in
the store, with one line in the log) only when the channel is gone (a 404), or a week after the
vote closed: results that late would only confuse the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Protocol

from bot.engine.votes import Tally
from bot.services.stage import StageError
from bot.store import Store, StoredBattle

log = logging.getLogger(__name__)

RESULTS_KEPT_SECONDS = 7 * 86_400.0  # a week after the vote closed, refused results are dropped
CHANNEL_GONE = "the channel is gone"
REFUSED_FOR_A_WEEK = "the channel refused them for a week"


def give_up_reason(error: StageError, closed_at: float | None, now: float) -> str | None:
    """Why results the stage refused are given up on, or None to try again later: a channel
    that is gone never comes back; one that refuses may let the bot in again, for a week."""
    if error.gone:
        return CHANNEL_GONE
    if not error.lost_access:
        return None  # Discord failed on its side (a 5xx): tried again at the next start.
    if closed_at is not None and now - closed_at >= RESULTS_KEPT_SECONDS:
        return REFUSED_FOR_A_WEEK
    return None


class ResultsPoster(Protocol):
    """What posts a closed battle's results (a ``VoteSession`` over the battle)."""

    async def post_results(self, final: Tally) -> None: ...


class OpenVote(Protocol):
    stored: StoredBattle


class UndeliveredResults:
    """The closed battles of this process's guilds whose results are still to be posted.

    ``poster`` makes what posts one battle's results at its place; ``votes`` are the votes this
    process runs (by message id), whose own sessions post their results. At a start the verdicts
    follow by themselves (the arena's recovery); results posted when access came back have their
    verdict delivered after them by ``deliver_verdict`` (None: this process seats no judges)."""

    def __init__(
        self,
        store: Store,
        owns_guild: Callable[[int], bool],
        votes: Mapping[int, OpenVote],
        in_background: Callable[[Coroutine[object, object, None], str], None],
        poster: Callable[[StoredBattle], ResultsPoster],
        *,
        deliver_verdict: Callable[[StoredBattle], Awaitable[object]] | None = None,
    ) -> None:
        self._store = store
        self._owns_guild = owns_guild
        self._votes = votes
        self._in_background = in_background
        self._poster = poster
        self._deliver_verdict = deliver_verdict
        self._posting: set[int] = set()  # battle ids being posted by this desk
        # Guilds with results refused in this process: only their access changes are looked at.
        self._waiting: set[int] = set()

    def refused(self, guild_id: int) -> None:
        """A battle's results were refused and kept: the guild's next access change tries again."""
        self._waiting.add(guild_id)

    def access_changed(self, guild_id: int) -> None:
        """The bot's permissions in a guild may have changed (a channel or role updated)."""
        if guild_id in self._waiting:
            self._in_background(self.post(guild_id), f"results waiting in guild {guild_id}")

    async def post(
        self, guild_id: int | None = None, *, eligible: Callable[[StoredBattle], bool] | None = None
    ) -> None:
        """Posts the results still to be posted, in one guild (None: every guild of this
        process); each battle on its own, so one channel's failure keeps no other's back."""
        if guild_id is not None:
            self._waiting.discard(guild_id)  # refused again below: waiting again
        closing = {vote.stored.id for vote in self._votes.values()}
        for stored in await self._store.unannounced_results():
            if guild_id is not None and stored.guild_id != guild_id:
                continue
            if not self._owns_guild(stored.guild_id) or stored.id in closing:
                continue
            if stored.id in self._posting or (eligible is not None and not eligible(stored)):
                continue
            self._posting.add(stored.id)
            try:
                await self._poster(stored).post_results(Tally(await self._store.ballots(stored.id)))
                after = await self._store.battle(stored.id)
                if guild_id is not None and after is not None and after.results_message_id:
                    self._verdict_after(after)
            except Exception:
                log.exception("Posting the results of battle %s failed", stored.id)
            finally:
                self._posting.discard(stored.id)

    def _verdict_after(self, stored: StoredBattle) -> None:
        """A judged battle's verdict follows its late results (nothing for one not judged)."""
        if self._deliver_verdict is not None:
            self._in_background(self._deliver(stored), f"verdict of battle {stored.id}")

    async def _deliver(self, stored: StoredBattle) -> None:
        assert self._deliver_verdict is not None
        await self._deliver_verdict(stored)


async def results_refused(
    store: Store, stored: StoredBattle, place_id: int, error: StageError, now: float
) -> bool:
    """After the stage refused a battle's results: gives up on them (with one line in the log)
    or leaves them to be tried again. True when they are kept for later."""
    reason = give_up_reason(error, stored.vote_closes_at, now)
    if reason is None:
        log.warning(
            "Results of battle %s (guild %s, channel %s) could not be posted, "
            "trying again once the bot may post there: %s",
            stored.id,
            stored.guild_id,
            place_id,
            error,
        )
        return True
    log.warning(
        "Gave up posting the results of battle %s (guild %s, channel %s): %s (%s)",
        stored.id,
        stored.guild_id,
        place_id,
        reason,
        error,
    )
    await store.results_undeliverable(stored.id, f"the results could not be posted: {reason}")
    return False
