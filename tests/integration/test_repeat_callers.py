"""Repeat callers: a caller answered in the last days first rings the advisor who answered them last,
alone, for a few seconds when that advisor is free; then the normal queue."""
from __future__ import annotations

import pytest

from tests.integration.conftest import NATIONAL

pytestmark = pytest.mark.integration


def test_repeat_caller_reaches_their_last_advisor_when_free(platform, phones, caller, records,
                                                           new_caller_number):
    phones("lisieux-02")
    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, dtmf="9", hangup_after_ms=3000).run().ok
    first = records.final(number)
    assert first["advisor_id"] == "lisieux-02" and first["repeat_advisor"] is None

    # lisieux-02 just took a call: "longest idle first" would now pick lisieux-03 ...
    phones("lisieux-03")
    stranger = new_caller_number()
    assert caller.sipp(NATIONAL, stranger, dtmf="9", hangup_after_ms=3000).run().ok
    assert records.final(stranger)["advisor_id"] == "lisieux-03"

    # ... but the repeat caller rings lisieux-02, the advisor who answered them last
    assert caller.sipp(NATIONAL, number, dtmf="9", hangup_after_ms=3000).run().ok
    again = records.final(number)
    assert again["linkedid"] != first["linkedid"]
    assert (again["advisor_id"], again["repeat_advisor"]) == ("lisieux-02", "lisieux-02")
    assert "offered_to_last_advisor" in records.events(again["linkedid"])


def test_repeat_caller_whose_last_advisor_is_away_takes_the_normal_queue(platform, phones, caller, records,
                                                                         new_caller_number):
    (first_advisor,) = phones("perpignan-02")
    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, dtmf="9", hangup_after_ms=3000).run().ok
    assert records.final(number)["advisor_id"] == "perpignan-02"
    first_advisor.logout()
    phones("perpignan-03")
    assert caller.sipp(NATIONAL, number, dtmf="9", hangup_after_ms=3000).run().ok
    again = records.final(number)
    assert (again["advisor_id"], again["repeat_advisor"]) == ("perpignan-03", None)
