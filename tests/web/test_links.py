"""Links to the web arena, as other parts of the bot build them."""

from bot.services import links


def test_model_paths_keep_the_slash_and_escape_the_rest():
    assert links.model_path("qwen/qwen-max") == "/models/qwen/qwen-max"
    assert links.model_path('a/b c?d#e"') == "/models/a/b%20c%3Fd%23e%22"
    assert links.avatar_path("MC A") == "/avatars/MC%20A.png"
    assert links.avatar_path("openai/gpt-4o:free") == "/avatars/openai/gpt-4o:free.png"


def test_absolute_links_under_the_public_url():
    assert links.absolute("https://arena.example.org/", links.battle_path(7)) == (
        "https://arena.example.org/battles/7"
    )
    assert links.absolute("https://x.org/arena", links.server_path(5)) == (
        "https://x.org/arena/servers/5"
    )
