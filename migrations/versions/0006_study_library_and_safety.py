"""the pinned skill library and the safety settings become tables of their own domains

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "study_library",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("library_id", sa.Uuid(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["library_id"],
            ["skill_library.id"],
            name=op.f("fk_study_library_library_id_skill_library"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_study_library_study_id_study")
        ),
        sa.PrimaryKeyConstraint("study_id", name=op.f("pk_study_library")),
    )
    op.create_table(
        "study_safety",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("safety_settings", sa.JSON(), nullable=False),
        sa.Column("crisis_resources", sa.JSON(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_study_safety_study_id_study")
        ),
        sa.PrimaryKeyConstraint("study_id", name=op.f("pk_study_safety")),
    )
    op.execute(
        "INSERT INTO study_library (study_id, library_id, updated_at) "
        "SELECT study_id, library_id, updated_at FROM study_tailoring "
        "WHERE library_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO study_safety (study_id, safety_settings, crisis_resources, updated_at) "
        "SELECT study_id, safety_settings, crisis_resources, updated_at FROM study_tailoring"
    )
    op.drop_table("study_tailoring")


def downgrade() -> None:
    op.create_table(
        "study_tailoring",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("library_id", sa.Uuid(), nullable=True),
        sa.Column("safety_settings", sa.JSON(), nullable=False),
        sa.Column("crisis_resources", sa.JSON(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["library_id"],
            ["skill_library.id"],
            name=op.f("fk_study_tailoring_library_id_skill_library"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_study_tailoring_study_id_study")
        ),
        sa.PrimaryKeyConstraint("study_id", name=op.f("pk_study_tailoring")),
    )
    op.execute(
        "INSERT INTO study_tailoring "
        "(study_id, library_id, safety_settings, crisis_resources, updated_at) "
        "SELECT s.study_id, l.library_id, s.safety_settings, s.crisis_resources, s.updated_at "
        "FROM study_safety s LEFT JOIN study_library l ON l.study_id = s.study_id"
    )
    op.drop_table("study_safety")
    op.drop_table("study_library")
