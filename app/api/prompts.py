"""What the participant's app sees of its prompts, and its waking hours."""

import uuid

from fastapi import APIRouter

from app.api.deps import CurrentParticipant, NowDep, SessionDep, SettingsDep, participant_actor
from app.scheduling import service
from app.scheduling.models import Prompt
from app.scheduling.schedule import WakingHours
from app.scheduling.schemas import PromptOut

router = APIRouter(prefix="/v1", tags=["participant app"])


def _prompt_out(prompt: Prompt) -> PromptOut:
    return PromptOut.model_validate(prompt, from_attributes=True)


@router.get("/me/prompts", response_model=list[PromptOut])
def open_prompts(
    participant: CurrentParticipant, session: SessionDep, now: NowDep
) -> list[PromptOut]:
    """Prompts that can be answered now, oldest first, with their expiry (listed whether or
    not a push reached the phone)."""
    return [_prompt_out(prompt) for prompt in service.open_prompts(session, participant.id, now)]


@router.post("/prompts/{prompt_id}/opened", response_model=PromptOut)
def prompt_opened(
    prompt_id: uuid.UUID, participant: CurrentParticipant, session: SessionDep, now: NowDep
) -> PromptOut:
    """The participant opened the notification (the first time counts)."""
    return _prompt_out(service.mark_opened(session, participant, prompt_id, now))


@router.get("/me/waking-hours", response_model=WakingHours | None)
def read_waking_hours(participant: CurrentParticipant, session: SessionDep) -> WakingHours | None:
    return service.waking_hours_of(session, participant.id)


@router.put("/me/waking-hours", response_model=WakingHours)
def set_waking_hours(
    data: WakingHours,
    participant: CurrentParticipant,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> WakingHours:
    """When the participant wakes and goes to sleep: nothing is ever sent outside it."""
    return service.set_waking_hours(
        session, participant, participant_actor(participant), data, now, settings.plan_horizon
    )
