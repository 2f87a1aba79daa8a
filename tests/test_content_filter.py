"""The content filter as the referee runs it: a withheld verse is never shown, its line is, and
the battle ends there; the moderation endpoint (a local one) through the official client, and
the offline word list deciding alone, with one log line, when the endpoint fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.content_filter import Category, Cleared, FilterLevel, Withheld
from bot.engine.pacing import Pace
from bot.moderation.endpoint import ModerationClient
from bot.moderation.filters import content_filter
from bot.moderation.offline import offline_word_list
from bot.services.battles.referee import Outcome, Referee
from bot.services.moderation.screen import ContentFilter
from bot.settings import Settings
from tests.fakes.filtered_words import a_listed_slur
from tests.fakes.moderation_server import ModerationServer
from tests.fakes.stages import RecordingStage

KEY = "test-key"
HATE = "a line of hate the endpoint flags"
WORDS = offline_word_list()


@pytest.fixture(scope="module")
def moderation_server() -> Iterator[ModerationServer]:
    with ModerationServer(api_key=KEY) as server:
        server.flag(HATE, "hate", "hate/threatening")
        server.flag("plain trash talk", "harassment", "violence")
        yield server


@pytest.fixture
async def with_endpoint(moderation_server: ModerationServer):
    moderation_server.down = False
    screening = ContentFilter(WORDS, ModerationClient(moderation_server.base_url, KEY))
    yield screening
    await screening.close()


class Verses:
    """Each side's verses in order (then "clean verse k"), each after ``delay`` seconds."""

    def __init__(self, script: dict[str, list[str]], delay: float = 0.0) -> None:
        self.script = {model: list(verses) for model, verses in script.items()}
        self.delay = delay
        self.asked: list[str] = []

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[dict[str, str]],
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        self.asked.append(model)
        await asyncio.sleep(self.delay)
        queue = self.script.get(model) or [f"clean verse {len(self.asked)}"]
        return queue.pop(0)


# -- the service ----------------------------------------------------------------------------------


async def test_the_endpoint_flags_hate_and_leaves_trash_talk(with_endpoint, moderation_server):
    standard = FilterLevel.STANDARD
    assert await with_endpoint.screen(f"yo {HATE}", standard) == Withheld(Category.HATE)
    talk = "plain trash talk, I'll end your career"
    assert await with_endpoint.screen(talk, standard) == Cleared(talk)
    assert moderation_server.requests()[-2:] == [f"yo {HATE}", talk]


async def test_off_asks_nobody(with_endpoint, moderation_server):
    before = len(moderation_server.requests())
    assert await with_endpoint.screen(HATE, FilterLevel.OFF) == Cleared(HATE)
    assert with_endpoint.at(FilterLevel.OFF) is None
    assert len(moderation_server.requests()) == before


async def test_strict_masks_with_the_word_list_whatever_the_endpoint_says(with_endpoint):
    assert await with_endpoint.screen("damn, fuck that", FilterLevel.STRICT) == Cleared(
        "••••, •••• that"
    )


async def test_endpoint_down_the_word_list_decides_and_one_line_says_so(
    with_endpoint, moderation_server, caplog
):
    moderation_server.down = True
    slur = a_listed_slur()
    with caplog.at_level(logging.WARNING, logger="bot.services.moderation.screen"):
        # The endpoint would have withheld this; the word list finds nothing, so it passes.
        assert await with_endpoint.screen(HATE, FilterLevel.STANDARD) == Cleared(HATE)
        assert await with_endpoint.screen(f"you {slur}", FilterLevel.STANDARD) == Withheld(
            Category.SLUR
        )
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # one a verse
    assert lines[0] == (
        f"Moderation endpoint {moderation_server.base_url}: answered 500; "
        "the offline word list decided this verse alone"
    )


async def test_a_failure_or_two_is_retried_once_then_given_up_quickly(
    with_endpoint, moderation_server
):
    moderation_server.fail(500, times=1)
    assert await with_endpoint.screen(HATE, FilterLevel.STANDARD) == Withheld(Category.HATE)
    moderation_server.fail(503, times=2)
    started = time.monotonic()
    assert await with_endpoint.screen(HATE, FilterLevel.STANDARD) == Cleared(HATE)
    assert time.monotonic() - started < 3.0


async def test_an_answer_that_is_no_moderation_is_an_outage_too(
    with_endpoint, moderation_server, caplog
):
    moderation_server.malformed = True
    try:
        with caplog.at_level(logging.WARNING, logger="bot.services.moderation.screen"):
            assert await with_endpoint.screen(HATE, FilterLevel.STANDARD) == Cleared(HATE)
    finally:
        moderation_server.malformed = False
    assert "answered with no moderation result; the offline word list decided" in caplog.text


async def test_an_unreachable_endpoint_is_an_outage_too(caplog):
    screening = ContentFilter(WORDS, ModerationClient("http://127.0.0.1:9/v1", KEY))
    try:
        with caplog.at_level(logging.WARNING, logger="bot.services.moderation.screen"):
            assert await screening.screen(HATE, FilterLevel.STANDARD) == Cleared(HATE)
    finally:
        await screening.close()
    assert "http://127.0.0.1:9/v1: unreachable" in caplog.text


async def test_the_settings_choose_the_engine(moderation_server):
    offline = content_filter(Settings())
    assert offline.endpoint is None and offline.engine == "the offline word list"
    settings = Settings.from_env(
        {"MODERATION_BASE_URL": moderation_server.base_url + "/", "MODERATION_API_KEY": KEY}
    )
    assert settings.moderation_model == "omni-moderation-latest"
    online = content_filter(settings)
    try:
        assert online.endpoint is not None and online.endpoint.name == moderation_server.base_url
        assert await online.screen(HATE, FilterLevel.STANDARD) == Withheld(Category.HATE)
    finally:
        await online.close()


# -- the referee ----------------------------------------------------------------------------------


async def test_a_withheld_verse_is_never_shown_and_the_battle_ends_at_its_line():
    slur = a_listed_slur()
    battle = Battle("m/a", "m/b", rounds=3, blind=True)
    models = Verses({"m/b": ["first b verse", f"you {slur}, second b verse"]})
    stage = RecordingStage()
    screen = ContentFilter(WORDS).at(FilterLevel.STANDARD)
    result = await Referee(battle, models, stage, Pace(0), screen=screen).run()

    assert result.outcome is Outcome.NO_CONTEST
    line = "MC B's verse was withheld by the content filter (slur)."
    assert result.reason == line.removesuffix(".")
    assert [t.text for t in stage.turns] == [
        "clean verse 1",
        "first b verse",
        "clean verse 3",
        line,
    ]
    assert stage.turns[-1].side is None  # shown as the host's line, in every stage's way
    assert all(slur not in t.text for t in stage.turns)
    withheld = result.withheld
    assert withheld is not None
    assert (withheld.side, withheld.round, withheld.category) == (Side.B, 2, Category.SLUR)
    assert withheld.text == f"you {slur}, second b verse"
    assert models.asked == ["m/a", "m/b", "m/a", "m/b"]  # nothing asked past it


async def test_strict_posts_the_masked_verse():
    models = Verses({"m/a": ["shit, I'm the best"]})
    stage = RecordingStage()
    screen = ContentFilter(WORDS).at(FilterLevel.STRICT)
    result = await Referee(
        Battle("m/a", "m/b", rounds=1), models, stage, Pace(0), screen=screen
    ).run()
    assert result.outcome is Outcome.COMPLETED
    assert stage.turns[0].text == "••••, I'm the best"


async def test_the_withheld_line_waits_out_the_reading_pause_like_a_verse():
    slur = a_listed_slur()
    models = Verses({"m/b": [f"{slur}"]}, delay=0.01)
    stage = RecordingStage()
    screen = ContentFilter(WORDS).at(FilterLevel.STANDARD)
    battle = Battle("m/a", "m/b", rounds=1)
    await Referee(battle, models, stage, Pace(0.3), screen=screen).run()
    (first, _), (line_at, line) = stage.posts
    assert line.text.endswith("withheld by the content filter (slur).")
    assert line_at - first >= 0.3 - 0.02


async def test_screening_while_the_verse_before_is_read_keeps_the_pacing():
    """The same battle with and without the filter takes the same time: each check runs while
    the verse before it is on screen."""

    async def timed(screen) -> float:
        started = time.monotonic()
        battle = Battle("m/a", "m/b", rounds=2)
        await Referee(
            battle, Verses({}, delay=0.02), RecordingStage(), Pace(0.1), screen=screen
        ).run()
        return time.monotonic() - started

    plain = await timed(None)
    screened = await timed(ContentFilter(WORDS).at(FilterLevel.STRICT))
    assert abs(screened - plain) < 0.05
