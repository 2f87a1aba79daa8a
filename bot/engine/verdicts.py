"""The judges' panel, as pure rules: what a judge reads, how its answer is read, and the verdict.

A panel of LLM judges from different labs reads the whole battle in the transcript format and
names a winner with a closing statement; the score is the number of judges for each side. The
verdict file is the tournament's YAML format: two mappings, ``closing_statements`` and ``score``.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from bot.engine.battle import Battle, Side, Turn
from bot.engine.prompts import Message
from bot.engine.transcript import render, transcript_of

# The tournament's recent panel: five judges from five labs, an odd number so that a panel
# without abstentions never splits.
DEFAULT_PANEL: tuple[str, ...] = (
    "deepseek/deepseek-chat",
    "google/gemini-2.5-pro",
    "mistralai/mistral-large",
    "openai/gpt-5",
    "x-ai/grok-4",
)
# The most judges a server's own panel may have.
MAX_JUDGES = 7
# A judge whose answer names neither side is asked this many times in all, then abstains (the
# panel asks; the cost estimate allows for every ask).
JUDGE_ASKS = 2
VERDICT_SCHEMA_NAME = "verdict"
WINNER_KEY = "winner"
STATEMENT_KEY = "closing_statement"
STATEMENTS_KEY = "closing_statements"
SCORE_KEY = "score"
FORFEIT_KEY = "forfeit"
WITHHELD_KEY = "withheld"
BLIND_JUDGING_NAMES = ("MC A", "MC B")
# z for a two-sided 95% interval.
Z_95 = 1.959963984540054

JUDGING_INSTRUCTIONS = (
    "You are a judge at a rap battle between two MCs. The user message holds the whole battle: "
    "a header line '# A v B' naming the two MCs, then every turn, each starting with a line "
    "'> SPEAKER'. Lines from 'system' are the host's announcements, not verses.\n"
    "Judge the rap itself, as an expert hip hop judge would: the wit and wordplay, the flow and "
    "rhythm, the rhymes (multisyllabic, internal, slant), the punchlines, and how well each MC "
    "answers and flips the other's lines in the rebuttals. Reward craft and originality, not "
    "length, volume or insults for their own sake.\n"
    "The MCs are AI models, and their names may be model names. Ignore anything you know or "
    "believe about the models, their makers or their reputations, and ignore who went first: "
    "judge only the verses on the page.\n"
    "Answer with a JSON object and nothing else: "
    '{"winner": "<exactly one MC name from the header>", '
    '"closing_statement": "<a short paragraph on why that MC won>"}.'
)


class VerdictFormatError(ValueError):
    """The text is not a verdict in the tournament's YAML format."""


# -- what a judge reads -------------------------------------------------------------------------


def judged_names(battle: Battle) -> tuple[str, str]:
    """The names the judges see for side A and side B.

    A blind battle shows its stage names. So does a model battling itself: with two equal names
    a judge could not name a side.
    """
    if battle.blind or battle.model_a == battle.model_b:
        return BLIND_JUDGING_NAMES
    return battle.model_a, battle.model_b


def judged_transcript(battle: Battle, turns: Iterable[Turn]) -> str:
    """The battle as ``/transcript`` exports it, under the names of ``judged_names``."""
    names = judged_names(battle)
    if names == (battle.model_a, battle.model_b):
        return transcript_of(battle, turns)
    renamed = (
        turn
        if turn.side is None
        else Turn(names[0] if turn.side is Side.A else names[1], turn.text, turn.side, turn.round)
        for turn in turns
    )
    return render(names[0], names[1], renamed)


def judge_messages(transcript_text: str, topic: str | None = None) -> list[Message]:
    """A judge's chat: the instructions, then the whole battle as one user message."""
    instructions = JUDGING_INSTRUCTIONS
    if topic:
        # Quoted and labelled, as in the rappers' prompts, so that it reads as a subject.
        instructions += f' The battle\'s topic, chosen by the audience, was: "{topic}".'
    return [
        {"role": "system", "content": instructions},
        {"role": "user", "content": transcript_text},
    ]


def verdict_response_format(name_a: str, name_b: str) -> dict[str, Any]:
    """Structured output restricting the winner to the two names, side A's first."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": VERDICT_SCHEMA_NAME,
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    WINNER_KEY: {"type": "string", "enum": [name_a, name_b]},
                    STATEMENT_KEY: {"type": "string"},
                },
                "required": [WINNER_KEY, STATEMENT_KEY],
                "additionalProperties": False,
            },
        },
    }


# -- reading a judge's answer -------------------------------------------------------------------

_FENCED = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Pick:
    """What one judge's answer says: the side it named and why."""

    side: Side
    statement: str


def read_pick(content: str | None, name_a: str, name_b: str) -> Pick | None:
    """The side a judge's answer names, read tolerantly, or None if it names neither.

    Some models ignore ``response_format``, so the JSON may be bare, in a fenced block, or
    surrounded by prose. The first JSON object with a ``winner`` is the answer.
    """
    if not content:
        return None
    for candidate in _json_objects(content):
        if WINNER_KEY not in candidate:
            continue
        side = _side_named(candidate[WINNER_KEY], name_a, name_b)
        if side is None:
            return None
        statement = candidate.get(STATEMENT_KEY)
        return Pick(side, statement.strip() if isinstance(statement, str) else "")
    return None


def _json_objects(content: str) -> Iterable[dict[str, Any]]:
    """Every JSON object in ``content``: the whole text, fenced blocks, then any '{' onwards."""
    texts = [content.strip(), *(block.strip() for block in _FENCED.findall(content))]
    for text in texts:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", content):
        try:
            value, _ = decoder.raw_decode(content, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def _side_named(winner: object, name_a: str, name_b: str) -> Side | None:
    if not isinstance(winner, str):
        return None
    named = winner.strip().casefold()
    if named == name_a.casefold():
        return Side.A
    if named == name_b.casefold():
        return Side.B
    return None


# -- the panel ----------------------------------------------------------------------------------


def parse_judge_list(text: str) -> tuple[str, ...]:
    """Judge names from a comma-separated list, blanks dropped, each name once."""
    names: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if name and name.casefold() not in (seen.casefold() for seen in names):
            names.append(name)
    return tuple(names)


def vendor(model_id: str) -> str:
    """The lab behind a model id: the part before ``/``."""
    return model_id.partition("/")[0].casefold()


def same_vendor(judge_id: str, model_id: str) -> bool:
    return vendor(judge_id) == vendor(model_id)


def judges_own_vendor(judge_id: str, battle: Battle) -> bool:
    """Whether the judge comes from the lab of either contestant."""
    return same_vendor(judge_id, battle.model_a) or same_vendor(judge_id, battle.model_b)


def recused(judges: Sequence[str], battle: Battle) -> tuple[str, ...]:
    """The panel without the judges from a contestant's lab."""
    return tuple(judge for judge in judges if not judges_own_vendor(judge, battle))


@dataclass(frozen=True, slots=True)
class Ballot:
    """One judge's part in a verdict: its pick and statement, or why it abstained."""

    judge: str
    pick: Side | None
    statement: str = ""
    abstained: str | None = None
    same_vendor: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # at the catalog's prices when known

    def __post_init__(self) -> None:
        if (self.pick is None) == (self.abstained is None):
            raise ValueError("A ballot has either a pick or a reason for abstaining.")

    @classmethod
    def abstention(
        cls, judge: str, reason: str, *, same_vendor: bool = False, tokens: tuple[int, int] = (0, 0)
    ) -> Ballot:
        return cls(judge, None, "", reason, same_vendor, tokens[0], tokens[1])


class Decision(enum.Enum):
    WIN = "win"
    SPLIT = "split decision"
    NONE = "no verdict"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The panel's verdict on one battle; ``model_a``/``model_b`` are the real model ids."""

    model_a: str
    model_b: str
    ballots: tuple[Ballot, ...]

    def votes(self, side: Side) -> int:
        return sum(ballot.pick is side for ballot in self.ballots)

    @property
    def abstentions(self) -> int:
        return sum(ballot.pick is None for ballot in self.ballots)

    @property
    def decision(self) -> Decision:
        a, b = self.votes(Side.A), self.votes(Side.B)
        if a == b == 0:
            return Decision.NONE
        return Decision.SPLIT if a == b else Decision.WIN

    @property
    def winner(self) -> Side | None:
        """The side with more judges; None for a split decision or no verdict."""
        a, b = self.votes(Side.A), self.votes(Side.B)
        if a == b:
            return None
        return Side.A if a > b else Side.B

    def model(self, side: Side) -> str:
        return self.model_a if side is Side.A else self.model_b

    @property
    def prompt_tokens(self) -> int:
        return sum(ballot.prompt_tokens for ballot in self.ballots)

    @property
    def completion_tokens(self) -> int:
        return sum(ballot.completion_tokens for ballot in self.ballots)

    def summary(self) -> str:
        """One line: ``qwen/qwen-max wins 4-1``, ``split decision 2-2`` or ``no verdict``."""
        a, b = self.votes(Side.A), self.votes(Side.B)
        if self.decision is Decision.NONE:
            judges = len(self.ballots)
            if judges == 0:
                return "no verdict: no judge sat"
            return f"no verdict: {'the judge' if judges == 1 else f'all {judges} judges'} abstained"
        if self.winner is None:
            line = f"split decision {a}-{b}"
        else:
            high, low = max(a, b), min(a, b)
            line = f"{self.model(self.winner)} wins {high}-{low}"
        if self.abstentions:
            line += f" ({self.abstentions} abstained)"
        return line


# -- the tournament's YAML verdict file ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerdictFile:
    """A verdict file's data: judge id -> statement, and model id -> judges who chose it.

    A tournament battle that a model forfeited (no verse after the retries) says so with a third
    key, ``forfeit: MODEL_ID``, beside an empty score; when the content filter withheld its verse,
    a fourth, ``withheld: CATEGORY``, says so (results.md then gives that reason).
    """

    closing_statements: Mapping[str, str]
    score: Mapping[str, int]
    forfeit: str | None = None
    withheld: str | None = None

    @classmethod
    def of(cls, verdict: Verdict) -> VerdictFile:
        """Judges who abstained have no statement; a model no judge chose has no score."""
        statements = {b.judge: b.statement for b in verdict.ballots if b.pick is not None}
        score: dict[str, int] = {}
        for side in Side:
            votes = verdict.votes(side)
            if votes:
                # A model battling itself gets both sides' judges under its one id.
                score[verdict.model(side)] = score.get(verdict.model(side), 0) + votes
        return cls(statements, score)

    def to_yaml(self) -> str:
        """PyYAML's default dump: keys sorted, long text folded at about 80 columns."""
        data: dict[str, object] = {
            STATEMENTS_KEY: dict(self.closing_statements),
            SCORE_KEY: {model: count for model, count in self.score.items() if count > 0},
        }
        if self.forfeit is not None:
            data[FORFEIT_KEY] = self.forfeit
        if self.withheld is not None:
            data[WITHHELD_KEY] = self.withheld
        return yaml.safe_dump(data)

    @classmethod
    def from_yaml(cls, text: str) -> VerdictFile:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise VerdictFormatError(f"Not YAML: {error}") from None
        keys = set(data) if isinstance(data, dict) else set()
        allowed = (
            {STATEMENTS_KEY, SCORE_KEY},
            {STATEMENTS_KEY, SCORE_KEY, FORFEIT_KEY},
            {STATEMENTS_KEY, SCORE_KEY, FORFEIT_KEY, WITHHELD_KEY},
        )
        if keys not in allowed:
            raise VerdictFormatError(
                f"A verdict file has exactly two mappings: {STATEMENTS_KEY} and {SCORE_KEY}"
                f" (and {FORFEIT_KEY} after a forfeit, with {WITHHELD_KEY} when the content"
                " filter withheld its verse)."
            )
        forfeit, withheld = data.get(FORFEIT_KEY), data.get(WITHHELD_KEY)
        if forfeit is not None and not isinstance(forfeit, str):
            raise VerdictFormatError(f"{FORFEIT_KEY} names the model id that forfeited.")
        if withheld is not None and not isinstance(withheld, str):
            raise VerdictFormatError(f"{WITHHELD_KEY} names why the content filter withheld it.")
        statements, score = data[STATEMENTS_KEY] or {}, data[SCORE_KEY] or {}
        if not isinstance(statements, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in statements.items()
        ):
            raise VerdictFormatError(f"{STATEMENTS_KEY} maps judge ids to text.")
        if not isinstance(score, dict) or not all(
            isinstance(key, str) and type(value) is int and value > 0
            for key, value in score.items()
        ):
            raise VerdictFormatError(f"{SCORE_KEY} maps model ids to numbers of judges.")
        return cls(statements, score, forfeit, withheld)


# -- agreement statistics -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proportion:
    """``successes`` out of ``trials``, with a 95% Wilson score interval.

    The Wilson interval stays inside [0, 1] and behaves at 0% and 100%, where the normal
    approximation collapses to a point; Arena reports its agreement rates the same way.
    """

    successes: int
    trials: int

    def __post_init__(self) -> None:
        if not 0 <= self.successes <= self.trials:
            raise ValueError("successes must be between 0 and trials")

    @property
    def value(self) -> float | None:
        return self.successes / self.trials if self.trials else None

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% interval; with no trials, everything from 0 to 1."""
        return wilson_interval(self.successes, self.trials)


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
