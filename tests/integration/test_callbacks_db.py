"""The dialer's state in PostgreSQL (ccpros_agi.callbacks.store), without Asterisk: two dialers never
claim the same callback, attempts per number per day are bounded, an attempt's result is recorded once
and the business is dialled once per attempt."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from ccpros_agi.callbacks.store import CallbackStore
from ccpros_agi.config.models import Callback

# far ahead: the integration tests' platform runs its own dialer on this database, and must not take
# these callbacks (it claims those due by the real clock)
T0 = datetime(2099, 11, 23, 10, 0, tzinfo=timezone.utc)
SETTINGS = Callback(max_attempts=2, retry_after_seconds=60, max_attempts_per_number_per_day=3)


@pytest.fixture(autouse=True)
def _dump_on_failure():
    """Overrides tests/integration/conftest.py's (which starts the platform): no Asterisk here."""
    yield


async def book(callbacks: CallbackStore, n: int, number: str | None = None) -> list[int]:
    ids = []
    for i in range(n):
        ids.append(await callbacks.create(
            linkedid=f"cb-test-{i}-{number or ''}", number=number or f"+3353649{i:04d}", queue="q-tva", topic="tva",
            home_site=None, office_id=None, display="Rappel · TVA", arrival_at=T0 + timedelta(seconds=i), now=T0))
    return ids


async def test_two_dialers_never_claim_the_same_callback(store):
    ids = await book(CallbackStore(store.engine), 30)
    first, second = CallbackStore(store.engine), CallbackStore(store.engine)
    (a, _), (b, _) = await asyncio.gather(first.claim_due(T0, SETTINGS, limit=20), second.claim_due(T0, SETTINGS, limit=20))
    claimed_a, claimed_b = {p.callback_id for p in a}, {p.callback_id for p in b}
    assert not claimed_a & claimed_b and claimed_a | claimed_b == set(ids)
    assert await first.claim_due(T0, SETTINGS) == ([], [])          # nothing is placed twice
    ordered = sorted(a + b, key=lambda p: p.arrival_at)
    assert [p.callback_id for p in ordered] == ids                    # their turns are their arrivals


async def test_an_attempt_is_dialled_once_and_its_result_recorded_once(store):
    callbacks = CallbackStore(store.engine)
    (callback_id,) = await book(callbacks, 1)
    (placement,), _ = await callbacks.claim_due(T0, SETTINGS)
    assert await callbacks.connected(placement.channel_id, "pau-01", T0) is not None
    assert await callbacks.connected(placement.channel_id, "pau-01", T0) is None      # never dialled twice
    ended = await callbacks.ended(placement.channel_id, "no_answer", T0, SETTINGS)
    assert (ended["status"], ended["next_attempt_at"]) == ("pending", T0 + timedelta(seconds=60))
    assert await callbacks.ended(placement.channel_id, "answered", T0, SETTINGS) is None   # once
    assert await callbacks.claim_due(T0 + timedelta(seconds=30), SETTINGS) == ([], [])   # not due yet
    (second,), _ = await callbacks.claim_due(T0 + timedelta(seconds=61), SETTINGS)
    assert second.attempt == 2
    await callbacks.connected(second.channel_id, "pau-02", T0)
    last = await callbacks.ended(second.channel_id, "busy", T0 + timedelta(seconds=90), SETTINGS)
    assert (last["status"], last["outcome"]) == ("failed", "busy")
    row = await callbacks.get(callback_id)
    assert (row["status"], row["attempts"]) == ("failed", 2)


async def test_attempts_per_number_per_day_are_bounded(store):
    callbacks = CallbackStore(store.engine)
    ids = await book(callbacks, 5, number="+33536490999")          # five requests for one number
    placements, failed = await callbacks.claim_due(T0, SETTINGS)
    assert len(placements) == 3 and len(failed) == 2               # at most 3 attempts today
    assert {(await callbacks.get(i))["outcome"] for i in failed} == {"number_limit"}
    assert set(ids) == {p.callback_id for p in placements} | set(failed)


async def test_recovery_places_again_only_what_was_never_dialled(store):
    callbacks = CallbackStore(store.engine)
    await book(callbacks, 3)
    placements, _ = await callbacks.claim_due(T0, SETTINGS)
    alive, dialled, lost = placements
    await callbacks.connected(dialled.channel_id, "pau-01", T0)
    later = T0 + timedelta(seconds=30)
    again, ended = await callbacks.recover(later, T0 + timedelta(seconds=10), {f"{alive.channel_id}-q"})
    assert [p.channel_id for p in again] == [lost.channel_id]      # legs gone, never dialled: placed again
    assert ended == [dialled.channel_id]                           # dialled, no result: ended, not redialled
    assert await callbacks.recover(later, T0 + timedelta(seconds=10), {f"{alive.channel_id}-q"}) == ([], [dialled.channel_id])
