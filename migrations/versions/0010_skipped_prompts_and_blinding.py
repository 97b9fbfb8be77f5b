"""decision points: test pushes belong to no prompt; blinding of the participant download

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prompt_attempt", schema=None) as batch_op:
        batch_op.alter_column("prompt_id", existing_type=sa.Uuid(), nullable=True)
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "blind_participant_download",
                sa.Boolean(),
                nullable=False,
                server_default=sa.true(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("blind_participant_download")
    # Test pushes have no prompt; they cannot be kept where every attempt needs one.
    op.execute("DELETE FROM prompt_attempt WHERE prompt_id IS NULL")
    with op.batch_alter_table("prompt_attempt", schema=None) as batch_op:
        batch_op.alter_column("prompt_id", existing_type=sa.Uuid(), nullable=False)
