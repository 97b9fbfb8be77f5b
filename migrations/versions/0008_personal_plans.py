"""personal plans (versioned, with authorship), review settings and review flags

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_settings",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_review_settings_study_id_study")
        ),
        sa.PrimaryKeyConstraint("study_id", name=op.f("pk_review_settings")),
    )
    op.create_table(
        "plan_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("entry_counts", sa.JSON(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("next_entry", sa.Integer(), nullable=False),
        sa.Column("author_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["staff_user.id"], name=op.f("fk_plan_version_author_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_plan_version_participant_id_participant"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_plan_version_study_id_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_version")),
        sa.UniqueConstraint(
            "participant_id", "version", name=op.f("uq_plan_version_participant_id_version")
        ),
    )
    with op.batch_alter_table("plan_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_version_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_plan_version_study_id"), ["study_id"], unique=False)

    op.create_table(
        "review_flag",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("raised_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("cleared_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.Uuid(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["cleared_by"], ["staff_user.id"], name=op.f("fk_review_flag_cleared_by_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_review_flag_participant_id_participant"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_review_flag_study_id_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_flag")),
    )
    with op.batch_alter_table("review_flag", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_flag_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_review_flag_study_id"), ["study_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_flag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_flag_study_id"))
        batch_op.drop_index(batch_op.f("ix_review_flag_participant_id"))

    op.drop_table("review_flag")
    with op.batch_alter_table("plan_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_version_study_id"))
        batch_op.drop_index(batch_op.f("ix_plan_version_participant_id"))

    op.drop_table("plan_version")
    op.drop_table("review_settings")
