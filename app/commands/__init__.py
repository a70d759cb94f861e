"""The `flask` commands contextify adds (Flask-Migrate adds `flask db`), one module per group, listed in `commands()`.

Each command that has a job runs that registered job (`app.jobs.local.run_here`), so a run from the command
line and one started from a page do the same work and record it the same way. Only commands that work are
listed; none is a stub.
"""

from __future__ import annotations

import click


def commands() -> list[click.Command]:
    """Every command, in `flask --help` order of kind: the sandbox, the pipeline steps, the modes, sync."""
    # Imported here, when the app registers them: a command module imports the job and page code it drives,
    # which must not be loaded just because one command module was.
    from app.commands.audio import analyse_audio_command
    from app.commands.catalog_map import genre_model_command, map_clusters_command
    from app.commands.context_model import sort_command, train_command
    from app.commands.discover import discover_command
    from app.commands.enhance import enhance_command
    from app.commands.harvest import harvest_command
    from app.commands.library import enrich_command, import_library_command
    from app.commands.sandbox import sandbox_command
    from app.commands.sync import sync_command, sync_due_command

    return [
        sandbox_command, harvest_command, import_library_command, enrich_command, train_command, sort_command,
        enhance_command, discover_command, map_clusters_command, genre_model_command, analyse_audio_command,
        sync_command, sync_due_command,
    ]
