"""Phone numbers as they come from the trunk: never trusted, normalised to E.164 or refused."""
from __future__ import annotations

import phonenumbers

MAX_RAW = 40


def clean_raw(raw: str | None, limit: int = 80) -> str:
    """A caller ID or dialled string made safe to store and log: printable, bounded."""
    if not raw:
        return ""
    return "".join(c for c in raw if c.isprintable())[:limit]


def to_e164(raw: str | None, region: str = "FR") -> str | None:
    """``+33...`` for a valid number, else None (anonymous, garbage, too long, invalid)."""
    if not raw:
        return None
    candidate = raw.strip()
    if len(candidate) > MAX_RAW or not all(c.isdigit() or c in "+ .-()" for c in candidate):
        return None
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    elif candidate.startswith("33") and len(candidate) == 11:
        candidate = "+" + candidate  # trunks often send the French number without the +
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def stored_number(raw: str | None) -> str | None:
    """How a number is recorded: E.164 when it is a valid one, else the cleaned raw text, else None."""
    return to_e164(raw) or clean_raw(raw, MAX_RAW) or None
