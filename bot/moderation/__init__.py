"""The content filter's adapters: the moderation endpoint client, the offline word list loaded
from its package, and the filter built from the settings for every front end."""
