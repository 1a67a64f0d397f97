"""The one outcome vocabulary (bot/outcomes.py): each word means one thing wherever it is written."""

from __future__ import annotations

import pytest

from bot.outcomes import AUDIT_OUTCOMES, LOOKUP_OUTCOMES, Outcome, outcome_of_status


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.HANDLED),
        (204, Outcome.HANDLED),
        (401, Outcome.UNAUTHORIZED),
        (403, Outcome.UNAUTHORIZED),
        (404, Outcome.UNKNOWN_PATH),
        (400, Outcome.BAD_REQUEST),
        (408, Outcome.BAD_REQUEST),
        (413, Outcome.BAD_REQUEST),
        (503, Outcome.UNAVAILABLE),
        (500, Outcome.FAILED),
        (502, Outcome.FAILED),
    ],
)
def test_a_request_line_nobody_decided_says_what_its_status_means(
    status: int, outcome: Outcome
) -> None:
    assert outcome_of_status(status) is outcome


def test_the_status_words_never_reuse_a_decided_outcome_with_another_meaning() -> None:
    # A 2xx nobody decided is not an answer with customer data, a 404 is not "no customer
    # matched", a bug is not the store being down: none of them may read as an audit word.
    from_status = {outcome_of_status(status) for status in range(200, 600)}
    assert from_status & AUDIT_OUTCOMES == {Outcome.UNAVAILABLE}
    assert set(LOOKUP_OUTCOMES) <= AUDIT_OUTCOMES
