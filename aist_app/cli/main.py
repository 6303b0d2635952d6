"""The ``aist`` command group; commands register on it from the modules of this package
(and the farm's, ``aist_farm.cli``)."""

from __future__ import annotations

import click

from aist_app import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
