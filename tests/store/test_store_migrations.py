"""Migrations up and down, schema == models, first-use creation, connection settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from tests.conftest import require
from tradingmodel.store import StoreError, current_revision, downgrade, get_engine, upgrade
from tradingmodel.store.engine import head_revision, open_engine
from tradingmodel.store.schema import Base

from .conftest import PgDatabases

EXPECTED_TABLES = {
    "market_data",
    "predictions",
    "models",
    "training_jobs",
    "orders",
    "fills",
    "positions",
    "runs",
    "fetch_progress",
    "events",
    "session_state",
}


def _tables(url: str) -> set[str]:
    return set(inspect(open_engine(url)).get_table_names()) - {"alembic_version"}


def test_get_engine_creates_and_migrates_a_new_database(fresh_url: str) -> None:
    if fresh_url.startswith("sqlite"):
        assert not Path(make_url(fresh_url).database).parent.exists()
    engine = get_engine(fresh_url)
    assert current_revision(engine) == head_revision()
    assert _tables(fresh_url) == EXPECTED_TABLES
    assert get_engine(fresh_url) is engine  # cached per URL


@pytest.mark.postgres
def test_get_engine_creates_a_missing_postgres_database(pg_databases: PgDatabases | None) -> None:
    require(pg_databases is not None, "PostgreSQL")
    assert pg_databases is not None
    url = pg_databases.url_of(pg_databases.new_name())  # not created: get_engine must create it
    engine = get_engine(url)
    assert current_revision(engine) == head_revision()
    assert _tables(url) == EXPECTED_TABLES


def test_migrations_down_and_up(fresh_url: str) -> None:
    engine = get_engine(fresh_url)
    with engine.begin() as conn:  # data is dropped with the tables on the way down
        conn.execute(
            text(
                "INSERT INTO runs (kind, status, config_toml, metrics, symbols, timeframe, created_at) "
                "VALUES ('backtest', 'finished', '', '{}', '[]', '1m', CURRENT_TIMESTAMP)"
            )
        )
    assert downgrade(fresh_url, "base") is None
    assert _tables(fresh_url) == set()
    assert upgrade(fresh_url) == head_revision()
    assert _tables(fresh_url) == EXPECTED_TABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 0


def test_migrated_schema_matches_the_models(fresh_url: str) -> None:
    engine = get_engine(fresh_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_indexes_for_the_api_queries(fresh_url: str) -> None:
    insp = inspect(get_engine(fresh_url))
    pk = insp.get_pk_constraint("market_data")["constrained_columns"]
    assert pk == ["symbol", "timeframe", "timestamp"]  # unique bar key, also serves range reads
    indexed = {t: [tuple(ix["column_names"]) for ix in insp.get_indexes(t)] for t in ("orders", "fills", "runs")}
    assert ("run_id", "created_at") in indexed["orders"]
    assert ("order_id",) in indexed["fills"]
    assert ("kind", "created_at") in indexed["runs"]


def test_bar_column_types(fresh_url: str) -> None:
    engine = get_engine(fresh_url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            types = dict(
                conn.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'market_data' AND table_schema = current_schema()"
                    )
                ).all()
            )
            expected = {"timestamp": "timestamp with time zone", "volume": "bigint", "indicators": "jsonb"}
        else:
            types = {r[1]: r[2] for r in conn.exec_driver_sql("PRAGMA table_info(market_data)").all()}
            expected = {"timestamp": "DATETIME", "volume": "BIGINT", "indicators": "JSON"}
    assert {k: types[k] for k in expected} == expected


def test_unknown_tables_are_not_taken_over(fresh_url: str) -> None:
    engine = open_engine(fresh_url)
    if fresh_url.startswith("sqlite"):
        Path(make_url(fresh_url).database).parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE something_else (x INTEGER)"))
    with pytest.raises(StoreError, match="no migration history"):
        get_engine(fresh_url)


def test_sqlite_connections_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_default_url_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    engine = get_engine()
    assert Path(engine.url.database) == tmp_path / "data" / "tradingmodel.db"  # the relative default, fixed here
    assert (tmp_path / "data" / "tradingmodel.db").is_file()


def test_two_processes_creating_the_same_new_database(fresh_url: str) -> None:
    code = (
        "import sys; from tradingmodel.store import get_engine, current_revision; "
        "print(current_revision(get_engine(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == [head_revision()] * 2


def test_a_connection_answered_locked_at_once_retries_the_wal_switch(tmp_path: Path) -> None:
    """SQLite answers "database is locked" at once, without its busy timeout, to one of two connections that
    would deadlock on the lock upgrade (two processes opening a new file): the WAL switch is retried, on a real
    file, until it goes through; another error, or one past the deadline, is raised."""
    import sqlite3

    from tradingmodel.store.engine import retry_locked

    db = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    answers = iter([sqlite3.OperationalError("database is locked")] * 3)

    def switch() -> str:
        err = next(answers, None)
        if err is not None:
            raise err
        return db.execute("PRAGMA journal_mode = WAL").fetchone()[0]

    assert retry_locked(switch) == "wal"
    assert next(answers, None) is None  # tried four times

    def fails(message: str) -> None:
        raise sqlite3.OperationalError(message)

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        retry_locked(lambda: fails("disk I/O error"))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        retry_locked(lambda: fails("database is locked"), seconds=0.05)
