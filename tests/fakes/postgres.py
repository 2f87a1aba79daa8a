"""A fresh PostgreSQL schema per test on the TEST_DATABASE_URL server, or a skip saying why."""

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

import pytest

# A server found unreachable once is not tried again by every test.
_unreachable: dict[str, str] = {}


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A DATABASE_URL with a fresh schema on the TEST_DATABASE_URL server; skips without one."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        pytest.skip("PostgreSQL: TEST_DATABASE_URL is not set")
    asyncpg = pytest.importorskip("asyncpg", reason="PostgreSQL: asyncpg is not installed")
    if server in _unreachable:
        pytest.skip(_unreachable[server])
    try:
        admin = await asyncpg.connect(server, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        _unreachable[server] = f"PostgreSQL at TEST_DATABASE_URL is unreachable: {error}"
        pytest.skip(_unreachable[server])
    schema = f"rapbattle_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield f"{server}{'&' if '?' in server else '?'}schema={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
