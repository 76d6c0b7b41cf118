"""Walk-forward runs: ``runs.params``, the options a run was started with.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

- ``runs.params`` (JSON, nullable): the parameters of a run beside its config, e.g. a walk-forward's fold
  layout (train/validation/test/step days), executor, workers, pooled, trials, seed and epochs. Rows
  written before this revision keep ``NULL``.
- ``runs.kind`` gains the value ``walkforward`` (a string column: no schema change).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("runs", sa.Column("params", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("params")
