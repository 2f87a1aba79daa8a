"""Audio adapters: speech engines (espeak-ng, OpenAI-compatible endpoints) and the codec."""
