"""The call journey: AMI events turned into the call's row and its events in PostgreSQL.

This listener records every call from the trunk whether or not the FastAGI app ran:
the row is created when the channel appears, queue and answer times come from app_queue's
events, and the outcome is decided once, when the caller's channel hangs up.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone

import structlog

from ccpros_agi.numbers import clean_raw, stored_number, to_e164

log = structlog.get_logger("ccpros.journey")

TRUNK_CONTEXT = "from-trunk"
CALLBACK_PREFIX = "ccpros-cb-"


def event_time(event: Mapping[str, str]) -> datetime:
    """AMI's ``Timestamp`` (timestampevents=yes), else now."""
    try:
        return datetime.fromtimestamp(float(event["Timestamp"]), tz=timezone.utc)
    except (KeyError, ValueError, OverflowError):
        return datetime.now(timezone.utc)


def member_name(event: Mapping[str, str]) -> str:
    """The advisor id of a queue member: its member name, or the endpoint of its interface."""
    name = event.get("MemberName") or ""
    if not name:
        name = (event.get("Interface") or "").removeprefix("PJSIP/")
    return name


class Journey:
    def __init__(self, store, advisor_site: Callable[[str], str | None],
                 office_lines: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.advisor_site = advisor_site
        self.office_lines = office_lines
        self.handlers = {
            "Newchannel": self.on_newchannel,
            "QueueCallerJoin": self.on_queue_join,
            "AgentConnect": self.on_agent_connect,
            "QueueCallerAbandon": self.on_queue_abandon,
            "UserEvent": self.on_user_event,
            "Hangup": self.on_hangup,
            "AttendedTransfer": self.on_attended_transfer,
        }

    async def __call__(self, event: Mapping[str, str]) -> None:
        handler = self.handlers.get(event.get("Event", ""))
        # a transfer event names the caller's call by its transferee's linkedid
        linkedid = event.get("Linkedid") or event.get("TransfereeLinkedid")
        if handler is None or not linkedid or linkedid.startswith(CALLBACK_PREFIX):
            return      # a callback's legs are recorded on the call it was asked during (ccpros_agi/callbacks)
        with structlog.contextvars.bound_contextvars(linkedid=linkedid):
            await handler(linkedid, event_time(event), event)

    async def on_newchannel(self, linkedid: str, at: datetime, event: Mapping[str, str]) -> None:
        if event.get("Context") != TRUNK_CONTEXT or event.get("Uniqueid") != linkedid:
            return
        caller_raw = clean_raw(event.get("CallerIDNum"))
        await self.store.ensure_call(
            linkedid, arrived_at=at, called_number=stored_number(event.get("Exten")),
            caller_raw=caller_raw or None, caller_number=to_e164(caller_raw))
        await self.store.add_event(linkedid, at, "ami", "channel_created", {"channel": event.get("Channel")})
        log.info("call_arrived", channel=event.get("Channel"), called=event.get("Exten"))

    async def on_queue_join(self, linkedid: str, at: datetime, event: Mapping[str, str]) -> None:
        await self.store.ensure_call(linkedid, arrived_at=at)
        await self.store.set_if_null(linkedid, queued_at=at, queue=event.get("Queue"))
        await self.store.add_event(linkedid, at, "ami", "queued",
                                   {"queue": event.get("Queue"), "position": event.get("Position")})
        log.info("call_queued", queue=event.get("Queue"), position=event.get("Position"))

    async def on_agent_connect(self, linkedid: str, at: datetime, event: Mapping[str, str]) -> None:
        advisor = member_name(event)
        site = self.advisor_site(advisor)
        await self.store.set_if_null(linkedid, answered_at=at, advisor_id=advisor, site_id=site)
        call = await self.store.get_call(linkedid)
        if call and call["home_site"] and site and site != call["home_site"]:
            await self.store.update_call(linkedid, overflowed=True)
            log.info("call_overflowed", home_site=call["home_site"], site=site,
                     widen_after_s=call["widen_after_s"])
        await self.store.add_event(linkedid, at, "ami", "answered", {
            "queue": event.get("Queue"), "advisor": advisor, "site": site,
            "hold_seconds": event.get("HoldTime"), "ring_seconds": event.get("RingTime")})
        log.info("call_answered", advisor=advisor, site=site, queue=event.get("Queue"))

    async def on_queue_abandon(self, linkedid: str, at: datetime, event: Mapping[str, str]) -> None:
        await self.store.add_event(linkedid, at, "ami", "abandoned_queue", {
            "queue": event.get("Queue"), "position": event.get("Position"),
            "hold_seconds": event.get("HoldTime")})
        log.info("call_abandoned_in_queue", queue=event.get("Queue"))

    async def on_user_event(self, linkedid: str, at: datetime, event: Mapping[str, str]) -> None:
        kind = event.get("UserEvent")
        if kind == "CcprosOutside":
            await self._outside(linkedid, at, event.get("Number", ""), "dialplan")
            return
        if kind != "CcprosFallback":
            return
        await self.store.ensure_call(linkedid, arrived_at=at)
        await self.store.update_call(linkedid, fallback=True)
        await self.store.add_event(linkedid, at, "dialplan", "fallback",
                                   {"agistatus": event.get("Agistatus")})
        log.warning("call_fallback", agistatus=event.get("Agistatus"))

    async def _outside(self, linkedid: str, at: datetime, number: str, source: str) -> None:
        """A call of ours leaves the platform; after an advisor answered, to an office: a transfer."""
        call = await self.store.get_call(linkedid)
        if call is None:
            return  # an advisor's own consultation call: recorded by the transfer that follows, if any
        if call["answered_at"] is not None and number in self.office_lines:
            await self.store.update_call(linkedid, transferred_to_office=True)
            await self.store.set_if_null(linkedid, transferred_at=at)
            await self.store.add_event(linkedid, at, source, "transferred_to_office", {"number": number})
            log.info("call_transferred_to_office", number=number)
        else:
            await self.store.add_event(linkedid, at, source, "dialled_outside", {"number": number})

    async def on_attended_transfer(self, linkedid: str, at: datetime, event: Mapping[str, str]) -> None:
        if event.get("Result") != "Success":
            return
        # the advisor's consultation call to the office is one of the two transferer channels
        for prefix in ("SecondTransferer", "OrigTransferer", "TransferTarget"):
            number = to_e164(event.get(f"{prefix}Exten")) or ""
            if number in self.office_lines:
                await self._outside(linkedid, at, number, "ami")
                return

    async def on_hangup(self, linkedid: str, at: datetime, event: Mapping[str, str]) -> None:
        if event.get("Uniqueid") != linkedid:
            return  # an advisor's leg: the call ends with the caller's channel
        if await self.store.get_call(linkedid) is None:
            return  # not a call from the trunk (an advisor's feature code, say)
        cause = event.get("Cause-txt") or event.get("Cause")
        outcome = await self.store.finish_call(linkedid, ended_at=at, hangup_cause=cause)
        await self.store.add_event(linkedid, at, "ami", "ended", {"cause": cause, "outcome": outcome})
        log.info("call_ended", outcome=outcome, cause=cause)
