"""Discord's size limits, declared once: the splitter, the embeds, the bracket and the stages
all read them from here (values from Discord's API documentation); and when a snowflake was made.
"""

MESSAGE_CHARS = 2000
EMBED_TITLE_CHARS = 256
EMBED_DESCRIPTION_CHARS = 4096
EMBED_FIELDS = 25
EMBED_FIELD_NAME_CHARS = 256
EMBED_FIELD_VALUE_CHARS = 1024
EMBED_TOTAL_CHARS = 6000
THREAD_NAME_CHARS = 100
WEBHOOK_USERNAME_CHARS = 80
AUTOCOMPLETE_CHOICES = 25
AUTOCOMPLETE_NAME_CHARS = 100
ATTACHMENT_BYTES = 10 * 1024 * 1024
AUTOCOMPLETE_VALUE_CHARS = 100

# A snowflake's top 42 bits are milliseconds since Discord's epoch, the first second of 2015.
DISCORD_EPOCH_MS = 1_420_070_400_000
SNOWFLAKE_TIME_SHIFT = 22


def snowflake_time(snowflake: int) -> float:
    """When a Discord id (a message's, say) was made, in Unix seconds."""
    return ((snowflake >> SNOWFLAKE_TIME_SHIFT) + DISCORD_EPOCH_MS) / 1000
