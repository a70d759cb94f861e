"""The `flask` commands contextify adds (Flask-Migrate adds `flask db`), one module per group, listed in `COMMANDS`.

Each command that has a job runs that registered job (`app.jobs.local.run_here`), so a run from the command
line and one started from a page do the same work and record it the same way. Only commands that work are
listed; none is a stub.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import click

#: Every command, in `flask --help` order of kind (the sandbox, the pipeline steps, the modes, sync): its name and
#: where it is defined.
COMMANDS = (
    ("sandbox", "app.commands.sandbox:sandbox_command"),
    ("harvest", "app.commands.harvest:harvest_command"),
    ("import-library", "app.commands.library:import_library_command"),
    ("enrich", "app.commands.library:enrich_command"),
    ("train", "app.commands.context_model:train_command"),
    ("sort", "app.commands.context_model:sort_command"),
    ("enhance", "app.commands.enhance:enhance_command"),
    ("discover", "app.commands.discover:discover_command"),
    ("map-clusters", "app.commands.catalog_map:map_clusters_command"),
    ("genre-model", "app.commands.catalog_map:genre_model_command"),
    ("analyse-audio", "app.commands.audio:analyse_audio_command"),
    ("sync", "app.commands.sync:sync_command"),
    ("sync-due", "app.commands.sync:sync_due_command"),
)


class LazyCommand(click.Command):
    """A command whose module is imported only when the command runs or its help is shown.

    A command module imports the job and page code it drives, and some take their options' defaults from the model
    layer (scikit-learn, SciPy: about 1.5 CPU-s): every process that builds the app (web and Celery workers, every
    other command) would pay for them at start.
    """

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.target = target

    @functools.cached_property
    def command(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if command.name != self.name:
            raise RuntimeError(f"{self.target} is the `{command.name}` command, listed as `{self.name}`")
        return command

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        return self.command.make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.command.invoke(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.command.get_short_help_str(limit)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self.command.get_params(ctx)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        return self.command.shell_complete(ctx, incomplete)

    def to_info_dict(self, ctx: click.Context) -> dict[str, Any]:
        return self.command.to_info_dict(ctx)


def commands() -> list[click.Command]:
    """Every command, each imported when first used (see LazyCommand)."""
    return [LazyCommand(name, target) for name, target in COMMANDS]
