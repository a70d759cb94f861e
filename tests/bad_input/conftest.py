"""Fixtures for the bad-input tests: the pipeline's sandbox token helper, shared here."""

from tests.pipeline.conftest import token_for  # noqa: F401  (a fixture, re-exported for this package)
