"""Battle tracks: a battle read aloud, host and MCs each in a voice, through a speech port."""
