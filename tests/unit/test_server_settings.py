"""Per-server settings: validation and how they layer over the process defaults."""

import pytest

from bot.engine.battle import Side
from bot.engine.pacing import Pace
from bot.engine.server_settings import InvalidSetting, ServerRules, ServerSettings, check_emoji
from bot.engine.votes import DEFAULT_EMOJI
from bot.errors import UserError

DEFAULTS = ServerRules(
    rounds=3,
    pace=Pace(None),
    vote_seconds=60,
    cooldown_seconds=30,
    max_battles=3,
    emoji=DEFAULT_EMOJI,
)


def test_no_changes_means_the_defaults():
    assert ServerSettings().apply_to(DEFAULTS) == DEFAULTS


def test_changes_override_only_what_they_name():
    settings = ServerSettings().changed(rounds=5, emoji_b="🔥", allowed_models=("a/x", "b/y"))
    rules = settings.apply_to(DEFAULTS)
    assert rules.rounds == 5 and rules.vote_seconds == 60
    assert rules.emoji == {Side.A: "🅰️", Side.B: "🔥"}
    assert rules.allowed_models == frozenset({"a/x", "b/y"})
    assert settings.overrides() == {
        "rounds": 5,
        "emoji_b": "🔥",
        "allowed_models": ("a/x", "b/y"),
        "global_opt_out": False,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rounds": 11}, "Rounds must be between 1 and 10"),
        ({"vote_seconds": 9}, "between 10 seconds and 24 hours"),
        ({"vote_seconds": 86_401}, "between 10 seconds and 24 hours"),
        ({"cooldown_seconds": -1}, "cooldown"),
        ({"max_battles": 0}, "battle cap"),
        ({"emoji_a": "A"}, "is not an emoji"),
        ({"emoji_a": "🔥", "emoji_b": "🔥️"}, "must differ"),
        ({"allowed_models": tuple(f"m/{i}" for i in range(101))}, "at most 100"),
    ],
)
def test_bad_values_are_refused_clearly(change, message):
    with pytest.raises(InvalidSetting, match=message):
        ServerSettings().changed(**change)


@pytest.mark.parametrize(
    "emoji", ["🔥", "🅰️", "👨‍👩‍👧", "<:pog:123456789012345678>", "<a:dance:123456789012345678>"]
)
def test_emoji_accepted(emoji):
    check_emoji(emoji)


@pytest.mark.parametrize("text", ["", "ab", "🔥 fire", "@everyone", "<:x:1>", "x" * 20])
def test_text_is_not_an_emoji(text):
    with pytest.raises(InvalidSetting):
        check_emoji(text)


def test_allow_list_refuses_other_models():
    rules = ServerSettings(allowed_models=("qwen/qwen-max",)).apply_to(DEFAULTS)
    rules.check_allowed("qwen/qwen-max")
    with pytest.raises(UserError, match="`x-ai/grok-2` is not allowed on this server"):
        rules.check_allowed("x-ai/grok-2")
