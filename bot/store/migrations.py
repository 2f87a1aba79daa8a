"""Versioned schema migrations, applied in order, each in its own transaction."""

MIGRATIONS: tuple[str, ...] = (
    # 1: battles, their turns and the ballots counted when voting closed.
    """
    CREATE TABLE battles (
        id INTEGER PRIMARY KEY,
        guild_id BIGINT NOT NULL,
        channel_id BIGINT NOT NULL,
        starter_id BIGINT NOT NULL,
        model_a TEXT NOT NULL,
        model_b TEXT NOT NULL,
        rounds INTEGER NOT NULL,
        topic TEXT,
        blind BOOLEAN NOT NULL,
        sides_swapped BOOLEAN NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        vote_message_id BIGINT,
        vote_closes_at DOUBLE PRECISION,
        emoji_a TEXT,
        emoji_b TEXT,
        votes_a INTEGER,
        votes_b INTEGER,
        closed_at DOUBLE PRECISION,
        results_message_id BIGINT
    );
    CREATE INDEX battles_by_state ON battles (state);
    CREATE INDEX battles_by_guild ON battles (guild_id, id);
    CREATE INDEX battles_by_starter ON battles (guild_id, starter_id, created_at);
    CREATE TABLE turns (
        battle_id INTEGER NOT NULL REFERENCES battles (id),
        position INTEGER NOT NULL,
        speaker TEXT NOT NULL,
        side TEXT,
        round INTEGER NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (battle_id, position)
    );
    CREATE TABLE ballots (
        battle_id INTEGER NOT NULL REFERENCES battles (id),
        user_id BIGINT NOT NULL,
        side TEXT NOT NULL,
        PRIMARY KEY (battle_id, user_id)
    );
    """,
    # 2: per-server settings, and the aggregates ratings are fitted from.
    """
    CREATE TABLE server_settings (
        guild_id BIGINT PRIMARY KEY,
        rounds INTEGER,
        pace TEXT,
        vote_seconds INTEGER,
        cooldown_seconds DOUBLE PRECISION,
        max_battles INTEGER,
        emoji_a TEXT,
        emoji_b TEXT,
        allowed_models TEXT,
        blind_default BOOLEAN,
        global_opt_out BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE pair_stats (
        guild_id BIGINT NOT NULL,
        model_a TEXT NOT NULL,
        model_b TEXT NOT NULL,
        battles DOUBLE PRECISION NOT NULL,
        score_a DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (guild_id, model_a, model_b)
    );
    CREATE TABLE model_stats (
        guild_id BIGINT NOT NULL,
        model TEXT NOT NULL,
        wins INTEGER NOT NULL,
        losses INTEGER NOT NULL,
        draws INTEGER NOT NULL,
        battles INTEGER NOT NULL,
        votes INTEGER NOT NULL,
        PRIMARY KEY (guild_id, model)
    );
    CREATE INDEX battles_by_guild_closed ON battles (guild_id, state, id);
    """,
)
