"""What a role may see of a study's arms, policies and seeds, and what a participant's own data
download shows: the one place that decides it.

Owners and researchers see everything. Clinicians and viewers see arms only where the study
says so (`clinicians_see_arm`). Where they may not (concealment), staff views show of a
participant's deliveries only what every arm has, so an assessment-only participant looks
like any other: the check-in it follows, when, the target the rules found, and `safety` as
the reason when the safety screen stopped tailoring (that happens in every arm). The arm,
the policy, candidates, probabilities, the skill, why no skill came, and the feedback on the
skill (opened, completed, helpfulness, distress after: only arms with skills have them) are
null for everyone. The clinician's review leaves out the skill ratings, and review flags the
reasons and evidence that rest on skills. Seeds are for those who may replay the study.

A participant's own data download (`GET /v1/me/data`) leaves out, while the study is active
and the study blinds it (`blind_participant_download`, on by default), the columns that name
or give away their arm and the notes staff wrote about them, and the rows of the tables only
some arms have (a micro-randomized arm's decision points: their number alone tells the arm);
the download says which.
"""

from collections.abc import Mapping
from typing import Any

from app.access.scope import MANAGE, StudyAccess
from app.plans.schemas import ReviewFlagOut, ReviewOut
from app.studies.models import Study
from app.vocabulary import StudyStatus

# Reasons that happen in every arm, so they give nothing away.
_ANY_ARM_REASONS = frozenset({"safety"})
# A delivery's fields that only some arms fill (or that name the policy).
_ARM_DELIVERY_FIELDS = (
    "policy",
    "candidates",
    "probabilities",
    "skill_key",
    "opened_at",
    "completed_at",
    "helpfulness",
    "distress_after",
)
# Review-flag reasons and evidence that exist only where skills are offered.
_SKILL_REVIEW_REASONS = frozenset({"unhelpful_skills"})
_SKILL_EVIDENCE = frozenset({"ratings", "mean_helpfulness"})

# Per table of the participant's download: columns that give the arm away, and staff notes.
ARM_COLUMNS: Mapping[str, frozenset[str]] = {
    "participant": frozenset({"arm_id"}),
    "allocation": frozenset({"arm_key"}),
    "delivery": frozenset(
        {"policy", "reason", "candidates", "probabilities", "draw", "seed", "inputs"}
    ),
    # The answer the check-in got, kept for idempotent retries, holds the delivery too.
    "checkin": frozenset({"response"}),
}
# Tables whose rows exist only in some arms.
ARM_TABLES = frozenset({"decision_point"})
STAFF_NOTE_COLUMNS: Mapping[str, frozenset[str]] = {
    "safety_event": frozenset({"note"}),
    "review_flag": frozenset({"note"}),
    "schedule_override": frozenset({"reason"}),
}


def sees_arms(access: StudyAccess) -> bool:
    return access.role in MANAGE or access.study.clinicians_see_arm


def sees_seed(access: StudyAccess) -> bool:
    return access.role in MANAGE


def shown_delivery(access: StudyAccess, delivery: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery's fields as this role may see them (hidden ones are None)."""
    shown = dict(delivery)
    if sees_arms(access):
        return shown
    for name in _ARM_DELIVERY_FIELDS:
        shown[name] = None
    if shown.get("reason") not in _ANY_ARM_REASONS:
        shown["reason"] = None
    return shown


def shows_skill_ratings(access: StudyAccess) -> bool:
    """Whether the review may list the skills offered and their ratings."""
    return sees_arms(access)


def shown_review_reasons(access: StudyAccess, reasons: list[Any]) -> list[Any]:
    if sees_arms(access):
        return reasons
    return [reason for reason in reasons if reason not in _SKILL_REVIEW_REASONS]


def shown_review_evidence(access: StudyAccess, evidence: Mapping[str, Any]) -> dict[str, Any]:
    if sees_arms(access):
        return dict(evidence)
    return {key: value for key, value in evidence.items() if key not in _SKILL_EVIDENCE}


def shown_arm(access: StudyAccess, arm_key: str | None) -> str | None:
    return arm_key if sees_arms(access) else None


def shown_seed(access: StudyAccess, seed: str) -> str | None:
    return seed if sees_seed(access) else None


def _blinds_download(study: Study) -> bool:
    return study.blind_participant_download and study.status == StudyStatus.active


def withheld_from_participant(study: Study) -> dict[str, frozenset[str]]:
    """The columns, per table, that a participant's own download leaves out now."""
    if not _blinds_download(study):
        return {}
    tables = set(ARM_COLUMNS) | set(STAFF_NOTE_COLUMNS)
    return {
        table: ARM_COLUMNS.get(table, frozenset()) | STAFF_NOTE_COLUMNS.get(table, frozenset())
        for table in sorted(tables)
    }


def tables_withheld_from_participant(study: Study) -> frozenset[str]:
    """The tables whose rows a participant's own download leaves out now."""
    if not _blinds_download(study):
        return frozenset()
    return ARM_TABLES


def shown_flag(access: StudyAccess, flag: ReviewFlagOut) -> ReviewFlagOut:
    """A review flag without what rests on skills where arms are concealed."""
    return flag.model_copy(
        update={
            "reasons": shown_review_reasons(access, flag.reasons),
            "evidence": shown_review_evidence(access, flag.evidence),
        }
    )


def shown_review(access: StudyAccess, review: ReviewOut) -> ReviewOut:
    """A participant's review as the caller may see it: no skill ratings, and no reasons
    or evidence resting on them, where arms are concealed."""
    return review.model_copy(
        update={
            "skills": review.skills if shows_skill_ratings(access) else [],
            "suggested": shown_review_reasons(access, review.suggested),
            "flag": None if review.flag is None else shown_flag(access, review.flag),
        }
    )
