"""The `flask sandbox` command (also `python -m app.sandbox`): serve the whole sandbox on one port."""

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
@click.option("--scale", default="full", type=click.Choice(["full", "small"]), envvar="SANDBOX_SCALE",
              show_default=True, show_envvar=True)
@click.option("--profile", default="default", type=click.Choice(list(PROFILES)), envvar="SANDBOX_PROFILE",
              show_default=True, show_envvar=True, help="Fault profile.")
@click.option("--clip-seconds", type=float, default=None, envvar="SANDBOX_CLIP_SECONDS", show_envvar=True,
              help="Length of preview clips, s (default 30).")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False), default=None,
              envvar="SANDBOX_CSV", show_envvar=True, help="CSV handed to the world loader.")
@_knob_options
def sandbox_command(host: str, port: int, seed: int, scale: str, profile: str, clip_seconds: float | None,
                    csv_path: str | None, **knobs) -> None:
    """Serve the local Spotify/Deezer/ReccoBeats emulation (see app/sandbox/config.py for knobs)."""
    from .server import create_sandbox_app
    from .world import load_world

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
