"""`/license`'s text read as a lookup or as follow/unfollow/following (bot/answers/follow_command.py)."""

from __future__ import annotations

import pytest

from bot.answers.follow_command import FollowRequest, read_follow_request, unquoted


@pytest.mark.parametrize(
    "text",
    ["Acme", "followers inc", "Follows Ltd", '"Following"', "“Follow”", '"follow" Acme', "", "  "],
)
def test_a_lookup_is_no_follow_request(text: str) -> None:
    assert read_follow_request(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("follow Acme", FollowRequest("follow", "Acme")),
        ("FOLLOW Acme Corp", FollowRequest("follow", "Acme Corp")),
        (
            "follow Acme Corp expiry recon",
            FollowRequest("follow", "Acme Corp", ("expiry", "recon")),
        ),
        (
            "follow Acme seats, renewals --daily",
            FollowRequest("follow", "Acme", ("licenses", "seats"), daily=True),
        ),
        ("follow Acme --daily trials", FollowRequest("follow", "Acme", ("trials",), daily=True)),
        ('follow "Acme Seats"', FollowRequest("follow", "Acme Seats")),
        ('follow "Acme Seats" seats', FollowRequest("follow", "Acme Seats", ("seats",))),
        ("follow “Following” trials", FollowRequest("follow", "Following", ("trials",))),
        ("unfollow Acme trials", FollowRequest("unfollow", "Acme", ("trials",))),
        ("unfollow Acme", FollowRequest("unfollow", "Acme")),
        ("following", FollowRequest("following")),
        ("Following", FollowRequest("following")),
        ("follow", FollowRequest("follow")),
    ],
)
def test_follow_requests_are_read(text: str, expected: FollowRequest) -> None:
    assert read_follow_request(text) == expected


def test_a_name_word_after_a_quoted_name_is_a_problem_not_a_guess() -> None:
    request = read_follow_request('follow "Acme" soon')
    assert request is not None and request.problem == "unknown: soon"


def test_an_unknown_option_is_a_problem() -> None:
    request = read_follow_request("follow Acme --hourly")
    assert request is not None and request.problem == "unknown: --hourly"
    request = read_follow_request("unfollow Acme --daily")
    assert request is not None and request.problem == "unknown: --daily"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"Following"', "Following"),
        ("“Following”", "Following"),
        ("'Follow'", "Follow"),
        ('"Acme', '"Acme'),
        ("Acme", "Acme"),
        ('Acme "Corp"', 'Acme "Corp"'),
    ],
)
def test_a_quoted_lookup_is_unquoted(text: str, expected: str) -> None:
    assert unquoted(text) == expected
