"""Push senders: FCM through firebase-admin, or the log for the embedded default."""

from app.clock import Clock
from app.push.base import PushSender
from app.push.log import LogSender
from app.settings import Settings, SettingsError


def sender_from_settings(settings: Settings, clock: Clock) -> PushSender:
    """FCM when it is chosen or its credentials are given, else the log sender."""
    if settings.push_sender != "fcm" and settings.fcm_credentials_file is None:
        return LogSender()
    if settings.fcm_credentials_file is None:
        raise SettingsError("KAIROS_FCM_CREDENTIALS_FILE must be set when KAIROS_PUSH_SENDER=fcm")
    # Imported here: firebase-admin is slow to import and only the FCM path needs it.
    from app.push.fcm import FcmSender

    return FcmSender(
        settings.fcm_credentials_file,
        endpoint=settings.fcm_endpoint,
        clock=clock,
        web_app_url=settings.web_app_url,
    )
