"""What a role may see of a study's arms, policies and seeds: the one place that decides it.

Owners and researchers see everything. Clinicians and viewers see arms only where the study
says so (`clinicians_see_arm`); where they may not, everything that would give the arm away
is hidden: the arm itself, a delivery's policy, candidates and probabilities, and why no
skill came (assessment_only would tell), which reads `not_offered`. A safety screen happens
in every arm, so `safety` stays. Seeds are for those who may replay the study.
"""

from dataclasses import dataclass

from app.access.scope import MANAGE, StudyAccess

NOT_OFFERED = "not_offered"
# Reasons that happen in every arm, so they give nothing away.
_ANY_ARM_REASONS = frozenset({"safety"})


def sees_arms(access: StudyAccess) -> bool:
    return access.role in MANAGE or access.study.clinicians_see_arm


def sees_seed(access: StudyAccess) -> bool:
    return access.role in MANAGE


@dataclass(frozen=True)
class ShownDecision:
    """A skill decision as this role may see it (None where hidden)."""

    policy: str | None
    reason: str | None
    candidates: list[str] | None
    probabilities: dict[str, float] | None


def shown_decision(
    access: StudyAccess,
    policy: str,
    reason: str | None,
    candidates: list[str],
    probabilities: dict[str, float],
) -> ShownDecision:
    if sees_arms(access):
        return ShownDecision(policy, reason, candidates, probabilities)
    masked = reason if reason is None or reason in _ANY_ARM_REASONS else NOT_OFFERED
    return ShownDecision(None, masked, None, None)


def shown_arm(access: StudyAccess, arm_key: str | None) -> str | None:
    return arm_key if sees_arms(access) else None


def shown_seed(access: StudyAccess, seed: str) -> str | None:
    return seed if sees_seed(access) else None
