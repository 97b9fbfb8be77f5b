"""participants can turn skills off themselves

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("skill_preferences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_skills", sa.JSON(), nullable=True))
    op.execute("UPDATE skill_preferences SET disabled_skills = '[]'")
    with op.batch_alter_table("skill_preferences", schema=None) as batch_op:
        batch_op.alter_column("disabled_skills", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("skill_preferences", schema=None) as batch_op:
        batch_op.drop_column("disabled_skills")
