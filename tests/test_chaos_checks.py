"""The chaos soak's checks (benchmarks/chaos_checks.py) catch what they promise to: a channel that
shows a battle's results twice, a verse out of order, a vote left uncounted."""

from __future__ import annotations

import time

from benchmarks.chaos_checks import Evidence, check_all
from benchmarks.chaos_load import LoadRecord, Vote
from bot.engine.battle import Battle, Side
from bot.engine.lifecycle import BattleState
from bot.engine.votes import DEFAULT_EMOJI
from bot.store import StoredBattle
from tests.fakes.discord_double import Channel, DiscordDouble
from tests.fakes.model_server import default_verse

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"


def post(double: DiscordDouble, channel: Channel, **body: object) -> int:
    return double._state.create_message(channel, double.bot_user, body).id


def a_closed_battle(double: DiscordDouble, channel: Channel, verses: list[tuple[str, int]]):
    """Battle 1 in the channel, posted as the bot posts it; returns it and its vote's id."""
    created_at = time.time() - 1
    post(double, channel, embeds=[{"title": "🎤 qwen-max v grok-2", "fields": [_rounds()]}])
    for number, (model, turn) in enumerate(verses):
        text = f"🎤 **{model}**\n{default_verse(model, turn)}\n#v{number:07d}"
        post(double, channel, content=text)
    vote = post(double, channel, embeds=[{"title": "🗳️ Who won? Vote with a reaction"}])
    results = post(double, channel, embeds=[{"title": "🏆 qwen/qwen-max wins, 1–0"}])
    stored = StoredBattle(
        1,
        channel.guild.id,
        channel.id,
        7,
        Battle(QWEN, GROK, rounds=1),
        False,
        BattleState.CLOSED,
        created_at,
        vote_message_id=vote,
        results_message_id=results,
        emoji=DEFAULT_EMOJI,
        votes_a=1,
        votes_b=0,
    )
    return stored, vote


def _rounds() -> dict[str, str]:
    return {"name": "Rounds", "value": "1"}


def evidence(stored: StoredBattle, ballots: dict[int, Side]) -> Evidence:
    return Evidence([stored], {stored.id: ballots}, [], [], [], {}, {})


def failing(double: DiscordDouble, found: Evidence, record: LoadRecord) -> set[str]:
    invariants = check_all(double, found, record, [])
    return {i.name for i in invariants if not i.holds and "tournament" not in i.name}


def test_a_battle_shown_as_promised_passes():
    double = DiscordDouble(openapi_spec="")
    channel = double.add_guild("Club").add_channel("battles")
    fan = channel.guild.add_member("fan")
    stored, vote = a_closed_battle(double, channel, [(QWEN, 1), (GROK, 1)])
    double._state.add_reaction(double._state.message(vote), fan.user, DEFAULT_EMOJI[Side.A])
    record = LoadRecord(votes=[Vote(vote, channel.id, fan.id, "🅰️", time.time(), False)])
    assert failing(double, evidence(stored, {fan.id: Side.A}), record) == set()


def test_results_shown_twice_fail():
    double = DiscordDouble(openapi_spec="")
    channel = double.add_guild("Club").add_channel("battles")
    stored, _ = a_closed_battle(double, channel, [(QWEN, 1), (GROK, 1)])
    post(double, channel, embeds=[{"title": "🏆 qwen/qwen-max wins, 1–0"}])
    assert failing(double, evidence(stored, {}), LoadRecord()) >= {
        "its channel says how it ended, exactly once",
        "no title card, vote, results or verdict posted twice",
    }


def test_verses_out_of_order_and_a_vote_never_counted_fail():
    double = DiscordDouble(openapi_spec="")
    channel = double.add_guild("Club").add_channel("battles")
    fan = channel.guild.add_member("fan")
    stored, vote = a_closed_battle(double, channel, [(GROK, 1), (QWEN, 1)])
    double._state.add_reaction(double._state.message(vote), fan.user, DEFAULT_EMOJI[Side.B])
    record = LoadRecord(votes=[Vote(vote, channel.id, fan.id, "🅱️", time.time(), False)])
    assert failing(double, evidence(stored, {}), record) == {
        "no verse posted twice or out of order",
        "every vote cast (bot up or down) is counted",
    }
