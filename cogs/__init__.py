"""Discord command groups: thin, one extension per feature."""
