"""House rules: identity leaks, fresh accounts, cost bounds, the daily budget, clean mode."""

import datetime

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.discord_limits import DISCORD_EPOCH_MS, snowflake_time
from bot.engine.house_rules import (
    BILLED_VERSE_ATTEMPTS,
    CHARS_PER_TOKEN,
    CLEAN_MODE_LINE,
    MESSAGE_OVERHEAD_TOKENS,
    Pricing,
    PromptSizes,
    battle_cost_upper_bound,
    check_daily_budget,
    clean_mode_applies,
    estimate_tokens,
    identifying_names,
    identity_leak_reason,
    is_fresh,
    leaked_names,
    leaks_identity,
    next_utc_midnight,
    set_aside_line,
    sides_that_leaked,
    spend_from_usage,
    verse_cost_upper_bound,
)
from bot.engine.prompts import messages_for, system_prompt
from bot.engine.verdicts import JUDGE_ASKS
from bot.engine.vote_audit import VoteRules, audit_votes
from bot.engine.votes import Tally

# -- identity leaks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "verse",
    [
        "Qwen on the mic, you already know",
        "They call me QWEN, the king of the flow",
        "That's Qwen's crown you're trying to hold",
        "Qwen-chan rhymes never get old",
        "qwen/qwen-max in the house tonight",
        "I'm qwen-max, maxed out on might",
        "Spitting like (qwen) — 2024's best",
        "Qwen2 bars put you to rest",
    ],
)
def test_a_verse_naming_its_own_model_or_vendor_leaks(verse):
    assert leaks_identity(verse, "qwen/qwen-max")


@pytest.mark.parametrize(
    "verse",
    [
        "I'm qwenching my thirst on your tears",  # "qwen" inside another word
        "Subqwen rhymes",  # letters before it
        "Q-wen is not a name",
        "Plain bars about nothing in particular",
    ],
)
def test_qwen_inside_other_words_is_a_near_miss(verse):
    assert not leaks_identity(verse, "qwen/qwen-max")


def test_vendor_names_beyond_the_catalog_id():
    assert leaks_identity("Built by OpenAI, I rhyme in my sleep", "openai/gpt-4o")
    assert leaks_identity("GPT on the beat", "openai/gpt-4o")
    assert not leaks_identity("I flew openairline to the show", "openai/gpt-4o")
    assert not leaks_identity("My flow is adaptable", "openai/gpt-4o")  # "gpt" inside a word
    assert leaks_identity("I'm Claude and my flow is stable", "anthropic/claude-3.5-sonnet")
    assert leaks_identity("Meta made me, the llama of the game", "meta-llama/llama-3-70b")
    # The vendor's name counts as a word even when it is also an English one.
    assert leaks_identity("this verse is so meta", "meta-llama/llama-3-70b")
    assert not leaks_identity("metaphors for days", "meta-llama/llama-3-70b")
    assert leaks_identity("xAI raised me", "x-ai/grok-2")
    assert leaks_identity("X-AI raised me", "x-ai/grok-2")
    assert not leaks_identity("the max aisle", "x-ai/grok-2")
    assert leaks_identity("Mistral winds blow you away", "mistralai/mistral-large")
    assert leaks_identity("DeepSeek seeking your defeat", "deepseek/deepseek-chat")
    assert not leaks_identity("deepseeker of truth", "deepseek/deepseek-chat")
    # Names of other vendors don't give this model away.
    assert not leaks_identity("Better than Claude and GPT", "qwen/qwen-max")


def test_short_names_with_digits_and_hyphens_match_as_a_whole():
    model = "meta-llama/llama-3-70b-instruct"
    assert leaked_names("llama-3-70b-instruct never lost", model) == ("llama-3-70b-instruct",)
    assert leaks_identity("Llama 3 70B Instruct in the booth", model)
    assert leaks_identity("meta-llama rules", model)
    # The short name is not split into its pieces: "70b" alone names nothing.
    assert not leaks_identity("I got 70b reasons", model)
    assert "llama-3-70b-instruct" in identifying_names(model)


def test_leaked_names_reports_what_the_verse_wrote():
    found = leaked_names("Qwen's back, qwen/qwen-max, and QWEN again", "qwen/qwen-max")
    assert found == ("Qwen", "qwen/qwen-max")  # "qwen-max" is part of the id: counted once


def test_sides_that_leaked_checks_each_side_against_its_own_model():
    battle = Battle("qwen/qwen-max", "openai/gpt-4o", blind=True)
    verses = [(Side.A, "I'm MC A"), (Side.B, "OpenAI built me"), (Side.A, "GPT is weak")]
    assert sides_that_leaked(battle, verses) == frozenset({Side.B})


def test_a_model_id_without_vendor():
    assert identifying_names("local-model") == ("local-model",)
    assert leaks_identity("I am local-model", "local-model")
    assert not leaks_identity("I am local", "local-model")


# -- fresh accounts ----------------------------------------------------------------------------


def test_when_a_snowflake_was_made():
    # Discord's documented example: 175928847299117063 was made at 2016-04-30 11:18:25.796 UTC.
    created = snowflake_time(175928847299117063)
    expected = datetime.datetime(2016, 4, 30, 11, 18, 25, 796000, tzinfo=datetime.UTC)
    assert created == pytest.approx(expected.timestamp(), abs=1e-6)
    assert snowflake_time(0) == DISCORD_EPOCH_MS / 1000


def test_is_fresh_against_the_minimum_age():
    now = 1_800_000_000.0
    five_days_old = ((int((now - 5 * 86_400) * 1000) - DISCORD_EPOCH_MS) << 22) | 12345
    assert is_fresh(five_days_old, now, 7)
    assert not is_fresh(five_days_old, now, 5)  # exactly old enough
    assert not is_fresh(five_days_old, now, 3)
    assert not is_fresh(five_days_old, now, 0)  # the default: nobody is fresh


def test_identity_leak_reason_names_who_said_what_in_blind_battles_only():
    blind = Battle("qwen/qwen-max", "x-ai/grok-2", blind=True)
    verses = [
        (Side.A, "qwenching thirst, no names here"),
        (Side.B, "Grok-2 in the booth, xAI taught me"),
        (Side.B, "GROK again"),
    ]
    assert identity_leak_reason(blind, verses) == (
        "a verse named its own model or vendor (MC B said 'Grok-2', 'xAI', 'GROK'), "
        "so the blind vote is not rated"
    )
    assert identity_leak_reason(blind, verses[:1]) is None  # a near miss leaks nothing
    # A side naming its opponent's model gives nothing of its own away.
    assert identity_leak_reason(blind, [(Side.A, "Grok can't touch me")]) is None
    # In an open battle the names are on the title card: nothing to leak.
    open_battle = Battle("qwen/qwen-max", "x-ai/grok-2")
    assert identity_leak_reason(open_battle, verses) is None


def test_fresh_accounts_are_set_aside_from_a_tally():
    now = 1_800_000_000.0

    def made(days_ago: float) -> int:
        return (int((now - days_ago * 86_400) * 1000) - DISCORD_EPOCH_MS) << 22

    ballots = {made(1): Side.A, made(10): Side.A, made(30): Side.B, made(2.9): Side.B}
    counted = audit_votes(Tally(ballots), now, VoteRules(min_age_days=3), {})
    assert counted.tally == Tally({made(10): Side.A, made(30): Side.B})
    assert counted.set_aside == 2
    assert audit_votes(Tally(ballots), now, VoteRules(min_age_days=0), {}).tally == Tally(ballots)
    assert audit_votes(Tally(ballots), now, VoteRules(min_age_days=0), {}).set_aside == 0
    assert set_aside_line(1, 3) == (
        "1 vote was set aside: this server counts votes from accounts at least 3 days old."
    )
    assert set_aside_line(2).startswith("2 votes were set aside: they came from accounts")


# -- cost --------------------------------------------------------------------------------------


def test_pricing_from_openrouter_catalog_strings():
    assert Pricing.from_catalog({"prompt": "0.000002", "completion": "0.00001"}) == Pricing(
        2e-6, 1e-5
    )
    assert Pricing.from_catalog({"prompt": "-1", "completion": "-1"}) is None
    assert Pricing.from_catalog({"prompt": "0"}) is None
    assert Pricing.from_catalog({"prompt": "abc", "completion": "0"}) is None


def test_spend_from_usage():
    pricing = Pricing(prompt=1e-6, completion=4e-6)
    assert spend_from_usage(1000, 500, pricing) == pytest.approx(0.003)
    assert spend_from_usage(0, 0, pricing) == 0


def test_tokens_are_counted_conservatively():
    assert CHARS_PER_TOKEN == 3
    assert estimate_tokens("abcdefg") == 3  # 7 / 3 rounded up
    assert estimate_tokens(9) == 3
    assert estimate_tokens("") == 0


def test_battle_bound_covers_the_real_requests_at_their_longest():
    battle = Battle("vendor/a", "vendor/b", rounds=3, topic="cats")
    max_tokens = 50
    pricing = {"vendor/a": Pricing(1e-6, 2e-6), "vendor/b": Pricing(3e-6, 5e-6)}
    sizes = PromptSizes.for_battle(battle, clean=False)
    bound = battle_cost_upper_bound(battle, sizes, max_tokens, pricing)

    # Replay the battle with verses as long as max_tokens allows, using the real prompt
    # builder, and price each request by the same token estimate: the bound is above.
    history = []
    actual = 0.0
    for slot in battle.plan():
        if slot.side is None:
            history.append(battle.turn(slot, "Final round!"))
            continue
        messages = messages_for(battle, slot.side, history)
        prompt_chars = sum(len(m["content"]) for m in messages)
        prompt_tokens = estimate_tokens(prompt_chars) + len(messages) * MESSAGE_OVERHEAD_TOKENS
        actual += spend_from_usage(prompt_tokens, max_tokens, pricing[battle.model(slot.side)])
        history.append(battle.turn(slot, "x" * (max_tokens * CHARS_PER_TOKEN)))
    # Each verse may be billed twice (one retry: tests/test_retry_costs.py).
    assert bound >= BILLED_VERSE_ATTEMPTS * actual
    assert bound <= BILLED_VERSE_ATTEMPTS * actual * 1.2  # and not wildly above


def test_bound_grows_with_history_and_with_judges():
    battle = Battle("vendor/a", "vendor/b", rounds=2)
    pricing = {"vendor/a": Pricing(1e-6, 1e-6), "vendor/b": Pricing(1e-6, 1e-6)}
    sizes = PromptSizes(system_a=300, system_b=300, judge_prompt=900, judge_max_tokens=200)
    alone = battle_cost_upper_bound(battle, sizes, 100, pricing)
    # 4 verses; the k-th verse carries k earlier verses of at most 100 tokens each.
    per_verse_fixed = (
        estimate_tokens(300) + estimate_tokens(sizes.per_request) + 3 * MESSAGE_OVERHEAD_TOKENS
    )
    announcement = estimate_tokens("Final round!") + MESSAGE_OVERHEAD_TOKENS
    history = [0, 108, 216 + announcement, 324 + announcement]
    expected_tokens = sum(per_verse_fixed + h + 100 for h in history)
    assert alone == pytest.approx(BILLED_VERSE_ATTEMPTS * expected_tokens * 1e-6)

    judge = Pricing(2e-6, 10e-6)
    with_judges = battle_cost_upper_bound(battle, sizes, 100, pricing, judges=[judge] * 3)
    judge_prompt = estimate_tokens(900) + 2 * MESSAGE_OVERHEAD_TOKENS + 4 * 108 + announcement
    per_judge = judge_prompt * 2e-6 + 200 * 10e-6
    assert with_judges == pytest.approx(alone + 3 * JUDGE_ASKS * per_judge)
    assert battle_cost_upper_bound(battle, sizes, 200, pricing) > alone


def test_clean_mode_line_is_counted_in_prompt_sizes():
    battle = Battle("vendor/a", "vendor/b")
    clean = PromptSizes.for_battle(battle, clean=True)
    plain = PromptSizes.for_battle(battle, clean=False)
    assert clean.system_a - plain.system_a == len(CLEAN_MODE_LINE) + 1


def test_verse_bound_and_missing_pricing():
    assert verse_cost_upper_bound(30, 90, 100, Pricing(1e-6, 2e-6)) == pytest.approx(
        (10 + 90) * 1e-6 + 100 * 2e-6
    )
    battle = Battle("vendor/a", "vendor/b")
    with pytest.raises(ValueError, match="vendor/b"):
        battle_cost_upper_bound(battle, PromptSizes(10, 10), 100, {"vendor/a": Pricing(0, 0)})


# -- daily budget ------------------------------------------------------------------------------


def test_daily_budget_refuses_a_battle_that_would_go_over():
    now = datetime.datetime(2026, 11, 30, 21, 15, tzinfo=datetime.UTC)
    midnight = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    refused = check_daily_budget(0.90, 0.20, 1.00, now)
    assert not refused.allowed and refused.resets_at == midnight
    assert refused.left_today == pytest.approx(0.10)
    assert check_daily_budget(0.80, 0.20, 1.00, now).allowed  # exactly on budget
    assert check_daily_budget(500.0, 9.0, None, now).allowed  # no budget set
    assert check_daily_budget(0.0, 0.0, None, now).left_today is None


def test_budget_resets_at_the_next_utc_midnight_whatever_the_time_zone():
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    # 08:00 in Tokyo on Dec 1 is 23:00 UTC on Nov 30.
    now = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=tokyo)
    assert next_utc_midnight(now) == datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    exactly = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    assert next_utc_midnight(exactly) == datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)


# -- clean mode --------------------------------------------------------------------------------


def test_clean_mode_is_off_only_when_turned_off_in_an_age_restricted_channel():
    assert clean_mode_applies(setting_on=True, channel_is_age_restricted=False)
    assert clean_mode_applies(setting_on=True, channel_is_age_restricted=True)
    assert clean_mode_applies(setting_on=False, channel_is_age_restricted=False)
    assert not clean_mode_applies(setting_on=False, channel_is_age_restricted=True)


def test_clean_mode_ends_each_system_message_only_when_the_battle_asks_for_it():
    clean = Battle("qwen/qwen-max", "x-ai/grok-2", topic="cats", clean=True)
    for side in Side:
        assert system_prompt(clean, side).endswith(" " + CLEAN_MODE_LINE)
        messages = messages_for(clean, side, [])
        assert messages[0] == {"role": "system", "content": system_prompt(clean, side)}
        assert CLEAN_MODE_LINE not in system_prompt(Battle("qwen/qwen-max", "x-ai/grok-2"), side)


def test_clean_mode_line_asks_for_the_three_things():
    line = CLEAN_MODE_LINE.lower()
    assert "slurs" in line and "sexual" in line and "private people" in line
    assert "\n" not in CLEAN_MODE_LINE
