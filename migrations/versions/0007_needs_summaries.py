"""a check-in reads its person's and its study's needs from running sums, not the history

Revision ID: 0007
Revises: 0006
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.rules.process import Pole, dimension_of
from app.rules.running import RunningSums

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The window of the study's reference values when this migration was written.
STUDY_STATS_WINDOW = 2000
PERSON_NEEDS = sa.table(
    "person_needs",
    sa.column("participant_id", sa.Uuid()),
    sa.column("study_id", sa.Uuid()),
    sa.column("last_sequence", sa.Integer()),
    sa.column("sums", sa.JSON()),
    sa.column("last_targeted", sa.JSON()),
)
STUDY_NEEDS = sa.table(
    "study_needs",
    sa.column("study_id", sa.Uuid()),
    sa.column("last_sequence", sa.Integer()),
    sa.column("window_size", sa.Integer()),
    sa.column("oldest_sequence", sa.Integer()),
    sa.column("sums", sa.JSON()),
)


def _needs(stored: Any) -> dict[str, Any]:
    # JSON comes back decoded from PostgreSQL, as text from SQLite.
    needs: dict[str, Any] = json.loads(stored) if isinstance(stored, str) else stored
    return needs


def _summed(rows: Sequence[Any]) -> dict[str, Any]:
    sums: dict[str, RunningSums] = {}
    for row in rows:
        for key, value in _needs(row.needs).items():
            if value is not None:
                sums[key] = sums.get(key, RunningSums()).add(float(value))
    return {key: value.dump() for key, value in sums.items()}


def _backfill() -> None:
    """Number each study's detections in the order of `at` (the window's old order) and
    sum up each person's and each study's, as the check-ins from now on keep them."""
    bind = op.get_bind()
    detection = sa.table(
        "detection",
        sa.column("id", sa.Uuid()),
        sa.column("study_id", sa.Uuid()),
        sa.column("participant_id", sa.Uuid()),
        sa.column("sequence", sa.Integer()),
        sa.column("study_sequence", sa.Integer()),
        sa.column("at", sa.DateTime()),
        sa.column("needs", sa.JSON()),
        sa.column("target", sa.String()),
    )
    studies = [row.study_id for row in bind.execute(sa.select(detection.c.study_id).distinct())]
    for study_id in studies:
        rows = bind.execute(
            sa.select(detection.c.id, detection.c.needs)
            .where(detection.c.study_id == study_id)
            .order_by(detection.c.at, detection.c.id)
        ).all()
        bind.execute(
            sa.update(detection)
            .where(detection.c.id == sa.bindparam("detection_id"))
            .values(study_sequence=sa.bindparam("numbered")),
            [{"detection_id": row.id, "numbered": n} for n, row in enumerate(rows, start=1)],
        )
        window = rows[-STUDY_STATS_WINDOW:]
        bind.execute(
            sa.insert(STUDY_NEEDS).values(
                study_id=study_id,
                last_sequence=len(rows),
                window_size=len(window),
                oldest_sequence=len(rows) - len(window) + 1,
                sums=_summed(window),
            )
        )
    people = bind.execute(
        sa.select(detection.c.participant_id, detection.c.study_id).distinct()
    ).all()
    for person in people:
        rows = bind.execute(
            sa.select(detection.c.sequence, detection.c.needs, detection.c.target)
            .where(detection.c.participant_id == person.participant_id)
            .order_by(detection.c.sequence)
        ).all()
        last_targeted: dict[str, int] = {}
        for row in rows:
            if row.target is not None:
                last_targeted[str(dimension_of(Pole(row.target)))] = row.sequence
        bind.execute(
            sa.insert(PERSON_NEEDS).values(
                participant_id=person.participant_id,
                study_id=person.study_id,
                last_sequence=rows[-1].sequence,
                sums=_summed(rows),
                last_targeted=last_targeted,
            )
        )


def upgrade() -> None:
    op.create_table(
        "person_needs",
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("sums", sa.JSON(), nullable=False),
        sa.Column("last_targeted", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_person_needs_participant_id_participant"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_person_needs_study_id_study")
        ),
        sa.PrimaryKeyConstraint("participant_id", name=op.f("pk_person_needs")),
    )
    with op.batch_alter_table("person_needs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_needs_study_id"), ["study_id"], unique=False)
    op.create_table(
        "study_needs",
        sa.Column("study_id", sa.Uuid(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("window_size", sa.Integer(), nullable=False),
        sa.Column("oldest_sequence", sa.Integer(), nullable=False),
        sa.Column("sums", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_study_needs_study_id_study")
        ),
        sa.PrimaryKeyConstraint("study_id", name=op.f("pk_study_needs")),
    )
    with op.batch_alter_table("detection", schema=None) as batch_op:
        batch_op.add_column(sa.Column("study_sequence", sa.Integer(), nullable=True))
    _backfill()
    with op.batch_alter_table("detection", schema=None) as batch_op:
        batch_op.alter_column("study_sequence", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_detection_study_id_study_sequence"), ["study_id", "study_sequence"]
        )


def downgrade() -> None:
    with op.batch_alter_table("detection", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_detection_study_id_study_sequence"), type_="unique")
        batch_op.drop_column("study_sequence")
    op.drop_table("study_needs")
    with op.batch_alter_table("person_needs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_needs_study_id"))
    op.drop_table("person_needs")
