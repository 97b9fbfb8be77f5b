"""enrollment failures, counted per client address for the enrollment rate limit

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enrollment_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_failure")),
    )
    with op.batch_alter_table("enrollment_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollment_failure_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_enrollment_failure_client_address"), ["client_address"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("enrollment_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_failure_client_address"))
        batch_op.drop_index(batch_op.f("ix_enrollment_failure_at"))

    op.drop_table("enrollment_failure")
