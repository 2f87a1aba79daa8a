"""Live on stage, end to end: the real discord.py voice client (Opus, transport encryption, RTP
over UDP) against the Discord double's voice server, the bot performing a battle in a voice or
Stage channel as its verses are posted.

The speech server answers each voice with a tone of its own pitch, so the order of the parts
is read back from the decoded audio with an FFT; frames are counted against the battle's audio
length; the speaking flag, the Stage's speaker and topic, and leaving after the results are read
from what the double recorded.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

import numpy as np
import pytest

from bot.audio.live_mix import FRAME_SAMPLES, FRAME_SECONDS
from bot.engine.battle import FINAL_ROUND, Side
from bot.engine.track import cast_voices, track_parts
from tests.conftest import SPEECH_KEY
from tests.e2e.conftest import Arena, eventually, is_results, is_vote
from tests.fakes.discord_double.model import Permission
from tests.fakes.speech_server import NotAudio, SpeechServer, tone_hz, tone_seconds

RATE = 48_000
# Long enough tones that every part holds many frames (20 ms a character of speech).
SECONDS_PER_CHAR = 0.02


@pytest.fixture
def live(arena: Arena, speech: SpeechServer) -> Arena:
    speech.seconds_per_char = SECONDS_PER_CHAR
    arena.env |= {
        "TTS_BASE_URL": speech.base_url,
        "TTS_API_KEY": SPEECH_KEY,
        "BEAT": "off",  # the tones alone, so silence between parts is silence
    }
    return arena


def dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / RATE)[int(np.argmax(spectrum))])


def heard_parts(samples: np.ndarray, floor: float = 800.0) -> list[tuple[int, int]]:
    """Stretches of sound in decoded audio (int16 mono), as (start, end) sample spans: frames
    with sound, split at silences of at least 60 ms, trimmed to their first and last loud
    sample."""
    frames = samples[: samples.size // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    loud = np.abs(frames).max(axis=1) > floor
    spans, start, quiet = [], None, 0
    for index, is_loud in enumerate([*loud, False, False, False]):
        if is_loud:
            start = index if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet >= 3:
                spans.append((start * FRAME_SAMPLES, (index - quiet + 1) * FRAME_SAMPLES))
                start, quiet = None, 0
    trimmed = []
    for a, b in spans:
        above = np.flatnonzero(np.abs(samples[a:b]) > floor)
        trimmed.append((a + int(above[0]), a + int(above[-1]) + 1))
    return trimmed


async def battle_to_results(arena: Arena, **options: Any) -> dict[str, Any]:
    """Runs /battle to its results (the vote closed at once with /battle-stop)."""
    started = await arena.battle(**options)
    assert "is on" in (await started.wait_followup())["content"]
    await arena.wait_for(is_vote, timeout=60)
    await eventually(lambda: bool(arena.bots[0].arena.votes))
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    return await arena.wait_for(is_results, timeout=30)


def posted_at(message: dict[str, Any]) -> float:
    """A message's time on the monotonic clock the voice frames are stamped with."""
    wall = datetime.datetime.fromisoformat(message["timestamp"]).timestamp()
    return wall - (time.time() - time.monotonic())


def performed(arena: Arena) -> list[dict[str, Any]]:
    """The title card and every turn (the verses and "Final round!"), as posted, in order."""
    return [
        m
        for m in arena.bot_messages()
        if "🎤" in str(m.get("embeds") or m.get("content")) or FINAL_ROUND in str(m["content"])
    ]


async def script(arena: Arena, battle_id: int = 1) -> list[tuple[str, float]]:
    """The battle's parts as the transcript has them (bot/engine/track.py): each one's voice and
    how long the speech server's answer to it lasts."""
    bot = arena.bots[0]
    stored = await bot.store.battle(battle_id)
    assert stored is not None and bot.arena.live is not None
    battle, engine = stored.battle, bot.arena.live.engine
    names = (battle.stage_name(Side.A), battle.stage_name(Side.B))
    cast = cast_voices(*names, engine.voices, engine.host_voice)
    parts = track_parts(*names, await bot.store.turns(battle_id), cast, battle.topic)
    return [(part.voice, tone_seconds(part.text, SECONDS_PER_CHAR)) for part in parts]


class Heard:
    """What the double's voice server received in a channel, decoded: each part's span, pitch
    and when its first frame arrived."""

    def __init__(self, arena: Arena, channel_id: int) -> None:
        self.frames = arena.double.voice.frames(channel_id, include_silence=False)
        self.pcm = arena.double.voice.pcm(channel_id, include_silence=False)[:, 0]
        self.spans = heard_parts(self.pcm)
        self.pitches = [dominant_frequency(self.pcm[a:b].astype(np.float64)) for a, b in self.spans]

    def started_at(self, index: int) -> float:
        return self.frames[self.spans[index][0] // FRAME_SAMPLES].at


async def test_a_battle_is_performed_in_a_voice_channel_as_it_is_posted(live: Arena, speech):
    double, guild = live.double, live.guild
    room = double.add_voice_channel(guild, "Cypher")
    await live.start_bot()
    started = await live.battle(stage=room.id)
    assert "is on" in (await started.wait_followup())["content"]
    await live.wait_for(is_vote, timeout=60)
    assert double.voice.connection(guild.id).channel_id == room.id  # still there for the vote
    await eventually(lambda: bool(live.bots[0].arena.votes))
    await double.invoke_command(live.alice, live.channel, "battle-stop")
    await live.wait_for(is_results, timeout=30)
    await double.voice.wait_disconnected(guild.id, timeout=10)  # it leaves after the results

    parts = await script(live)
    assert len(parts) == 3 and len(speech.requests()) == 3  # the title, one verse per MC
    heard = Heard(live, room.id)
    # The parts in the transcript's order, each in its own voice and at its own length.
    assert heard.pitches == pytest.approx([tone_hz(voice) for voice, _ in parts], abs=5)
    for (a, b), (_, seconds) in zip(heard.spans, parts, strict=True):
        assert (b - a) / RATE == pytest.approx(seconds, rel=0.02)
    # Every 20 ms frame of the battle's audio arrived, once: as many as its length calls for.
    sent = heard.frames[-1].at - heard.frames[0].at + FRAME_SECONDS
    assert len(heard.frames) * FRAME_SECONDS == pytest.approx(sent, rel=0.02)
    # Joined before the title card; each post and the start of its audio within a second.
    posts = performed(live)
    assert len(posts) == 3
    assert double.voice.ip_discoveries[0].at < posted_at(posts[0])  # the handshake was done
    for index, post in enumerate(posts):
        assert abs(heard.started_at(index) - posted_at(post)) < 1.0
    # Speaking while sending, and not after.
    speaking = double.voice.speaking(room.id)
    first_active = next(s for s in speaking if s.active)
    # discord.py sends it from the event loop as its audio thread starts sending: beside the
    # first frame, give or take the loop's latency on a busy machine.
    assert first_active.at <= heard.frames[0].at + 0.25
    assert not any(not s.active for s in speaking if first_active.at < s.at < heard.frames[-1].at)
    assert not speaking[-1].active and speaking[-1].at >= heard.frames[-1].at
    assert double.voice.violations == []


async def test_on_a_stage_the_bot_speaks_and_the_topic_names_the_battle(live: Arena, speech):
    double, guild = live.double, live.guild
    stage = double.add_voice_channel(guild, "Main Stage", stage=True)
    double.grant(
        stage, Permission.MUTE_MEMBERS | Permission.MOVE_MEMBERS | Permission.MANAGE_CHANNELS
    )
    await live.start_bot()
    started = await live.battle(stage=stage.id)
    assert "is on" in (await started.wait_followup())["content"]
    await live.wait_for(is_vote, timeout=60)
    connection = double.voice.connection(guild.id)
    assert connection.channel_id == stage.id and connection.suppress is False  # a speaker
    assert double.stage_instance(stage)["topic"] == "🎤 qwen/qwen-max v x-ai/grok-2"
    await eventually(lambda: bool(live.bots[0].arena.votes))
    await double.invoke_command(live.alice, live.channel, "battle-stop")
    await live.wait_for(is_results, timeout=30)
    await double.voice.wait_disconnected(guild.id, timeout=10)
    assert double.stage_instance(stage) is None  # the Stage's own (no) topic is back
    assert double.voice.stage_topics(stage.id) == ["🎤 qwen/qwen-max v x-ai/grok-2"]
    heard = Heard(live, stage.id)
    voices = [voice for voice, _ in await script(live)]
    assert heard.pitches == pytest.approx([tone_hz(voice) for voice in voices], abs=5)


async def test_without_mute_members_the_bot_asks_to_speak(live: Arena):
    double, guild = live.double, live.guild
    stage = double.add_voice_channel(guild, "Main Stage", stage=True)
    await live.start_bot()
    await live.battle(stage=stage.id)
    await double.voice.wait_connected(guild.id, channel_id=stage.id)
    await eventually(
        lambda: double.voice.connection(guild.id).request_to_speak_timestamp is not None
    )
    await live.wait_for(is_vote, timeout=60)
    await eventually(lambda: bool(live.bots[0].arena.votes))
    await double.invoke_command(live.alice, live.channel, "battle-stop")
    await double.voice.wait_disconnected(guild.id, timeout=15)


async def test_with_the_follow_setting_the_battle_goes_where_its_starter_is(live: Arena):
    double, guild = live.double, live.guild
    room = double.add_voice_channel(guild, "Hangout")
    await live.start_bot()
    shown = await double.invoke_command(
        guild.owner, live.channel, "battle-settings", {"voice": "follow"}
    )
    await shown.response()
    await double.join_voice(live.alice, room)
    await battle_to_results(live)
    await double.voice.wait_disconnected(guild.id, timeout=10)
    assert len(Heard(live, room.id).spans) == 3
    # Bob is in no voice channel: his battle is text only.
    live.double.voice.clear()
    await battle_to_results(live, member=live.bob)
    assert double.voice.frames(room.id) == [] and double.voice.connection(guild.id) is None


async def test_missing_voice_permissions_are_refused_up_front_by_name(live: Arena):
    double, guild = live.double, live.guild
    mute = double.add_voice_channel(
        guild, "No Mic", bot_permissions=Permission.VIEW_CHANNEL | Permission.CONNECT
    )
    await live.start_bot()
    refused = await (await live.battle(stage=mute.id)).wait_followup()
    assert (
        refused["content"] == f"I need these permissions in <#{mute.id}> to perform there: Speak."
    )
    assert refused["flags"] & 64  # private
    assert live.bot_messages() == [] and double.voice.state_updates == []


async def test_one_live_battle_per_server_at_a_time(live: Arena):
    double, guild = live.double, live.guild
    first, second = double.add_voice_channel(guild, "One"), double.add_voice_channel(guild, "Two")
    other = guild.add_channel("more-battles")
    await live.start_bot(BATTLE_PACE="3")
    assert "is on" in (await (await live.battle(stage=first.id)).wait_followup())["content"]
    refused = await (
        await live.battle(member=live.bob, channel=other, stage=second.id)
    ).wait_followup()
    assert refused["content"].startswith(f"A battle is already being performed in <#{first.id}>")
    # A text battle beside it is welcome.
    text_only = await (await live.battle(member=live.bob, channel=other)).wait_followup()
    assert "is on" in text_only["content"]


async def test_a_voice_websocket_dropped_mid_verse_is_survived(live: Arena, speech):
    """The connection drops while the first verse plays: the text battle never notices, the
    voice comes back by itself, and the performance picks up at a later turn, each turn after
    the drop either heard whole or (while the voice was away) not at all."""
    double, guild = live.double, live.guild
    room = double.add_voice_channel(guild, "Cypher")
    await live.start_bot(BATTLE_PACE="2")
    started = await live.battle(stage=room.id, rounds=2)
    assert "is on" in (await started.wait_followup())["content"]
    await live.wait_for(lambda m: "Round 1" in (m.get("content") or ""), timeout=30)
    await asyncio.sleep(0.5)  # well inside the verse (1.7 s)
    dropped_at = time.monotonic()
    await double.voice.drop_websocket(guild.id, code=1006)
    await live.wait_for(is_vote, timeout=60)
    await eventually(lambda: bool(live.bots[0].arena.votes))
    await double.invoke_command(live.alice, live.channel, "battle-stop")
    await live.wait_for(is_results, timeout=30)
    await double.voice.wait_disconnected(guild.id, timeout=15)

    assert notices(live) == []  # never went text only
    assert len([m for m in live.bot_messages() if "🎤 **" in (m["content"] or "")]) == 4
    assert len(double.voice.identifies) >= 2  # connected again
    parts = await script(live)
    assert len(parts) == 6  # the title, four verses and "Final round!"
    heard = Heard(live, room.id)
    # Fragments under 0.1 s (a part cut just as it began) are too short to tell whose they are.
    after = [
        index
        for index, (a, b) in enumerate(heard.spans)
        if heard.started_at(index) > dropped_at and b - a >= RATE // 10
    ]
    # The parts heard after the drop are later turns, in the transcript's order (a turn posted
    # while the voice was away is not heard; one playing as the loss is noticed is cut short);
    # the last verse is heard whole: the performance picked up again.
    remaining = [tone_hz(voice) for voice, _ in parts[2:]]  # the title and first verse began before
    for index in after:
        while remaining and abs(remaining[0] - heard.pitches[index]) > 5:
            remaining.pop(0)
        assert remaining, f"part {index} heard after the drop is out of the transcript's order"
        remaining.pop(0)
    described = [
        (round(heard.started_at(i) - dropped_at, 2), round((b - a) / RATE, 3), heard.pitches[i])
        for i, (a, b) in enumerate(heard.spans)
    ]
    assert after and matches(heard, after[-1], parts[-1]), (described, parts)


def matches(heard: Heard, index: int, part: tuple[str, float]) -> bool:
    """Whether the part heard at ``index`` is ``part``, whole: its voice and its length."""
    a, b = heard.spans[index]
    voice, seconds = part
    return abs(heard.pitches[index] - tone_hz(voice)) <= 5 and abs((b - a) / RATE - seconds) <= (
        0.02 * seconds
    )


async def test_a_moderator_disconnecting_the_bot_is_rejoined_once(live: Arena, speech):
    double, guild = live.double, live.guild
    room = double.add_voice_channel(guild, "Cypher")
    await live.start_bot(BATTLE_PACE="2")
    await live.battle(stage=room.id, rounds=2)
    await live.wait_for(lambda m: "Round 1" in (m.get("content") or ""), timeout=30)
    await double.disconnect_member_from_voice(double.bot_user, guild)
    kicked_at = time.monotonic()
    await live.wait_for(is_vote, timeout=60)
    await double.voice.wait_connected(guild.id, channel_id=room.id)  # back for the rest
    await eventually(lambda: bool(live.bots[0].arena.votes))
    await double.invoke_command(live.alice, live.channel, "battle-stop")
    await double.voice.wait_disconnected(guild.id, timeout=15)
    assert notices(live) == []
    voices = [voice for voice, _ in await script(live)]
    heard = Heard(live, room.id)
    after = [p for i, p in enumerate(heard.pitches) if heard.started_at(i) > kicked_at]
    # The performance picked up again: the battle's last verses were heard, in order.
    assert after[-2:] == pytest.approx([tone_hz(voice) for voice in voices[-2:]], abs=5)


async def test_a_bot_moved_by_a_moderator_performs_on_where_it_was_moved(live: Arena):
    double, guild = live.double, live.guild
    room, lobby = (
        double.add_voice_channel(guild, "Cypher"),
        double.add_voice_channel(guild, "Lobby"),
    )
    await live.start_bot(BATTLE_PACE="2")
    await live.battle(stage=room.id, rounds=2)
    await live.wait_for(lambda m: "Round 1" in (m.get("content") or ""), timeout=30)
    await double.move_member(double.bot_user, lobby)
    await live.wait_for(is_vote, timeout=60)
    assert notices(live) == []
    assert double.voice.connection(guild.id).channel_id == lobby.id  # not fought over
    assert len(Heard(live, lobby.id).spans) >= 1  # later turns heard where it was moved


async def test_battle_stop_during_the_verses_leaves_at_once(live: Arena):
    double, guild = live.double, live.guild
    room = double.add_voice_channel(guild, "Cypher")
    await live.start_bot(BATTLE_PACE="2")
    await live.battle(stage=room.id, rounds=3)
    await live.wait_for(lambda m: "Round 1" in (m.get("content") or ""), timeout=30)
    await double.invoke_command(live.alice, live.channel, "battle-stop")
    await live.wait_for(lambda m: "No contest" in str(m.get("embeds")), timeout=15)
    await double.voice.wait_disconnected(guild.id, timeout=5)
    assert double.voice.speaking(room.id)[-1].active is False


async def test_when_the_bot_cannot_get_back_the_battle_goes_on_in_text(live: Arena):
    double, guild = live.double, live.guild
    room = double.add_voice_channel(guild, "Cypher")
    await live.start_bot(BATTLE_PACE="2")
    await live.battle(stage=room.id, rounds=2)
    await live.wait_for(lambda m: "Round 1" in (m.get("content") or ""), timeout=30)
    double.revoke(room, Permission.CONNECT)  # it may not come back
    await double.disconnect_member_from_voice(double.bot_user, guild)
    line = f"🔇 Lost the voice connection to <#{room.id}>; the battle goes on here in text."
    await live.wait_for(lambda m: line in str(m.get("embeds")), timeout=30)
    await live.wait_for(is_vote, timeout=60)
    assert notices(live) == [line]  # one line, once
    verses = [m for m in live.bot_messages() if "🎤 **" in (m.get("content") or "")]
    assert len(verses) == 4  # the text battle never stopped
    assert double.voice.connection(guild.id) is None


async def test_speech_that_cannot_be_made_leaves_its_part_silent(live: Arena, speech):
    double, guild = live.double, live.guild
    room = double.add_voice_channel(guild, "Cypher")
    speech.fault(NotAudio())  # the first request, the title's, is answered with a web page
    await live.start_bot()
    await battle_to_results(live, stage=room.id)
    await double.voice.wait_disconnected(guild.id, timeout=10)
    assert notices(live) == []
    voices = [voice for voice, _ in await script(live)]
    # The title was not heard; both verses were, in order.
    assert Heard(live, room.id).pitches == pytest.approx(
        [tone_hz(voice) for voice in voices[1:]], abs=5
    )


def notices(arena: Arena) -> list[str]:
    return [
        embed.get("description", "")
        for message in arena.bot_messages()
        for embed in message.get("embeds") or []
        if "🔇" in embed.get("description", "")
    ]
