"""The `flask` commands contextify adds (Flask-Migrate adds `flask db`); each one works, none is a stub."""

from __future__ import annotations

import functools
from typing import Any

import click

from app.jobs.discover_task import discover_command
from app.jobs.sync_cli import sync_command, sync_due_command
from app.models.cli import sort_command, train_command
from app.models.enhance_cli import enhance_command
from app.pipeline.cli_audio import analyse_audio_command
from app.pipeline.cli_harvest import harvest_command
from app.pipeline.cli_library import enrich_command, import_library_command
from app.services.catalog_map import genre_model_command, map_clusters_command



class _SandboxCommand(click.Command):
    """`flask sandbox`, whose options and code come from the sandbox package only once the command is used.

    The sandbox is a tool beside the product (tests, benchmarks, `make demo`): the web app never imports it.
    """

    def __init__(self) -> None:
        super().__init__("sandbox", short_help="Serve the local Spotify/Deezer/ReccoBeats emulation.")

    @functools.cached_property
    def _command(self) -> click.Command:
        from sandbox.cli import sandbox_command as command

        return command

    @property
    def params(self) -> list[click.Parameter]:
        return self._command.params

    @params.setter
    def params(self, _value: Any) -> None:
        pass  # click.Command.__init__ sets an empty list; the real options are the sandbox command's

    @property
    def help(self) -> str | None:
        return self._command.help

    @help.setter
    def help(self, _value: Any) -> None:
        pass

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self._command.get_params(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        return self._command.invoke(ctx)


sandbox_command = _SandboxCommand()

COMMANDS: list[click.Command] = [
    sandbox_command, harvest_command, import_library_command, enrich_command, train_command, sort_command,
    enhance_command, discover_command, map_clusters_command, genre_model_command, analyse_audio_command,
    sync_command, sync_due_command,
]
