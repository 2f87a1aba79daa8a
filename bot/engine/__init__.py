"""The pure battle rules: no network, no Discord, no database, no asyncio."""
