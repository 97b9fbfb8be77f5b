"""a person's deliveries, decision points and detections indexed by person and time: the
ranges a check-in reads stay bounded however long their history (each replaces the index
by person alone, whose lookups it serves as well)

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the new index, its time column)
_INDEXES = (
    ("delivery", "ix_delivery_participant_created", "created_at"),
    ("decision_point", "ix_decision_point_participant_at", "at"),
    ("detection", "ix_detection_participant_at", "at"),
)


def upgrade() -> None:
    for table, name, at in _INDEXES:
        op.create_index(name, table, ["participant_id", at])
        op.drop_index(f"ix_{table}_participant_id", table_name=table)


def downgrade() -> None:
    for table, name, _at in _INDEXES:
        op.create_index(f"ix_{table}_participant_id", table, ["participant_id"])
        op.drop_index(name, table_name=table)
