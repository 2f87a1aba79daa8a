"""Schedules: battles and tournaments a server runs by itself, every so often."""
