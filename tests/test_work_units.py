"""make test's xdist units: a file stays on one worker, the journey's worlds part, and the Redis files share one."""

from __future__ import annotations

from tests.conftest import LONG_FIRST, SHARED_REDIS_FILES, work_unit


def test_a_file_is_one_unit_whatever_its_parameters():
    assert work_unit("tests/auth/test_login.py::test_login_redirects[a-b]") == "tests/auth/test_login.py"
    assert work_unit("tests/auth/test_login.py::TestX::test_y") == "tests/auth/test_login.py"


def test_each_journey_world_and_each_side_by_side_database_is_its_own_unit():
    journey = "tests/browser/test_journey.py::test_a_visitor_goes_from_the_landing_page_to_saved_playlists"
    assert work_unit(f"{journey}[generated-chromium]") != work_unit(f"{journey}[real-audio-chromium]")
    other = "tests/browser/test_journey.py::test_denying_at_the_consent_page_shows_plain_words[generated-chromium]"
    assert work_unit(other) == work_unit(f"{journey}[generated-chromium]"), "one world's tests share its site"
    side = "tests/jobs/test_side_by_side.py::test_import_harvest_and_discover_at_once_leave_what_a_sequential_run_leaves"
    assert work_unit(f"{side}[sqlite]") != work_unit(f"{side}[postgresql]")


def test_the_files_sharing_redis_are_one_unit_and_exist():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert {work_unit(f"{path}::test_x") for path in SHARED_REDIS_FILES} == {"shared-redis"}
    assert all((root / path).is_file() for path in SHARED_REDIS_FILES), "a listed file was moved or renamed"


def test_every_long_unit_names_something_that_exists():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for prefix in LONG_FIRST:
        path = prefix.split(":")[0]
        assert prefix == "shared-redis" or any(root.glob(path + "*")), prefix
