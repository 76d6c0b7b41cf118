"""Helpers shared by the store tests."""

from __future__ import annotations

from sqlalchemy import Engine, text


def count_bars(engine: Engine, symbol: str | None = None) -> int:
    sql = "SELECT count(*) FROM market_data" + (" WHERE symbol = :s" if symbol else "")
    with engine.connect() as conn:
        return int(conn.execute(text(sql), {"s": symbol}).scalar_one())


def install_fail_trigger(engine: Engine, symbol: str = "FAIL") -> None:
    """A real database failure mid-batch: inserting or updating a bar of ``symbol`` raises."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for op in ("INSERT", "UPDATE"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER tm_test_fail_{op.lower()} BEFORE {op} ON market_data "
                    f"WHEN NEW.symbol = '{symbol}' BEGIN SELECT RAISE(ABORT, 'tm_test_fail'); END"
                )
        else:
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION tm_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'tm_test_fail'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER tm_test_fail BEFORE INSERT OR UPDATE ON market_data FOR EACH ROW "
                f"WHEN (NEW.symbol = '{symbol}') EXECUTE FUNCTION tm_test_fail()"
            )
