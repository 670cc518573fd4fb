"""The two ways a confirmation leaves the platform: an SMTP relay and an HTTP SMS gateway.

Each sender raises on any failure (the outbox then retries with back-off) and carries the message's
idempotency key (e-mail Message-ID, gateway ``Idempotency-Key`` header) so that a receiver can drop
the rare duplicate of a crash between sending and recording it.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiohttp

from .config import Credentials, Notifications, SmsSettings, SmtpSettings

MESSAGE_ID_DOMAIN = "ccpros.invalid"


class SendError(Exception):
    """The message was not accepted (it will be retried)."""


def message_id(key: str) -> str:
    """A stable Message-ID from the idempotency key (same key, same Message-ID)."""
    return f"<{re.sub(r'[^A-Za-z0-9.-]', '.', key)}@{MESSAGE_ID_DOMAIN}>"


class EmailSender:
    """SMTP through smtplib in a thread (a few messages a minute: no need for an async client)."""

    def __init__(self, settings: SmtpSettings, credentials: Credentials) -> None:
        self.settings, self.credentials = settings, credentials

    async def __call__(self, message: Mapping[str, Any]) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: Mapping[str, Any]) -> None:
        s = self.settings
        mail = EmailMessage()
        mail["From"] = s.sender
        mail["To"] = message["recipient"]
        mail["Subject"] = message["subject"] or "Votre rendez-vous"
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id(message["idempotency_key"])
        mail.set_content(message["body"])
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds) as smtp:
                if s.starttls:
                    smtp.starttls()
                if self.credentials.smtp_user:
                    smtp.login(self.credentials.smtp_user, self.credentials.smtp_password or "")
                refused = smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"SMTP {s.host}:{s.port}: {exc}") from exc
        if refused:
            raise SendError(f"SMTP refused {', '.join(refused)}")


class SmsSender:
    """POST JSON ``{"to", "from", "text", "reference"}`` to the gateway; any 2xx is accepted.
    Credentials: HTTP Basic (sms_user, sms_token) or, with a token alone, ``Authorization: Bearer``."""

    def __init__(self, settings: SmsSettings, credentials: Credentials,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.settings, self.credentials = settings, credentials
        self._session = session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, message: Mapping[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        c = self.credentials
        headers = {"Idempotency-Key": message["idempotency_key"]}
        auth = None
        if c.sms_user:
            auth = aiohttp.BasicAuth(c.sms_user, c.sms_token or "")
        elif c.sms_token:
            headers["Authorization"] = f"Bearer {c.sms_token}"
        payload = {"to": message["recipient"], "from": self.settings.sender, "text": message["body"],
                   "reference": message["idempotency_key"]}
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
        try:
            async with self._session.post(self.settings.url, json=payload, headers=headers, auth=auth,
                                          timeout=timeout) as response:
                if not 200 <= response.status < 300:
                    detail = (await response.text())[:200]
                    raise SendError(f"SMS gateway answered {response.status}: {detail}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SendError(f"SMS gateway {self.settings.url}: {type(exc).__name__}: {exc}") from exc


class Dispatcher:
    """Routes a message to the sender of its channel; a channel without sender is an error (the
    message is retried, then left ``failed``, visible in the outbox)."""

    def __init__(self, email: EmailSender | None, sms: SmsSender | None) -> None:
        self.email, self.sms = email, sms

    async def __call__(self, message: Mapping[str, Any]) -> None:
        sender = self.email if message["channel"] == "email" else self.sms
        if sender is None:
            raise SendError(f"no {message['channel']} sender configured (appointments.yaml notifications)")
        await sender(message)

    async def close(self) -> None:
        if self.sms is not None:
            await self.sms.close()


def dispatcher_for(settings: Notifications, credentials: Credentials) -> Dispatcher:
    """The senders the configuration asks for."""
    email = EmailSender(settings.smtp, credentials) if settings.smtp is not None else None
    sms = SmsSender(settings.sms, credentials) if settings.sms is not None else None
    return Dispatcher(email, sms)
