"""Engines, connection settings and schema migrations.

* PostgreSQL: a connection pool (``pool_pre_ping`` so a restarted server is survived).
* SQLite: WAL journal and a busy timeout, so the API (reader) and an importer (writer) can share one file;
  transactions are begun explicitly by SQLAlchemy (``BEGIN``, or ``BEGIN IMMEDIATE`` for writers, which waits
  for the write lock up front instead of failing half-way through).
* :func:`get_engine` creates the database (SQLite file, or PostgreSQL database on the server) and migrates it
  to the newest revision on first use; an existing database at an older revision is left alone and reported,
  so a schema change is always an explicit ``tradingmodel db upgrade``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from tradingmodel.store.types import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_ID = 7_243_001  # PostgreSQL advisory lock key held while migrating

_engines: dict[str, Engine] = {}
_checked: set[str] = set()  # URLs whose schema revision was verified in this process
_lock = threading.Lock()


def default_url() -> str:
    """The configured database URL (``DATABASE_URL``, default ``sqlite:///data/tradingmodel.db``)."""
    from tradingmodel.config import Settings

    return Settings().database_url


ACCEPTED_URLS = (
    "sqlite:///path/to/file.db (a file, created when missing), sqlite:///:memory:, or "
    "postgresql://user[:password]@host[:port]/database"
)
_DRIVERS = {"sqlite": ("pysqlite",), "postgresql": ("psycopg",)}  # the drivers we ship


def _normalise_url(url: str | None) -> str:
    """``url`` (or ``DATABASE_URL``) checked and with our driver filled in; a URL this code cannot use
    raises :class:`StoreError` saying what is wrong and which forms are accepted."""
    source = "--url" if url else "DATABASE_URL"
    text = url or default_url()
    try:
        u = make_url(text)
    except (ArgumentError, ValueError):
        raise StoreError(f"database URL {text!r} ({source}) is not a URL; accepted: {ACCEPTED_URLS}") from None
    shown = u.render_as_string(hide_password=True)
    backend = u.get_backend_name()
    if u.drivername == "postgres":
        backend = "postgresql"
    if backend not in _DRIVERS:
        raise StoreError(f"database URL {shown!r} ({source}): {backend} is not supported; accepted: {ACCEPTED_URLS}")
    driver = u.drivername.partition("+")[2]
    if driver and driver not in _DRIVERS[backend]:
        raise StoreError(
            f"database URL {shown!r} ({source}): driver {driver!r} is not installed (use "
            f"{backend}://… or {backend}+{_DRIVERS[backend][0]}://…); accepted: {ACCEPTED_URLS}"
        )
    if backend == "postgresql":
        if not u.database:
            raise StoreError(f"database URL {shown!r} ({source}) names no database; accepted: {ACCEPTED_URLS}")
        u = u.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    elif not u.database:
        raise StoreError(f"database URL {shown!r} ({source}) names no file; accepted: {ACCEPTED_URLS}")
    elif u.database != ":memory:" and not os.path.isabs(u.database):
        # a relative file is relative to the directory the URL was given in: fixed now, so the engine cache
        # (keyed by URL) and connections opened later never point at another directory's database
        u = u.set(database=os.path.abspath(u.database))
    return u.render_as_string(hide_password=False)


def retry_locked(run: Callable[[], Any], seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> Any:
    """``run()``, again while SQLite answers "database is locked", for up to ``seconds``.

    Two processes switching one new file to WAL at once can each hold a shared lock and want the exclusive
    one; SQLite then answers one of them at once, without its busy timeout ("if invoking the busy handler
    could result in a deadlock", its docs), and that process failed to open the database (seen once in CI).
    The failed statement has released its lock, so a retry a moment later goes through."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return run()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            retry_locked(lambda: cur.execute("PRAGMA journal_mode = WAL"))
        cur.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; safe with WAL
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _create_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        _sqlite_setup(engine)
        return engine
    if u.get_backend_name() == "postgresql":
        return create_engine(u, pool_size=5, max_overflow=10, pool_pre_ping=True, pool_recycle=1800)
    return create_engine(u)


def _ensure_pg_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` when the server does not have it yet."""
    u = make_url(url)
    name = u.database
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            quoted = conn.dialect.identifier_preparer.quote(name)
            try:
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
            except ProgrammingError as e:  # another process created it first
                if "already exists" not in str(e):
                    raise


def alembic_config(engine: Engine) -> Config:
    """A programmatic Alembic config (no ``alembic.ini``) bound to ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def open_engine(url: str | None = None) -> Engine:
    """The cached engine for ``url`` without checking, creating or migrating the schema."""
    return _engine_for(_normalise_url(url))


def _engine_for(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: ``Settings().database_url``), cached per URL.

    On first use in this process a missing database is created and migrated to the newest revision; a
    database at an older revision raises :class:`StoreError` asking for ``tradingmodel db upgrade``.
    Several processes starting on a new database at once are serialised by the migration lock.
    """
    url = _normalise_url(url)
    engine = _engine_for(url)
    if url in _checked:
        return engine
    with _lock:
        if url in _checked:
            return engine
        head = head_revision()
        try:
            current = current_revision(engine)
        except OperationalError as e:
            if engine.dialect.name != "postgresql" or "does not exist" not in str(e):
                raise StoreError(f"cannot open database {engine.url!r}: {e.orig}") from e
            _ensure_pg_database(url)
            current = None
        if current is None:
            current = _migrate(engine, "head", only_if_empty=True)
        if current != head:
            raise StoreError(
                f"database {engine.url!r} is at schema revision {current}, this code needs "
                f"{head}: run `tradingmodel db upgrade`"
            )
        _checked.add(url)
    return engine


def _migrate(engine: Engine, revision: str, *, only_if_empty: bool = False, down: bool = False) -> str | None:
    """Run Alembic on one connection, in one transaction that holds the migration lock (PostgreSQL: an
    advisory lock; SQLite: ``BEGIN IMMEDIATE``), so concurrent processes migrate one after the other.
    With ``only_if_empty`` nothing is done when another process has migrated the database meanwhile."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            current = MigrationContext.configure(conn).get_current_revision()
            if only_if_empty:
                if current is not None:
                    return current
                if set(inspect(conn).get_table_names()) - {"alembic_version"}:
                    raise StoreError(
                        f"database {engine.url!r} has tables but no migration history; "
                        "it was not created by tradingmodel"
                    )
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)
            return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision`` (creating the database if needed); returns the new revision."""
    url = _normalise_url(url)
    engine = _engine_for(url)
    if engine.dialect.name == "postgresql":
        _ensure_pg_database(url)
    _checked.discard(url)
    return _migrate(engine, revision)


def downgrade(url: str | None, revision: str) -> str | None:
    """Revert migrations down to ``revision`` (``"base"`` drops every table); returns the new revision."""
    url = _normalise_url(url)
    _checked.discard(url)
    return _migrate(_engine_for(url), revision, down=True)


def dispose_engines() -> None:
    """Close every cached engine's connections (tests, and processes that fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _checked.clear()
