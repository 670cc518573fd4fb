"""Callbacks as pure functions (issue 5): which numbers may be called back, where a callback goes in the
queue (its turn), and what happens after an attempt. No I/O, no clock: callers pass ``now``."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from phonenumbers import PhoneNumberType

from ccpros_agi.config.models import Callback
from ccpros_agi.waiting import SAYABLE_MINUTES

#: The uniqueid of a callback's legs: ``ccpros-cb-<callback id>-<attempt>`` (the business leg) and the
#: same with ``-q`` (the leg that waits in the queue in the caller's place).
CHANNEL_RE = re.compile(r"ccpros-cb-(\d{1,18})-(\d{1,3})(-q)?")
ANSWERED = "answered"
#: DIALSTATUS of the business leg -> the attempt's result
DIAL_RESULTS = {"ANSWER": ANSWERED, "NOANSWER": "no_answer", "BUSY": "busy", "CONGESTION": "failed",
                "CHANUNAVAIL": "failed", "CANCEL": "cancelled", "INVALIDARGS": "failed"}
_CALLABLE = {PhoneNumberType.FIXED_LINE: "geographic", PhoneNumberType.MOBILE: "mobile",
             PhoneNumberType.FIXED_LINE_OR_MOBILE: "geographic"}


def channel_id(callback_id: int, attempt: int) -> str:
    return f"ccpros-cb-{callback_id}-{attempt}"


def queue_leg_id(callback_id: int, attempt: int) -> str:
    return f"{channel_id(callback_id, attempt)}-q"


def parse_channel_id(uniqueid: str) -> tuple[int, int] | None:
    """(callback id, attempt) of a callback leg's uniqueid, else None."""
    m = CHANNEL_RE.fullmatch(uniqueid or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def callback_number(text: str | None) -> tuple[str | None, str | None]:
    """(E.164 number, None) if ``text`` (E.164 or national digits) is a French geographic or mobile
    number, else (None, why in French-speakable terms for the log). Premium, shared-cost, toll-free,
    VoIP, short and foreign numbers are refused: the administration does not call them back."""
    digits = "".join(c for c in (text or "") if c.isdigit() or c == "+")
    if not digits or len(digits) > 16:
        return None, "empty or too long"
    try:
        number = phonenumbers.parse(digits, "FR")
    except phonenumbers.NumberParseException:
        return None, "not a phone number"
    if number.country_code != 33:
        return None, "foreign number"
    if not phonenumbers.is_valid_number(number):
        return None, "not a valid French number"
    kind = phonenumbers.number_type(number)
    if kind not in _CALLABLE:
        return None, f"not a geographic or mobile number ({kind})"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def position_for(arrival: datetime, others: Iterable[datetime | None]) -> int:
    """The position a callback takes in its queue: after every waiting call (or callback) that arrived
    before it, ahead of every one that arrived after it (unknown arrivals count as earlier: a call
    whose arrival we cannot tell keeps its place)."""
    return 1 + sum(1 for other in others if other is None or other <= arrival)


@dataclass(frozen=True)
class AfterAttempt:
    status: str                   # "done" | "pending" (retry) | "failed"
    next_attempt_at: datetime | None
    outcome: str | None           # the callback's final outcome when it ends


def after_attempt(result: str, attempts: int, settings: Callback, now: datetime) -> AfterAttempt:
    """What becomes of a callback after attempt number ``attempts`` ended with ``result``."""
    if result == ANSWERED:
        return AfterAttempt("done", None, ANSWERED)
    if attempts >= settings.max_attempts:
        return AfterAttempt("failed", None, result)
    return AfterAttempt("pending", now + timedelta(seconds=settings.retry_after_seconds), None)


def texts(config) -> dict[str, str]:
    """The callback prompts, by name (synthesized with the others: ccpros_agi.platform.menu_texts)."""
    if config.callback is None:
        return {}
    out = {
        "callback-offer": f"Pour être rappelé sans perdre votre tour, tapez {config.callback.key}.",
        "callback-confirm-intro": "Nous vous rappellerons au",
        "callback-confirm-keys": "Pour confirmer, tapez 1. Pour indiquer un autre numéro, tapez 2.",
        "callback-type": "Tapez votre numéro de téléphone, à dix chiffres.",
        "callback-refused": "Ce numéro ne peut pas être rappelé. Nous rappelons uniquement les numéros "
                            "fixes et mobiles français.",
        "callback-booked": "C'est noté. Un conseiller vous rappellera à votre tour, dès qu'il sera disponible. "
                           "Vous pouvez raccrocher.",
        "callback-back-to-queue": "Vous restez en attente, à votre place.",
        "callback-no-answer": "Le correspondant ne répond pas. Un nouvel essai sera fait plus tard.",
        "callback-whisper": "Rappel d'un appelant.",
    }
    out.update({f"callback-whisper-{t.id}": f"Rappel d'un appelant. {t.label}." for t in config.topics})
    out.update({
        "callback-closed-intro": "Vous pouvez aussi demander à être rappelé dès notre ouverture.",
        "callback-closed-booked": "C'est noté. Un conseiller vous rappellera à l'heure choisie. Au revoir.",
        "callback-slot-on": "Pour être rappelé le",
    })
    out.update({f"callback-slot-key-{k}": f"tapez {k}." for k in range(1, SLOTS_OFFERED + 1)})
    out.update({f"callback-within-{m}": _within_text(m) for m in SAYABLE_MINUTES})
    return out


def _within_text(minutes: int) -> str:
    delay = "moins d'une minute" if minutes == 1 else f"moins de {minutes} minutes"
    return f"C'est noté. Un conseiller vous rappellera à votre tour, dans {delay}. Vous pouvez raccrocher."


#: waiting.Announcement reasons after which the caller will wait (or we cannot tell how long, but long)
_LONG_WAIT = ("nobody_staffed", "too_long")


def offer_at_entry(settings: Callback | None, reason: str, mean_s: float | None) -> bool:
    """Offer the callback key as the call joins its queue: when callbacks are on and the caller will
    wait at least ``offer_after_seconds`` on average, or long (nobody staffed, beyond any estimate).
    Not when they will be answered at once, ring their last advisor, or the state is unknown."""
    if settings is None:
        return False
    if reason in _LONG_WAIT:
        return True
    return reason == "estimate" and mean_s is not None and mean_s >= settings.offer_after_seconds


SLOTS_OFFERED = 3
SLOT_MINUTES = 30


def callback_slots(hours, now: datetime, count: int = SLOTS_OFFERED, step_minutes: int = SLOT_MINUTES) -> list[datetime]:
    """The next ``count`` times the platform can call back (local time): each opening interval's start,
    then every ``step_minutes`` while it is open (if open now: from the next step). Empty when nothing
    opens within the look-ahead of :func:`ccpros_agi.routing.next_opening`."""
    from ccpros_agi import routing

    out: list[datetime] = []
    moment = routing.next_opening(hours, now)
    if moment is not None and moment <= now:           # open now: the next step
        moment = _round_up(moment, step_minutes)
    while moment is not None and len(out) < count:
        if routing.is_open(hours, moment):
            out.append(moment)
            moment = moment + timedelta(minutes=step_minutes)
        else:
            moment = routing.next_opening(hours, moment)
    return out


def _round_up(moment: datetime, step_minutes: int) -> datetime:
    base = moment.replace(second=0, microsecond=0)
    extra = (-base.minute) % step_minutes
    if extra == 0 and base < moment:
        extra = step_minutes
    return base + timedelta(minutes=extra)
