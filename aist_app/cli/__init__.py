"""The ``aist`` command line: one module per command group (datasets, training, experiments,
tools; the farm's commands live with the farm, ``aist_farm.cli``). Every stage runs through
the stage runner (:mod:`aist_app.stages.runner`)."""

from __future__ import annotations

from aist_app.cli import datasets, experiments, tools, training  # noqa: F401  (commands)
from aist_app.cli.main import main
from aist_farm.cli import farm

main.add_command(farm)

__all__ = ["main"]
