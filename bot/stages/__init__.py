"""Stages: where a referee shows a battle."""
