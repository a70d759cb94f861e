"""Slow work as jobs: rows in the `jobs` table that carry status and per-stage progress for the UI and CLI."""
