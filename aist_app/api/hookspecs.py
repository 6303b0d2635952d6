"""Every hook an AIST plugin can implement.

Hooks are prefixed ``aist_``. Implementations may accept fewer arguments than a spec names,
never more, so specs only ever grow new keyword arguments.

A plugin is a module or object with ``@aist_app.hookimpl`` functions, published in the
``aist.plugins`` entry-point group::

    [project.entry-points."aist.plugins"]
    my_renderer = "my_package.aist_plugin"

Plugin modules must stay cheap to import: no torch, bpy or pyrender at module level. Heavy
imports belong inside the stage's methods, so menus, ``aist plugins`` and the render farm can
list stages without loading them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from aist_app.api.checks import CheckRegistry
    from aist_app.api.registry import StageRegistry
    from aist_app.common.weights import WeightsRegistry

hookspec = pluggy.HookspecMarker("aist")

# --------------------------------------------------------------------------------------------
# Registration hooks
# --------------------------------------------------------------------------------------------


@hookspec
def aist_register_stages(registry: StageRegistry) -> None:
    """Add this plugin's stages to the registry.

    Fires once per plugin manager, the first time anything asks for the stage registry
    (listing plugins, running a stage). Call ``registry.add_renderer(cls)``,
    ``registry.add_segmenter(cls)``, ``registry.add_stylizer(cls)`` or
    ``registry.add_pose_model(cls)`` with a stage class whose class attributes ``name``,
    ``description`` and ``needs_gpu`` describe it.

    :param registry: the :class:`aist_app.api.registry.StageRegistry` being filled.
    :returns: nothing; results go into the registry.

    .. versionadded:: 0.1
    """


@hookspec
def aist_register_commands(cli: Any) -> None:
    """Add this plugin's commands to the ``aist`` command line.

    Fires the first time the command line looks a command up or lists them (``aist --help``,
    ``aist farm ...``), on the invocation's plugin manager, never at import time. Call
    ``cli.add_command(cmd)`` with a ``click.Command`` or ``click.Group``; a name that a
    built-in command already has is refused with an error naming the plugin.

    :param cli: a ``click.Group`` that collects the plugin's commands.
    :returns: nothing; results go into ``cli``.

    .. versionadded:: 0.2
    """


@hookspec
def aist_register_checks(checks: CheckRegistry) -> None:
    """Add this plugin's ``aist doctor`` checks and say what its stages need.

    Fires once per plugin manager, when ``aist doctor`` runs. Call ``checks.add(name, fn,
    stages=(...))`` with ``fn(options) -> Check`` (:mod:`aist_app.api.checks`; a check that
    opens a GL context, Blender or Qt runs in a subprocess with ``run_python``), and
    ``checks.require(stage, "weights:NAME", ...)`` for a doctor stage that needs weights or
    another plugin's checks (``aist doctor --stage STAGE`` fails on what it needs).

    :param checks: the :class:`aist_app.api.checks.CheckRegistry` being filled.
    :returns: nothing; results go into the registry.

    .. versionadded:: 0.2
    """


@hookspec
def aist_register_weights(weights: WeightsRegistry) -> None:
    """Add the model weights this plugin's stages load.

    Fires once per plugin manager, when ``aist weights`` or ``aist doctor`` runs. Call
    ``weights.add(KnownWeights(...))`` for weights ``aist weights fetch`` downloads through
    torchvision's weights API, or ``weights.add(BundledWeights(...))`` for a file that ships
    with the plugin (:mod:`aist_app.common.weights`). Each gets a ``weights:NAME`` doctor
    check.

    :param weights: the :class:`aist_app.common.weights.WeightsRegistry` being filled.
    :returns: nothing; results go into the registry.

    .. versionadded:: 0.2
    """


# --------------------------------------------------------------------------------------------
# Per-job hooks
# --------------------------------------------------------------------------------------------


@hookspec
def aist_dataset_written(path: Path, kind: str, summary: dict[str, Any]) -> None:
    """A stage finished writing a dataset.

    Fires after ``dataset.json`` has been written (atomically) at the end of a render,
    import, segmentation or stylization run, from whichever front end ran it (they all go
    through :class:`aist_app.stages.runner.StageRunner`: the CLI, the GUI, experiments); a
    farm job fires it once, from the local pool or from the Celery worker task that
    completes the job. Use it to index, upload or announce datasets.

    :param path: the dataset's root folder.
    :param kind: ``"synthetic"``, ``"real"`` or ``"stylized"``.
    :param summary: counts of the run (``written``, ``skipped``, ``failed``, ...).
    :returns: nothing.

    .. versionadded:: 0.1
    """
