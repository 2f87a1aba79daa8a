"""The rules of live battles as pure decisions: how long a performed turn stays up, and whether a
battle may be performed where its starter asks (admission's voice checks, in their order)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.engine.admission import Admitted, Application, InPlay, OnStage, Refused, admit
from bot.engine.battle import Battle
from bot.engine.pacing import Pace, performed_pause
from bot.engine.server_settings import COOLDOWN_SECONDS, MAX_BATTLES, ServerRules

GUILD, OTHER_GUILD = 1, 2
CHANNEL = 10
VOICE, OTHER_VOICE = 50, 51
ALICE, BOB = 100, 200
NOW = 1_800_000_000.0
RULES = ServerRules.defaults({COOLDOWN_SECONDS: 0.0, MAX_BATTLES: 3})
LIVE = Application(GUILD, CHANNEL, ALICE, Battle("m/a", "m/b", rounds=1), voice_channel_id=VOICE)


def decide(
    app: Application = LIVE,
    in_play: tuple[InPlay, ...] = (),
    performing: tuple[OnStage, ...] = (),
    most: int = 4,
) -> Admitted | Refused:
    return admit(
        app,
        RULES,
        in_play,
        last_start=None,
        jury=None,
        spent_today=0.0,
        max_tokens=700,
        now=NOW,
        performing=performing,
        max_voice_battles=most,
    )


def refusal(decision: Admitted | Refused) -> str:
    assert isinstance(decision, Refused), decision
    return decision.message


# -- pacing ---------------------------------------------------------------------------------------


def test_a_performed_verse_stays_up_until_its_performance_ends_and_a_gap():
    assert performed_pause(4.0, 10.0, 1.5) == 11.5  # the performance is longer than the reading
    assert performed_pause(12.0, 10.0, 1.5) == 12.0  # the reading is longer: unchanged


def test_a_silent_turn_is_only_read():
    assert performed_pause(4.0, 0.0, 1.5) == 4.0
    assert performed_pause(0.0, 0.0, 1.5) == 0.0  # pace 0 and nothing to hear: no wait


@pytest.mark.parametrize("pace", [Pace(0), Pace(None), Pace(30)])
def test_whatever_the_pace_the_next_verse_never_cuts_a_performance_off(pace: Pace):
    for verse, seconds in (("short", 20.0), ("long " * 400, 3.0)):
        assert performed_pause(pace.pause_after(verse), seconds, 0.5) >= seconds + 0.5


# -- admission -------------------------------------------------------------------------------------


def test_a_live_battle_holds_its_voice_channel_while_it_starts():
    decision = decide()
    assert isinstance(decision, Admitted)
    assert decision.hold.voice_channel_id == VOICE
    assert isinstance(decide(replace(LIVE, voice_channel_id=None)), Admitted)


def test_missing_voice_permissions_are_named_with_the_channel():
    app = replace(LIVE, missing_voice_permissions=("Connect", "Speak"))
    assert refusal(decide(app)) == (
        f"I need these permissions in <#{VOICE}> to perform there: Connect, Speak."
    )


def test_the_text_channels_permissions_come_first():
    app = replace(
        LIVE, missing_permissions=("Send Messages",), missing_voice_permissions=("Speak",)
    )
    assert refusal(decide(app)) == "I need these permissions in this channel: Send Messages."


def test_voice_permissions_do_not_matter_to_a_text_battle():
    app = replace(LIVE, voice_channel_id=None, missing_voice_permissions=("Speak",))
    assert isinstance(decide(app), Admitted)


def test_one_live_battle_per_server_until_its_results():
    busy = f"A battle is already being performed in <#{VOICE}>"
    # Performed now (its verses or its vote), or still starting.
    assert refusal(decide(performing=(OnStage(GUILD, VOICE),))).startswith(busy)
    starting = InPlay(GUILD, BOB, 12, None, None, voice_channel_id=VOICE)
    assert refusal(decide(in_play=(starting,))).startswith(busy)
    # The bot is in one voice channel of a server at most: another channel there is refused too.
    other = refusal(decide(performing=(OnStage(GUILD, OTHER_VOICE),)))
    assert other.startswith(f"A battle is already being performed in <#{OTHER_VOICE}>")
    assert "one voice channel of a server at a time" in other
    # Another server's stage takes nothing from this one.
    assert isinstance(decide(performing=(OnStage(OTHER_GUILD, 77),)), Admitted)


def test_a_text_battle_is_never_refused_for_a_busy_stage():
    app = replace(LIVE, voice_channel_id=None)
    assert isinstance(decide(app, performing=(OnStage(GUILD, VOICE),)), Admitted)


def test_the_process_performs_at_most_max_voice_battles():
    elsewhere = tuple(OnStage(OTHER_GUILD + n, 60 + n) for n in range(4))
    assert refusal(decide(performing=elsewhere, most=4)) == (
        "I am already performing 4 battles live, the most I can. "
        "Try again when one ends, or start this one without a stage."
    )
    assert isinstance(decide(performing=elsewhere[:3], most=4), Admitted)


def test_a_bot_that_performs_nothing_live_says_so():
    assert refusal(decide(most=0)) == (
        "This bot performs no battles live. Start the battle without a stage."
    )


def test_the_server_cap_comes_before_the_stage():
    full = tuple(InPlay(GUILD, BOB, 20 + n, NOW - 60, None) for n in range(3))
    decision = decide(in_play=full, performing=(OnStage(GUILD, VOICE),))
    assert refusal(decision).startswith("This server already has 3 battles running")
