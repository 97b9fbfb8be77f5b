"""a check-in reads its person's skill history from a summary, not the past deliveries

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence
from itertools import groupby

import sqlalchemy as sa
from alembic import op

from app.skills.policies import SkillHistory

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERSON_SKILLS = sa.table(
    "person_skills",
    sa.column("participant_id", sa.Uuid()),
    sa.column("study_id", sa.Uuid()),
    sa.column("recent", sa.JSON()),
    sa.column("ratings", sa.JSON()),
)


def _backfill() -> None:
    """Each person's deliveries with a skill, in the order the policy read them (created,
    then the detection's sequence), summed up as the check-ins from now on keep them."""
    bind = op.get_bind()
    delivery = sa.table(
        "delivery",
        sa.column("id", sa.Uuid()),
        sa.column("study_id", sa.Uuid()),
        sa.column("participant_id", sa.Uuid()),
        sa.column("checkin_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime()),
        sa.column("skill_key", sa.String()),
        sa.column("helpfulness", sa.Integer()),
    )
    detection = sa.table("detection", sa.column("checkin_id", sa.Uuid()), sa.column("sequence"))
    rows = bind.execute(
        sa.select(
            delivery.c.participant_id,
            delivery.c.study_id,
            delivery.c.skill_key,
            delivery.c.helpfulness,
        )
        .join(detection, detection.c.checkin_id == delivery.c.checkin_id, isouter=True)
        .where(delivery.c.skill_key.is_not(None))
        .order_by(
            delivery.c.participant_id,
            delivery.c.created_at,
            detection.c.sequence,
            delivery.c.id,
        )
    )
    summaries = []
    for (participant_id, study_id), deliveries in groupby(rows, lambda row: row[:2]):
        kept = SkillHistory()
        for row in deliveries:
            kept = kept.offered(row.skill_key)
            if row.helpfulness is not None:
                kept = kept.rated(row.skill_key, None, row.helpfulness)
        dumped = kept.model_dump(mode="json")
        summaries.append(
            {
                "participant_id": participant_id,
                "study_id": study_id,
                "recent": dumped["recent"],
                "ratings": dumped["ratings"],
            }
        )
    if summaries:
        bind.execute(sa.insert(PERSON_SKILLS), summaries)


def upgrade() -> None:
    op.create_table(
        "person_skills",
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("recent", sa.JSON(), nullable=False),
        sa.Column("ratings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_person_skills_participant_id_participant"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_person_skills_study_id_study")
        ),
        sa.PrimaryKeyConstraint("participant_id", name=op.f("pk_person_skills")),
    )
    with op.batch_alter_table("person_skills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_skills_study_id"), ["study_id"], unique=False)
    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("person_skills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_skills_study_id"))
    op.drop_table("person_skills")
