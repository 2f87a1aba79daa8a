"""The names and faces MCs post under through a webhook."""

from bot.engine.battle import Battle, Side
from bot.engine.discord_limits import WEBHOOK_USERNAME_CHARS
from bot.stages.webhooks import AvatarUrls, stage_name, webhook_username


def test_stage_names_are_the_model_after_its_vendor_or_the_blind_names():
    battle = Battle("qwen/qwen-max", "meta-llama/llama-3-70b-instruct")
    assert [stage_name(battle, side) for side in Side] == ["qwen-max", "llama-3-70b-instruct"]
    assert stage_name(Battle("local-model", "x-ai/grok-2"), Side.A) == "local-model"
    blind = Battle("qwen/qwen-max", "x-ai/grok-2", blind=True)
    assert [stage_name(blind, side) for side in Side] == ["MC A", "MC B"]


def test_webhook_usernames_avoid_the_words_discord_refuses_and_fit_discords_limit():
    assert webhook_username("discord-bot") != "discord-bot"
    assert "discord" not in webhook_username("Discord-bot").lower()
    assert "clyde" not in webhook_username("clyde-7b").lower()
    assert len(webhook_username("m" * 120)) == WEBHOOK_USERNAME_CHARS
    assert webhook_username("   ") == "MC"


def test_avatars_from_the_template_then_the_web_arena_then_none():
    battle = Battle("qwen/qwen-max", "x-ai/grok-2")
    templated = AvatarUrls("https://faces.example/{vendor}/{model}.png", "https://arena.example")
    assert templated.for_side(battle, Side.B) == "https://faces.example/x-ai/x-ai%2Fgrok-2.png"
    web = AvatarUrls(None, "https://arena.example/")
    assert web.for_side(battle, Side.A) == "https://arena.example/avatars/qwen/qwen-max.png"
    assert AvatarUrls(None, None).for_side(battle, Side.A) is None


def test_blind_avatars_are_the_same_two_neutral_faces_in_every_battle():
    urls = AvatarUrls("https://faces.example/{vendor}.png", "https://arena.example")
    one = Battle("qwen/qwen-max", "x-ai/grok-2", blind=True)
    other = Battle("openai/gpt-4o", "anthropic/claude-3.5-sonnet", blind=True)
    faces = [urls.for_side(one, side) for side in Side]
    assert faces == [urls.for_side(other, side) for side in Side]
    assert faces == [
        "https://arena.example/avatars/MC%20A.png",
        "https://arena.example/avatars/MC%20B.png",
    ]
    assert AvatarUrls("https://faces.example/{vendor}.png", None).for_side(one, Side.A) is None
