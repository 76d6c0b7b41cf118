"""Database fixtures: every store test runs on SQLite and on the real PostgreSQL.

PostgreSQL: the server from ``TEST_DATABASE_URL`` / ``TEST_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); a fresh database ``tradingmodel_test_<random>``
is created for the session (emptied before each test) and dropped at the end. Unreachable → skipped
locally, failed in CI (``tests.conftest.require``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import require
from tradingmodel.store import dispose_engines, get_engine

PG_SERVER = (
    os.environ.get("TEST_DATABASE_URL")
    or os.environ.get("TEST_PG_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TABLES = (
    "events",
    "session_state",
    "fills",
    "positions",
    "orders",
    "runs",
    "training_jobs",
    "predictions",
    "models",
    "fetch_progress",
    "market_data",
)


def _admin() -> Engine:
    u = make_url(PG_SERVER)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(
        u.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 3},
    )


def _pg_reachable() -> bool:
    try:
        with _admin().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


class PgDatabases:
    """Creates uniquely named test databases on the server and drops them all at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def url_of(self, name: str) -> str:
        return (
            make_url(PG_SERVER)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )

    def new_name(self) -> str:
        """A unique database name, dropped at the end of the session (whoever creates it)."""
        name = f"tradingmodel_test_{uuid.uuid4().hex[:12]}"
        self.names.append(name)
        return name

    def new_url(self) -> str:
        name = self.new_name()
        with _admin().connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.url_of(name)

    def drop_all(self) -> None:
        dispose_engines()
        with _admin().connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases | None]:
    if not _pg_reachable():
        yield None
        return
    dbs = PgDatabases()
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="session")
def pg_session_url(pg_databases: PgDatabases | None) -> str | None:
    return pg_databases.new_url() if pg_databases is not None else None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object, pg_session_url: str | None) -> Iterator[str]:
    """A migrated, empty database: a new SQLite file, or the session's PostgreSQL database truncated."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
        yield url
        return
    require(pg_session_url is not None, f"PostgreSQL at {make_url(PG_SERVER).render_as_string()}")
    assert pg_session_url is not None
    engine = get_engine(pg_session_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS tm_test_fail ON market_data")
    yield pg_session_url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return get_engine(db_url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: object, pg_session_url: str | None) -> Iterator[str]:
    """A database without any table, for migration tests: a SQLite file that does not exist yet, or a new
    empty schema (first on the search path) in the session's PostgreSQL database — much cheaper than a
    database per test, which PostgreSQL creates and drops with a checkpoint each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/sub/dir/fresh.db"
        return
    require(pg_session_url is not None, f"PostgreSQL at {make_url(PG_SERVER).render_as_string()}")
    assert pg_session_url is not None
    schema = f"fresh_{uuid.uuid4().hex[:12]}"
    engine = get_engine(pg_session_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield (
        make_url(pg_session_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
