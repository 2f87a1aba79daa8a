"""The content filter the settings ask for, for every front end: the moderation endpoint when
MODERATION_BASE_URL is set, and the offline word list always."""

from __future__ import annotations

from bot.moderation.endpoint import ModerationClient
from bot.moderation.offline import offline_word_list
from bot.observe import NO_OBSERVER, Observer
from bot.services.moderation.screen import ContentFilter
from bot.settings import Settings


def content_filter(settings: Settings, observe: Observer = NO_OBSERVER) -> ContentFilter:
    """A new filter; ``await close()`` it when done (it may hold an HTTP client)."""
    endpoint = None
    if settings.moderation_base_url is not None:
        endpoint = ModerationClient(
            settings.moderation_base_url, settings.moderation_api_key, settings.moderation_model
        )
    return ContentFilter(offline_word_list(), endpoint, observe)
