"""Texts of the written confirmations (French), and their idempotency keys.

A key names one message for good: the same event of the same appointment always gives the same key,
so inserting it twice (a retried request, two workers creating the same reminder) queues it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

KINDS = ("booked", "rescheduled", "cancelled", "reminder")
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")
SMS_MAX = 320  # two SMS segments at most


@dataclass(frozen=True)
class Message:
    idempotency_key: str
    channel: str  # email | sms
    recipient: str
    subject: str | None
    body: str


def when_fr(at: datetime, tz: str) -> str:
    """"mardi 3 mars 2026 à 9 h 30" in the agenda's time zone."""
    local = at.astimezone(ZoneInfo(tz))
    clock = f"{local.hour} h {local.minute:02d}" if local.minute else f"{local.hour} h"
    return f"{DAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year} à {clock}"


def event_key(appointment: Mapping[str, Any], kind: str) -> str:
    """The event's identity: a reschedule is numbered, a reminder is tied to the start it reminds of."""
    base = f"appointment:{appointment['id']}:{kind}"
    if kind == "rescheduled":
        return f"{base}:{appointment['reschedules']}"
    if kind == "reminder":
        return f"{base}:{appointment['starts_at'].astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M}"
    return base


def render(appointment: Mapping[str, Any], kind: str, *, office_name: str, reason_label: str,
           tz: str, previous_start: datetime | None = None) -> list[Message]:
    """The e-mail (if the appointment has an address) and the SMS of an event of an appointment."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    when = when_fr(appointment["starts_at"], tz)
    ref = f"RDV-{appointment['id']}"
    phone = appointment["channel"] == "phone"
    how = (f"un agent du {office_name} vous appellera au {appointment['phone']}" if phone
           else f"vous serez reçu(e) au {office_name}")
    if kind == "booked":
        subject = f"Confirmation de votre rendez-vous du {when}"
        sms = f"DGFiP : rendez-vous confirmé le {when} ({reason_label}) : {how}. Réf. {ref}."
        lead = f"Votre rendez-vous ({reason_label}) est confirmé le {when} : {how}."
    elif kind == "rescheduled":
        before = f" (au lieu du {when_fr(previous_start, tz)})" if previous_start else ""
        subject = f"Votre rendez-vous est déplacé au {when}"
        sms = f"DGFiP : votre rendez-vous est déplacé au {when}{before} : {how}. Réf. {ref}."
        lead = f"Votre rendez-vous ({reason_label}) est déplacé au {when}{before} : {how}."
    elif kind == "cancelled":
        subject = f"Annulation de votre rendez-vous du {when}"
        sms = f"DGFiP : votre rendez-vous du {when} est annulé. Réf. {ref}."
        lead = f"Votre rendez-vous ({reason_label}) du {when} avec le {office_name} est annulé."
    else:
        subject = f"Rappel : votre rendez-vous demain, {when}"
        sms = f"DGFiP : rappel, rendez-vous demain {when} : {how}. Réf. {ref}."
        lead = f"Nous vous rappelons votre rendez-vous ({reason_label}) de demain, {when} : {how}."
    body = (f"Bonjour,\n\n{lead}\n\nRéférence : {ref}\n"
            "Pour le modifier ou l'annuler, appelez le service des professionnels.\n\n"
            "Direction générale des Finances publiques\n"
            "(Message automatique, merci de ne pas y répondre.)\n")
    key = event_key(appointment, kind)
    messages = []
    if appointment.get("email"):
        messages.append(Message(f"{key}:email", "email", appointment["email"], subject, body))
    messages.append(Message(f"{key}:sms", "sms", appointment["phone"], None, sms[:SMS_MAX]))
    return messages
