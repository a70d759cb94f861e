"""`python -m sandbox`: the `flask sandbox` command without the contextify app."""

from .cli import sandbox_command

sandbox_command(prog_name="python -m sandbox")
