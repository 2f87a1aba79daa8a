"""The one place a judges' panel is seated, for the terminal, tournaments and Discord alike.

Every judge's name goes through the catalog (an alias in JUDGE_MODELS or ``--judges`` becomes the
provider's id) before any battle starts, so a misspelt judge is refused up front instead of
abstaining on every verdict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.engine.server_settings import JUDGE_MODELS, JUDGE_RECUSAL, ServerRules
from bot.errors import UserError
from bot.observe import NO_OBSERVER, Observer
from bot.services.judging.panel import AnswerSource, JudgePanel


class PanelFactory:
    """Seats panels: the judges asked for by name, or the process's default panel (JUDGE_MODELS),
    each resolved through the catalog, once per judge."""

    def __init__(
        self,
        llm: AnswerSource,
        resolve: Callable[[str], Awaitable[str]],
        default_judges: Sequence[str],
        *,
        observe: Observer = NO_OBSERVER,
    ) -> None:
        self._llm = llm
        self._observe = observe  # each judge's time, through the panels seated here
        self._resolve = resolve
        self._default = tuple(default_judges)

    async def panel(
        self, names: Sequence[str] | None = None, *, recusal: bool = False
    ) -> JudgePanel:
        """The panel of ``names`` (resolved), or the default panel when none are given."""
        if names:
            judges = await self._resolved(names, "judge: {error}")
        else:
            judges = await self._resolved(
                self._default, "The judges' panel (JUDGE_MODELS) is unusable: {error}"
            )
        return JudgePanel(self._llm, judges, recusal=recusal, observe=self._observe)

    async def for_server(self, rules: ServerRules) -> JudgePanel:
        """A server's own panel (its ids were resolved when the server chose them), else the
        default panel; with the server's recusal rule."""
        own = rules[JUDGE_MODELS]
        if own:
            return JudgePanel(self._llm, own, recusal=rules[JUDGE_RECUSAL], observe=self._observe)
        return await self.panel(recusal=rules[JUDGE_RECUSAL])

    async def _resolved(self, names: Sequence[str], refusal: str) -> tuple[str, ...]:
        judges: list[str] = []
        for name in names:
            try:
                judge = await self._resolve(name)
            except UserError as error:
                raise UserError(refusal.format(error=error)) from None
            if judge not in judges:
                judges.append(judge)
        return tuple(judges)
