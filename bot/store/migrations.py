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
)
