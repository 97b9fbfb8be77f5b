"""a study's Firebase web app configuration, for pushes to the participant web app

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("study") as batch:
        batch.add_column(sa.Column("web_push", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that copies `study`, which every study's rows refer to,
    # and the copy's drop fails their foreign keys. SQLite drops a plain column itself (3.35+).
    op.drop_column("study", "web_push")
