"""The `flask` commands contextify adds (Flask-Migrate adds `flask db`); each one works, none is a stub."""

from __future__ import annotations

import click

from app.jobs.discover_task import discover_command
from app.jobs.sync_cli import sync_command, sync_due_command
from app.models.cli import sort_command, train_command
from app.models.enhance_cli import enhance_command
from app.pipeline.cli_audio import analyse_audio_command
from app.pipeline.cli_harvest import harvest_command
from app.pipeline.cli_library import enrich_command, import_library_command
from app.sandbox.cli import sandbox_command
from app.services.catalog_map import genre_model_command, map_clusters_command

COMMANDS: list[click.Command] = [
    sandbox_command, harvest_command, import_library_command, enrich_command, train_command, sort_command,
    enhance_command, discover_command, map_clusters_command, genre_model_command, analyse_audio_command,
    sync_command, sync_due_command,
]
