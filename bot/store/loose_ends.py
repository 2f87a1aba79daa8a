"""Two small parts of the store's interface: each judge's answer kept as soon as it comes in, and
the names of the servers that publish their page (loose_end_queries.py holds their SQL)."""

from __future__ import annotations

from typing import Protocol

from bot.engine.verdicts import Ballot


class JudgeAnswers(Protocol):
    """A judged battle's answers, kept one judge at a time while the crowd still votes: unrated
    and unshown until the vote closes and the verdict is stored (verdicts.py)."""

    async def keep_judge_answer(self, battle_id: int, ballot: Ballot) -> None:
        """Keeps one judge's answer; a judge's first kept answer stands."""
        ...

    async def judge_answers(self, battle_id: int) -> dict[str, Ballot]:
        """The answers kept for a battle, by judge (empty when none)."""
        ...


class ServerNames(Protocol):
    """The names public servers' pages show: stored when a server opts in, kept current."""

    async def name_server(self, guild_id: int, name: str, now: float) -> None:
        """Keeps a server's name (it opted in to its public page)."""
        ...

    async def rename_server(self, guild_id: int, name: str, now: float) -> bool:
        """A server's name changed: kept only for a server whose name is kept; False when
        nothing changed."""
        ...

    async def server_name(self, guild_id: int) -> str | None:
        """A server's kept name; None when it has none."""
        ...
