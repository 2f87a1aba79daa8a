"""Tournaments: one runner for every front end, and a match player per front end."""
