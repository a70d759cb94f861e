"""Messages that tell the truth in plain words: when to retry as a time of day, never a raw URL or a count of
seconds, and no "nothing was lost" where that is not known."""

from __future__ import annotations

import re

from app.auth.errors import job_failure_message, time_of_day
from app.pipeline.clients.base import RateLimited, Unavailable
from app.web.errors import DATABASE_DOWN


def test_a_quota_stop_says_which_service_and_when_to_retry_as_a_time_of_day(app):
    exc = RateLimited("spotify", 48925, "https://api.spotify.com/v1/me/tracks?offset=50 {'error': 429}")
    with app.app_context():
        message = job_failure_message(exc)
    assert message.startswith("Spotify asked contextify to wait 13 hours 35 minutes before more requests")
    assert re.search(r"Start this again after \d\d:\d\d UTC( on \d{1,2} \w+)?\.$", message), message
    assert "48925" not in message and "http" not in message and "retry in" not in message


def test_a_service_failure_shows_no_url(app):
    with app.app_context():
        assert job_failure_message(Unavailable("deezer", "HTTP 503 after 5 attempts", "https://api.deezer.com/x")) \
            == "Deezer did not answer properly (HTTP 503 after 5 attempts). Try again in a few minutes."
        assert "://" not in job_failure_message(Unavailable("reccobeats", "bad answer from https://x.example/y"))


def test_times_of_day_are_rounded_up_and_dated_when_not_today(app):
    with app.app_context():
        assert re.fullmatch(r"\d\d:\d\d UTC( on \d{1,2} \w+)?", time_of_day(30))
        assert re.fullmatch(r"\d\d:\d\d UTC on \d{1,2} \w+", time_of_day(2 * 86400))


def test_the_database_message_does_not_claim_nothing_was_lost():
    assert "Nothing was lost" not in DATABASE_DOWN and "may not have been saved" in DATABASE_DOWN
