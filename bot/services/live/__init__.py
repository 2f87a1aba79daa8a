"""Live on stage: a battle performed in a voice or Stage channel as its verses are posted."""
