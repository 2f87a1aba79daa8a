"""When a Discord id was made: the example from Discord's API reference."""

from bot.engine.discord_limits import snowflake_time


def test_a_snowflake_tells_when_it_was_made():
    # Discord's reference: 175928847299117063 was made at 2016-04-30 11:18:25.796 UTC.
    assert snowflake_time(175928847299117063) == 1_462_015_105.796
    assert snowflake_time(0) == 1_420_070_400.0  # Discord's epoch, the first second of 2015
