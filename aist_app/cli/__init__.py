"""The ``aist`` command line: one module per command group (datasets, training, experiments,
tools); plugins add commands through ``aist_register_commands`` (the farm's live with the
farm, ``aist_farm.cli``). Every stage runs through the stage runner
(:mod:`aist_app.stages.runner`)."""

from __future__ import annotations

from aist_app.cli import datasets, experiments, tools, training  # noqa: F401  (commands)
from aist_app.cli.main import main

__all__ = ["main"]
