"""Per-server settings: validation and how they layer over the process defaults."""

import pytest

from bot.engine.battle import Side
from bot.engine.pacing import Pace
from bot.engine.server_settings import (
    ALLOWED_MODELS,
    AUDIO,
    DAILY_BUDGET_USD,
    GLOBAL_OPT_OUT,
    PACE,
    ROUNDS,
    SETTINGS,
    VOTE_SECONDS,
    ServerRules,
    ServerSettings,
)
from bot.engine.setting import InvalidSetting, SettingKind, check_emoji
from bot.errors import UserError

DEFAULTS = ServerRules.defaults({ROUNDS: 3, VOTE_SECONDS: 60})


def test_no_changes_means_the_defaults():
    assert ServerSettings().apply_to(DEFAULTS) == DEFAULTS


def test_changes_override_only_what_they_name():
    settings = ServerSettings().changed(rounds=5, emoji_b="🔥", allowed_models=("a/x", "b/y"))
    rules = settings.apply_to(DEFAULTS)
    assert rules[ROUNDS] == 5 and rules[VOTE_SECONDS] == 60
    assert rules.emoji == {Side.A: "🅰️", Side.B: "🔥"}
    assert rules[ALLOWED_MODELS] == ("a/x", "b/y")
    assert settings.overrides() == {"rounds": 5, "emoji_b": "🔥", "allowed_models": ("a/x", "b/y")}


def test_the_process_defaults_are_overridden_by_the_server():
    rules = ServerSettings(pace=Pace(0)).apply_to(ServerRules.defaults({PACE: Pace(7)}))
    assert rules[PACE] == Pace(0)
    assert ServerSettings().apply_to(ServerRules.defaults({PACE: Pace(7)}))[PACE] == Pace(7)


def test_choosing_a_default_no_process_can_move_changes_nothing():
    assert ServerSettings(global_opt_out=False) == ServerSettings()
    # The process may move the default rounds, so choosing today's default is still a choice.
    assert ServerSettings(rounds=3).overrides() == {"rounds": 3}


def test_every_setting_round_trips_through_its_column():
    chosen = ServerSettings(
        pace=Pace(2.5),
        vote_seconds=120,
        rounds=4,
        emoji_a="🔥",
        emoji_b="<:pog:123456789012345678>",
        allowed_models=("a/x", "b/y"),
        cooldown_seconds=15.0,
        max_battles=2,
        blind_default=True,
        global_opt_out=True,
        threads=True,
        public_page=True,
        judges=True,
        judge_models=("c/judge", "d/judge"),
        judge_recusal=True,
        min_account_age_days=7,
        clean=False,
        daily_budget_usd=12.5,
        audio=True,
        season="month",
        content_filter="strict",
        max_votes_per_day=20,
        voice="follow",
    )
    assert {setting.name for setting in SETTINGS} == set(chosen.overrides())
    assert ServerSettings.from_row(chosen.to_row()) == chosen
    assert ServerSettings.from_row(ServerSettings().to_row()) == ServerSettings()


@pytest.mark.parametrize(
    ("setting", "raw", "parsed"),
    [
        (PACE, "auto", Pace(None)),
        (PACE, " 3 ", Pace(3)),
        (ALLOWED_MODELS, "all", None),
        (ALLOWED_MODELS, "qwen-max, grok ,", ("qwen-max", "grok")),
        (GLOBAL_OPT_OUT, True, True),
        (DAILY_BUDGET_USD, "2.50", 2.5),
        (DAILY_BUDGET_USD, "$5", 5.0),
        (DAILY_BUDGET_USD, "10000", 10_000.0),
        (DAILY_BUDGET_USD, ".75", 0.75),
        (DAILY_BUDGET_USD, "None", None),
    ],
)
def test_command_values_are_parsed_by_their_setting(setting, raw, parsed):
    assert setting.parse(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "between \\$0.01 and \\$10,000"),
        ("10000.01", "between \\$0.01 and \\$10,000"),
        ("-3", "not an amount in dollars"),
        ("five", "not an amount in dollars"),
        ("1e3", "not an amount in dollars"),
        ("2.505", "at most two decimals"),
    ],
)
def test_a_budget_is_dollars_and_cents_within_its_range(raw, message):
    with pytest.raises(InvalidSetting, match=message):
        DAILY_BUDGET_USD.parse(raw)


def test_a_bad_pace_is_a_setting_error():
    with pytest.raises(InvalidSetting, match="Pace must be"):
        PACE.parse("soon")


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


def test_battle_tracks_are_a_switch_off_by_default_after_the_budget():
    assert AUDIO.name == "audio" and AUDIO.kind is SettingKind.SWITCH
    assert SETTINGS[SETTINGS.index(DAILY_BUDGET_USD) + 1] is AUDIO
    assert ServerRules.defaults()[AUDIO] is False
    assert (AUDIO.show(False), AUDIO.show(True)) == ("off", "on")
    assert ServerSettings(audio=True).apply_to(DEFAULTS)[AUDIO] is True
    # Off is the default and no process moves it: choosing it is no change.
    assert ServerSettings(audio=False) == ServerSettings()


def test_every_setting_fits_a_slash_command_option():
    assert len(SETTINGS) <= 25  # Discord's options per command
    for setting in SETTINGS:
        assert 1 <= len(setting.description) <= 100, setting.name
