"""Battle tracks in Discord, on the double: with `/battle-settings audio:on` the results carry the
battle's track (made while the vote was open), and `/transcript audio:true` attaches it too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.audio.codec import decode_audio
from bot.services.tracks.speech import SAMPLE_RATE
from tests.conftest import SPEECH_KEY
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double.model import Permission
from tests.fakes.speech_server import SpeechServer


@pytest.fixture
def voiced(arena: Arena, speech: SpeechServer) -> Arena:
    arena.env |= {"TTS_BASE_URL": speech.base_url, "TTS_API_KEY": SPEECH_KEY}
    return arena


async def audio_on(arena: Arena) -> None:
    shown = await arena.double.invoke_command(
        arena.guild.owner, arena.channel, "battle-settings", {"audio": True}
    )
    assert "Battle tracks" in embed_text((await shown.response())["data"])


async def battle_to_results(arena: Arena) -> dict[str, Any]:
    started = await arena.battle()
    assert "is on" in (await started.wait_followup())["content"]
    vote = await arena.wait_for(is_vote)
    await eventually(lambda: bool(arena.bots[0].arena.votes))
    await arena.double.react(arena.bob, vote, "🅰️")
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    return await arena.wait_for(is_results, timeout=30)


def ogg_seconds(file: dict[str, Any]) -> float:
    return len(decode_audio(file["data"])) / SAMPLE_RATE


async def test_the_results_carry_the_track_when_the_server_asks(voiced: Arena, speech):
    await voiced.start_bot()
    await audio_on(voiced)
    results = await battle_to_results(voiced)
    [file] = results["files"]
    assert file["filename"] == "battle-1.ogg"
    assert ogg_seconds(file) > 1
    # Made from the battle's verses: the host's title, then one verse per MC.
    assert len({r.voice for r in speech.requests()}) == 3
    kept = await voiced.bots[0].store.track(1)
    assert kept is not None and kept.ogg == file["data"]


async def test_without_the_setting_no_track_is_made(voiced: Arena, speech):
    await voiced.start_bot()
    results = await battle_to_results(voiced)
    assert not results.get("files")
    assert speech.requests() == []


async def test_a_failing_speech_endpoint_still_posts_the_results_with_a_note(voiced: Arena, speech):
    await voiced.start_bot()
    await audio_on(voiced)
    speech.fail(500, times=100, retry_after=0.01)
    results = await battle_to_results(voiced)
    assert not results.get("files")
    assert "track could not be made" in embed_text(results)


async def test_transcript_with_audio_attaches_the_track(voiced: Arena, speech):
    await voiced.start_bot()
    await battle_to_results(voiced)
    asked = await voiced.double.invoke_command(
        voiced.bob, voiced.channel, "transcript", {"battle_id": 1, "audio": True}
    )
    answer = await asked.wait_followup()
    assert answer["content"] == "Battle #1"
    await eventually(
        lambda: len(voiced.double.messages(voiced.channel.id)[-1].get("files") or []) == 2
    )
    files = {f["filename"]: f for f in voiced.double.messages(voiced.channel.id)[-1]["files"]}
    assert set(files) == {"battle-1.md", "battle-1.ogg"}
    assert ogg_seconds(files["battle-1.ogg"]) > 1


async def test_a_track_over_the_attachment_limit_is_left_off_with_a_note(voiced: Arena):
    bot = await voiced.start_bot()
    bot.tracks.attachment_bytes = 1000  # as a track over Discord's 10 MiB would be
    await audio_on(voiced)
    results = await battle_to_results(voiced)
    assert not results.get("files")
    assert "over Discord's 0 MiB limit" not in embed_text(results)
    assert "limit, so it is left off" in embed_text(results)
    assert await bot.store.track(1) is not None  # kept all the same, for the web arena


async def test_without_attach_files_the_results_go_out_without_the_track(voiced: Arena):
    """The file is refused (403); the results are never lost for it."""
    await voiced.start_bot()
    await audio_on(voiced)
    voiced.double.revoke(voiced.channel, Permission.ATTACH_FILES)
    results = await battle_to_results(voiced)
    assert not results.get("files")
    assert "I need Attach Files here" in embed_text(results)
    store = voiced.bots[0].store
    for _ in range(100):  # the store hears of the message just after Discord does
        stored = await store.battle(1)
        if stored is not None and stored.results_message_id is not None:
            break
        await asyncio.sleep(0.02)
    assert stored is not None and stored.results_message_id == int(results["id"])
