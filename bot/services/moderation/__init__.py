"""The content filter: every verse screened before any surface shows it."""
