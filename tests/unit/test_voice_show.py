"""A live battle's show against a fake voice channel: speech made as soon as each turn is written,
each turn heard as it is posted and never cut off by the next, and the text battle carried on
whatever the voice does (speech that fails, a dropped connection, a join that never happens)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from bot.engine.admission import OnStage
from bot.engine.battle import FINAL_ROUND, Battle, Side, Turn
from bot.engine.pacing import Pace
from bot.engine.track import TrackPart, cast_voices
from bot.services.battles.referee import Outcome, Referee
from bot.services.live.performance import VoiceLost
from bot.services.live.show import LiveShow, ShowState
from bot.services.live.shows import LiveShows
from bot.services.live.stage import LiveStage
from bot.services.tracks.speech import Speech, TrackError
from tests.fakes.stages import PostKind, RecordingBattleStage
from tests.test_referee import ScriptedModels

RATE = 48_000
VOICE = 500
GAP = 0.1
LATE = 0.08  # the event loop may run a little late on a busy machine
NO_PACE = Pace(0)
CAST = cast_voices("m/a", "m/b", ("mc1", "mc2"), "host")


class FakeVoice:
    """A voice channel that plays each part for its length, one after another, and can drop."""

    channel_id = VOICE

    def __init__(
        self, join_error: Exception | None = None, rejoin_error: Exception | None = None
    ) -> None:
        self.join_error = join_error
        self.rejoin_error = rejoin_error
        self.connected = False
        self.topics: list[str] = []
        self.said: list[tuple[float, int]] = []  # (when, samples)
        self.rejoins = 0
        self.left = 0
        self._busy_until = 0.0
        self._playing: list[tuple[asyncio.Future[None], asyncio.TimerHandle]] = []

    async def join(self, topic: str) -> None:
        self.topics.append(topic)
        if self.join_error is not None:
            raise self.join_error
        self.connected = True

    def say(self, samples: np.ndarray):
        if not self.connected:
            raise VoiceLost("not connected")
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        start = max(loop.time(), self._busy_until)
        self._busy_until = start + samples.size / RATE
        handle = loop.call_at(self._busy_until, _resolve, finished)
        self._playing.append((finished, handle))
        self.said.append((time.monotonic(), samples.size))
        return finished

    def drop(self) -> None:
        """The connection is lost: what plays is cut off."""
        self.connected = False
        self._busy_until = 0.0
        for finished, handle in self._playing:
            handle.cancel()
            if not finished.done():
                finished.set_exception(VoiceLost("dropped"))
        self._playing.clear()

    async def rejoin(self) -> None:
        self.rejoins += 1
        if self.rejoin_error is not None:
            raise self.rejoin_error
        self.connected = True

    async def leave(self) -> None:
        self.left += 1
        self.drop()


def _resolve(finished: asyncio.Future[None]) -> None:
    if not finished.done():
        finished.set_result(None)


class ToneSpeech:
    """Speaks each part as ``seconds`` of a quiet tone; records when each part was asked for;
    fails for parts containing ``fail_on``."""

    def __init__(self, seconds: float = 0.3, fail_on: str | None = None) -> None:
        self.seconds = seconds
        self.fail_on = fail_on
        self.asked: list[tuple[float, str]] = []

    async def __call__(self, part: TrackPart) -> np.ndarray:
        self.asked.append((time.monotonic(), part.text))
        await asyncio.sleep(0.01)
        if self.fail_on is not None and self.fail_on in part.text:
            raise TrackError("speech endpoint: the voice broke (500)", status=500)
        t = np.arange(round(self.seconds * RATE)) / RATE
        return (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


class TimedStage(RecordingBattleStage):
    """The in-memory battle stage, with the time of every title card, verse and announcement."""

    def __init__(self) -> None:
        super().__init__(1, iter(range(1000, 2000)).__next__)
        self.times: list[tuple[float, str]] = []

    async def post_title_card(self, battle, starter_mention, estimate=None, *, label=None):
        self.times.append((time.monotonic(), "title"))
        await super().post_title_card(battle, starter_mention, estimate, label=label)

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        self.times.append((time.monotonic(), turn.text))
        await super().post_verse(battle, turn)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        self.times.append((time.monotonic(), turn.text))
        await super().announce(battle, turn)


async def perform(
    voice: FakeVoice,
    speech: ToneSpeech,
    *,
    rounds: int = 2,
    pace: Pace = NO_PACE,
    during=None,
) -> tuple[TimedStage, LiveShow, Outcome]:
    """A whole battle on a live stage: title card, then the referee's turns."""
    battle = Battle("m/a", "m/b", rounds=rounds)
    show = LiveShow(battle, voice, speech, CAST, gap_seconds=GAP)
    text = TimedStage()
    stage = LiveStage(text, show)
    await stage.post_title_card(battle, "@alice")
    referee = Referee(battle, ScriptedModels(0.05), stage, pace, performer=show)
    running = asyncio.create_task(referee.run())
    if during is not None:
        await during(voice, text)
    result = await running
    await show.close()
    return text, show, result.outcome


async def test_each_turn_is_heard_as_it_is_posted_and_never_cut_off_by_the_next():
    voice, speech = FakeVoice(), ToneSpeech(seconds=0.3)
    text, _show, outcome = await perform(voice, speech)
    assert outcome is Outcome.COMPLETED
    labels = [label for _, label in text.times]
    assert labels[0] == "title" and FINAL_ROUND in labels and len(labels) == 6
    assert len(voice.said) == 6  # the title, four verses and "Final round!"
    for (posted, _), (said, _) in zip(text.times, voice.said, strict=True):
        assert 0 <= said - posted < LATE  # the audio starts as the post lands
    for (said, size), (next_post, _) in zip(voice.said, text.times[1:], strict=False):
        # Pace 0, yet each turn stays up for its whole performance and a breath.
        assert next_post - said >= size / RATE + GAP - 0.01
    assert voice.topics == ["🎤 m/a v m/b"] and voice.left == 1
    assert text.notices == []


async def test_a_turns_speech_is_made_while_the_turn_before_it_plays():
    voice, speech = FakeVoice(), ToneSpeech(seconds=0.4)
    text, _, _ = await perform(voice, speech)
    posted = [at for at, label in text.times if label.startswith("verse")]
    asked = [at for at, spoken in speech.asked if spoken.startswith("verse")]
    assert len(posted) == len(asked) == 4
    for previous_posted, asked_at in zip(posted, asked[1:], strict=False):
        # Asked for as soon as it was written: before the verse before it was done playing.
        assert asked_at < previous_posted + 0.4


async def test_a_long_reading_pause_still_wins_over_a_short_performance():
    voice, speech = FakeVoice(), ToneSpeech(seconds=0.1)
    text, _, _ = await perform(voice, speech, rounds=1, pace=Pace(0.6))
    (first, _), (second, _) = text.times[1:3]
    assert second - first == pytest.approx(0.6, abs=LATE)


async def test_speech_that_cannot_be_made_leaves_its_verse_silent_and_the_rest_goes_on():
    voice, speech = FakeVoice(), ToneSpeech(fail_on="verse 2")
    text, show, outcome = await perform(voice, speech)
    assert outcome is Outcome.COMPLETED and len(text.of_kind(PostKind.VERSE)) == 4
    assert len(voice.said) == 5 and show.silent_parts == 1
    assert text.notices == [] and show.state is ShowState.CLOSED


async def test_a_dropped_connection_mid_verse_is_rejoined_once_and_the_next_verse_plays():
    async def drop_during_the_first_verse(voice: FakeVoice, text: TimedStage) -> None:
        await text.wait_for(PostKind.VERSE, 1, timeout=5)
        await asyncio.sleep(0.1)
        voice.drop()

    voice, speech = FakeVoice(), ToneSpeech(seconds=0.4)
    text, _show, outcome = await perform(voice, speech, during=drop_during_the_first_verse)
    assert outcome is Outcome.COMPLETED and len(text.of_kind(PostKind.VERSE)) == 4
    assert voice.rejoins == 1
    assert len(voice.said) == 6  # the cut verse was heard in part; every later turn in full
    assert text.notices == []


async def test_when_the_rejoin_fails_the_battle_goes_on_in_text_with_one_line():
    async def drop_during_the_first_verse(voice: FakeVoice, text: TimedStage) -> None:
        await text.wait_for(PostKind.VERSE, 1, timeout=5)
        voice.drop()

    voice = FakeVoice(rejoin_error=VoiceLost("disconnected by a moderator"))
    text, show, outcome = await perform(voice, ToneSpeech(), during=drop_during_the_first_verse)
    assert outcome is Outcome.COMPLETED and len(text.of_kind(PostKind.VERSE)) == 4
    assert voice.rejoins == 1 and voice.left == 1
    assert len(voice.said) == 2  # the title and the first verse, nothing after
    assert text.notices == [
        f"🔇 Lost the voice connection to <#{VOICE}>; the battle goes on here in text."
    ]
    assert show.state is ShowState.CLOSED


async def test_a_join_that_fails_leaves_the_battle_in_text_only():
    voice = FakeVoice(join_error=VoiceLost("a permission is missing"))
    text, _, outcome = await perform(voice, ToneSpeech())
    assert outcome is Outcome.COMPLETED and len(text.of_kind(PostKind.VERSE)) == 4
    assert voice.said == []
    assert text.notices == [
        f"🔇 I could not join <#{VOICE}> (a permission is missing), "
        "so this battle goes on in text only."
    ]


class FakeEngine:
    name = "fake"
    voices = ("mc1", "mc2", "mc3")
    host_voice = "host"

    def __init__(self) -> None:
        self.spoken: list[tuple[str, str]] = []
        self.closed = False

    async def speak(self, text: str, voice: str) -> Speech:
        self.spoken.append((voice, text))
        return Speech(np.full(RATE // 10, 0.01, dtype=np.float32))

    async def close(self) -> None:
        self.closed = True


class FakeVoices:
    def __init__(self) -> None:
        self.made: list[FakeVoice] = []

    def performance_for(self, guild_id: int, channel_id: int) -> FakeVoice:
        self.made.append(FakeVoice())
        return self.made[-1]


async def test_a_blind_battle_is_titled_and_cast_by_its_blind_names():
    engine = FakeEngine()
    shows = LiveShows(FakeVoices(), engine, most=4, gap_seconds=GAP)
    blind = Battle("vendor/secret-model", "other/hidden", rounds=1, blind=True)
    show = shows.open(7, guild_id=1, channel_id=VOICE, battle=blind)
    show.written(Turn("vendor/secret-model", "my bars", Side.A, 1))
    await asyncio.sleep(0.05)
    spoken = dict((text, voice) for voice, text in engine.spoken)
    assert "MC A versus MC B" in spoken
    assert spoken["my bars"] == cast_voices("MC A", "MC B", engine.voices, "host").mc_a
    assert "secret" not in show.topic and "MC A" in show.topic
    await shows.close()
    assert engine.closed


async def test_the_registry_holds_each_stage_until_the_battle_ends():
    voices, engine = FakeVoices(), FakeEngine()
    shows = LiveShows(voices, engine, most=4, gap_seconds=GAP)
    show = shows.open(7, guild_id=1, channel_id=VOICE, battle=Battle("m/a", "m/b", rounds=1))
    assert shows.performing() == (OnStage(1, VOICE),) and shows.show(7) is show
    await show.open(lambda line: asyncio.sleep(0))
    await show.perform_title(lambda: asyncio.sleep(0))  # the title plays for 0.1 s
    shows.end(7)
    shows.end(7)  # ending twice leaves once
    assert shows.show(7) is None
    # The channel stays taken while the title is heard to its end, then the bot leaves.
    assert shows.performing() == (OnStage(1, VOICE),) and voices.made[0].left == 0
    await asyncio.sleep(0.3)
    assert shows.performing() == () and voices.made[0].left == 1
    await shows.close()


async def test_a_stopped_battle_leaves_at_once_and_a_finished_one_after_its_last_part():
    battle = Battle("m/a", "m/b", rounds=1)
    for hushed in (False, True):
        voice = FakeVoice()
        show = LiveShow(battle, voice, ToneSpeech(seconds=0.5), CAST, gap_seconds=GAP)
        await show.open(TimedStage().post_notice)
        await show.perform_title(lambda: asyncio.sleep(0))
        if hushed:
            show.hush()  # /battle-stop during the verses
        began = time.monotonic()
        await show.close()
        waited = time.monotonic() - began
        assert voice.left == 1
        assert waited < 0.1 if hushed else waited == pytest.approx(0.5, abs=LATE)
