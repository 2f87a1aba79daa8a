"""rapbattle: rap battles between large language models, hosted on Discord or in a terminal."""
