FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Battle tracks speak offline through espeak-ng unless TTS_BASE_URL names a speech endpoint;
# live battles in voice channels encode Opus through libopus0.
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng libopus0 \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, from pyproject alone, so code changes don't reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir bot cogs && touch bot/__init__.py cogs/__init__.py \
    && pip install ".[postgres]" && pip uninstall -y rapbattle && rm -rf bot cogs

COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-deps ".[postgres]"

RUN useradd --create-home --uid 10001 rapbattle && mkdir /data && chown rapbattle /data
USER rapbattle
VOLUME ["/data"]
# On the volume, which the rapbattle user owns (/app is not writable). An --env-file that sets
# DATABASE_URL overrides this, so .env.example leaves it commented out.
ENV DATABASE_URL=sqlite:////data/rapbattle.db

ENTRYPOINT ["rapbattle"]
CMD ["run"]
