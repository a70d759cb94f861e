"""End-to-end fixtures: a sandbox user's access token (shared with the pipeline tests)."""

from tests.pipeline.conftest import token_for  # noqa: F401  (a fixture)
