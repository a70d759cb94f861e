"""The `flask sandbox` command (also `python -m sandbox`): serve the whole sandbox on one port."""

from __future__ import annotations

import click
from werkzeug.serving import make_server

from .config import CLI_KNOBS, KNOBS
from .faults import PROFILES

# Knobs with hand-written options below; every other knob gets a generated `--name` option.
_EXPLICIT = {"seed", "scale", "profile", "clip_seconds", *CLI_KNOBS}


def _knob_options(command):
    for name, env in reversed(KNOBS.items()):
        if name not in _EXPLICIT:
            command = click.option(f"--{name.replace('_', '-')}", name, envvar=env, default=None,
                                   show_envvar=True, help=f"Sandbox knob {name}.")(command)
    return command


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", envvar="SANDBOX_HOST", show_default=True, show_envvar=True)
@click.option("--port", default=5055, type=int, envvar="SANDBOX_PORT", show_default=True, show_envvar=True,
              help="0 picks a free port (the start line shows which).")
@click.option("--seed", default=42, type=int, envvar="SANDBOX_SEED", show_default=True, show_envvar=True)
@click.option("--scale", default="full", type=click.Choice(["full", "deep", "medium", "small"]), envvar="SANDBOX_SCALE",
              show_default=True, show_envvar=True)
@click.option("--profile", default="default", type=click.Choice(list(PROFILES)), envvar="SANDBOX_PROFILE",
              show_default=True, show_envvar=True, help="Fault profile.")
@click.option("--clip-seconds", type=float, default=None, envvar="SANDBOX_CLIP_SECONDS", show_envvar=True,
              help="Length of preview clips, s (default 30).")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False), default=None,
              envvar="SANDBOX_CSV", show_envvar=True, help="CSV handed to the world loader.")
@click.option("--audio-dir", type=click.Path(exists=True, file_okay=False), default=None,
              envvar="SANDBOX_AUDIO_DIR", show_envvar=True,
              help="Folder of real recordings with a metadata.csv (a `file` column, then label columns): the "
                   "world's tracks are those recordings and their previews the files.")
@click.option("--label-columns", default=None, envvar="SANDBOX_LABEL_COLUMNS", show_envvar=True,
              help="With --audio-dir: comma list of metadata columns to draw playlists and truth from "
                   "(default genre,mood; mood is derived from Emotify's GEMS votes when absent).")
@_knob_options
def sandbox_command(host: str, port: int, seed: int, scale: str, profile: str, clip_seconds: float | None,
                    csv_path: str | None, audio_dir: str | None, label_columns: str | None, **knobs) -> None:
    """Serve the local Spotify/Deezer/ReccoBeats emulation (see sandbox/config.py for knobs)."""
    from .audio_world import AudioWorldError, world_from_audio
    from .server import create_sandbox_app
    from .world import load_world

    if audio_dir and csv_path:
        raise click.UsageError("--audio-dir and --csv each make a world: give one of them")
    if label_columns and not audio_dir:
        raise click.UsageError("--label-columns only applies with --audio-dir")
    if audio_dir:
        columns = [c.strip() for c in (label_columns or "").split(",") if c.strip()] or None
        try:
            world = world_from_audio(audio_dir, columns, seed=seed, scale=scale)
        except AudioWorldError as exc:
            raise click.UsageError(str(exc)) from exc
        click.echo(f"real-audio world from {audio_dir}: {len(world.tracks)} recordings, contexts "
                   f"{', '.join(world.contexts)}, {len(world.deezer_playlists)} public playlists")
    else:
        world = load_world(seed, scale, csv_path=csv_path)
    try:
        app = create_sandbox_app(world, profile, scale=scale, clip_seconds=clip_seconds, **knobs)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    server = make_server(host, port, app, threaded=True)
    click.echo(f"sandbox serving at http://{host}:{server.port} (seed {seed}, scale {scale}, profile {profile})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["sandbox"].faults.stopping.set()
        server.server_close()
