"""Plugin discovery: the one factory that builds AIST's plugin manager.

Nothing is discovered at import time. ``create_plugin_manager()`` reads the ``aist.plugins``
entry-point group (built-in stages come in through the same group as third-party ones).

Environment:

- ``AIST_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points (tests register plugins by hand).
- ``AIST_DISABLED_PLUGINS=a,b``: block the named entry points.
- ``AIST_TRACE_PLUGINS=1``: print every hook call to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pluggy

from aist_app.api import hookspecs
from aist_app.api.checks import CheckRegistry
from aist_app.api.registry import StageInfo, StageRegistry
from aist_app.common.weights import WeightsRegistry

ENTRY_POINT_GROUP = "aist.plugins"


class AistPluginManager:
    """Typed facade over ``pluggy.PluginManager``: one method per hook."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._registry: StageRegistry | None = None
        self._commands: dict[str, tuple[Any, str]] | None = None

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin object or module; invalidates the stage registry."""
        self._registry = self._commands = None
        return self.pm.register(plugin, name=name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> None:
        self._registry = self._commands = None
        self.pm.unregister(plugin=plugin, name=name)

    @property
    def registry(self) -> StageRegistry:
        """The stage registry, filled by ``aist_register_stages`` on first use."""
        if self._registry is None:
            registry = StageRegistry()
            # Call implementations one at a time so the registry knows who registered what.
            for impl in reversed(self.pm.hook.aist_register_stages.get_hookimpls()):
                registry._current_plugin = self.pm.get_name(impl.plugin) or impl.plugin_name
                impl.function(registry=registry)
            registry._current_plugin = "?"
            self._registry = registry
        return self._registry

    def stage(self, kind: str, name: str) -> StageInfo:
        return self.registry.get(kind, name)

    def dataset_written(self, path: Path, kind: str, summary: dict[str, Any]) -> None:
        self.pm.hook.aist_dataset_written(path=path, kind=kind, summary=summary)

    def weights(self) -> WeightsRegistry:
        """Every weights name: the core's, then the plugins' (``aist_register_weights``)."""
        registry = WeightsRegistry()
        self.pm.hook.aist_register_weights(weights=registry)
        return registry

    def add_checks(self, registry: CheckRegistry) -> CheckRegistry:
        """The plugins' doctor checks and stages (``aist_register_checks``) added to
        ``registry``, each recorded with its plugin."""
        for impl in reversed(self.pm.hook.aist_register_checks.get_hookimpls()):
            registry._current_plugin = self.pm.get_name(impl.plugin) or impl.plugin_name
            impl.function(checks=registry)
        registry._current_plugin = "aist"
        return registry

    def commands(self) -> dict[str, tuple[Any, str]]:
        """The commands plugins add to the command line (``aist_register_commands``) by
        name, each with the plugin that added it; two plugins with one name are an error."""
        if self._commands is None:
            import click

            found: dict[str, tuple[Any, str]] = {}
            for impl in reversed(self.pm.hook.aist_register_commands.get_hookimpls()):
                plugin = self.pm.get_name(impl.plugin) or impl.plugin_name
                group = click.Group()
                impl.function(cli=group)
                for name, cmd in group.commands.items():
                    if name in found:
                        raise LookupError(f"plugins {found[name][1]!r} and {plugin!r} both add "
                                          f"the command {name!r}")
                    found[name] = (cmd, plugin)
            self._commands = found
        return self._commands


def create_plugin_manager(
    *, entry_points: bool | None = None, blocked: Iterable[str] = ()
) -> AistPluginManager:
    """Build a plugin manager with AIST's hookspecs and (by default) every installed plugin."""
    pm = pluggy.PluginManager("aist")
    pm.add_hookspecs(hookspecs)
    blocked = set(blocked)
    blocked |= {b.strip() for b in os.environ.get("AIST_DISABLED_PLUGINS", "").split(",") if b}
    for name in blocked:
        pm.set_blocked(name)
    if entry_points is None:
        entry_points = os.environ.get("AIST_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    if os.environ.get("AIST_TRACE_PLUGINS", "") not in ("", "0"):

        def before(hook_name: str, impls: list, kwargs: dict) -> None:
            names = [i.plugin_name for i in impls]
            print(f"[aist plugins] {hook_name} -> {names}", file=sys.stderr)

        def after(outcome: Any, hook_name: str, impls: list, kwargs: dict) -> None:
            pass

        pm.add_hookcall_monitoring(before, after)
    return AistPluginManager(pm)
