"""Battles: the arena and its sessions, the bout and its referee, and the standings."""
