"""a decision point is found by its delivery (the feedback that is its outcome) by index

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_decision_point_delivery_id", "decision_point", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_decision_point_delivery_id", table_name="decision_point")
