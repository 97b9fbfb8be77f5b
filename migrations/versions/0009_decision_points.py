"""micro-randomized arms and their decision points

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mrt_design",
        sa.Column("arm_id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("design", sa.JSON(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["arm_id"], ["arm.id"], name=op.f("fk_mrt_design_arm_id_arm")),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_mrt_design_study_id_study")
        ),
        sa.PrimaryKeyConstraint("arm_id", name=op.f("pk_mrt_design")),
    )
    with op.batch_alter_table("mrt_design", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mrt_design_study_id"), ["study_id"], unique=False)
    op.create_table(
        "decision_point",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("checkin_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=True),
        sa.Column("prompt_id", sa.Uuid(), nullable=True),
        sa.Column("at", app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("study_day", sa.Integer(), nullable=False),
        sa.Column("local_minute", sa.Integer(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("unavailable_reason", sqlmodel.AutoString(length=32), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("treated", sa.Boolean(), nullable=True),
        sa.Column("draw", sa.Float(), nullable=True),
        sa.Column("seed", sqlmodel.AutoString(length=400), nullable=False),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("outcome_kind", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("outcome_dimension", sqlmodel.AutoString(length=16), nullable=True),
        sa.Column("outcome_hours", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Float(), nullable=True),
        sa.Column("outcome_at", app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkin_id"], ["checkin.id"], name=op.f("fk_decision_point_checkin_id_checkin")
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["delivery.id"], name=op.f("fk_decision_point_delivery_id_delivery")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_decision_point_participant_id_participant"),
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompt.id"], name=op.f("fk_decision_point_prompt_id_prompt")
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_decision_point_study_id_study")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_point")),
        sa.UniqueConstraint("checkin_id", name=op.f("uq_decision_point_checkin_id")),
    )
    with op.batch_alter_table("decision_point", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_decision_point_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_decision_point_study_id"), ["study_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("decision_point", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_point_study_id"))
        batch_op.drop_index(batch_op.f("ix_decision_point_participant_id"))
    op.drop_table("decision_point")
    with op.batch_alter_table("mrt_design", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mrt_design_study_id"))
    op.drop_table("mrt_design")
