"""The ``aist`` command group; commands register on it from the modules of this package,
and plugins add theirs through ``aist_register_commands`` (the render farm's ``aist farm``),
looked up when the command line first needs them, on the invocation's plugin manager."""

from __future__ import annotations

import click

from aist_app import __version__


class PluginCommands(click.Group):
    """A command group that also holds the commands the installed plugins add."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        from aist_app.cli.common import runner_of

        try:
            found = runner_of(ctx).pm.commands()
        except LookupError as e:
            raise click.UsageError(str(e)) from None
        for name, (_, plugin) in found.items():
            if name in self.commands:
                raise click.UsageError(f"plugin {plugin!r} adds the command {name!r}, which "
                                       "is a built-in command")
        return {name: cmd for name, (cmd, _) in found.items()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._plugin_commands(ctx).get(name)


@click.group(cls=PluginCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aist")
def main() -> None:
    """AIST: realistic renders of 3D models that keep their shape and pose annotations.

    Outputs: commands that write a dataset (render, segment, stylize, import-dpc) take it as
    the positional OUT; commands that write a run or a report (train-*, evaluate, reconstruct,
    experiment) take --out. Every output folder records what made it: running the same
    command again resumes it; a different command or other settings are refused before
    anything is written, unless --overwrite (which swaps the new output in once complete).
    --device everywhere: auto (a GPU when torch sees one), cpu, cuda[:N] or mps; a device
    that is not there is an error, never a silent fall back. Long commands take
    --progress bar|jsonl|none."""
