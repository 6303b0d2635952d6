"""Commands whose options come from the installed plugins: ``train-stylizer`` and
``train-pose`` offer every option their kind's plugins declare on their config dataclasses
(:func:`aist_app.api.config.setting`), found when the command line is parsed or its help
shown, never at import time. An option of another plugin than the one chosen is an error
(:func:`aist_app.cli.training.make_config` says so)."""

from __future__ import annotations

from typing import Any

import click

from aist_app.api.config import OptionSpec, optional_type, options_of


def _click_type(spec: OptionSpec) -> Any:
    if spec.choices:
        return click.Choice(list(spec.choices))
    _, inner = optional_type(spec.hint)
    return inner if inner in (int, float) else str


def _with_default(spec: OptionSpec) -> str:
    """The help, with the field's default unless the help says it."""
    if "default" in spec.help:
        return spec.help
    text, dot = (spec.help[:-1], ".") if spec.help.endswith(".") else (spec.help, "")
    return f"{text} (default: {spec.default}){dot}"


def plugin_option(spec: OptionSpec, plugins: list[str], of_all: bool) -> click.Option:
    """The click option of a declared config field; its help names the plugins that take
    it when not every installed plugin of the kind does."""
    who = "" if of_all else f" [{', '.join(plugins)}]"
    help_ = _with_default(spec) + who
    _, inner = optional_type(spec.hint)
    if inner is bool:
        name = spec.flag[2:]
        return click.Option([f"--{name}/--no-{name}", spec.field], default=None, help=help_)
    return click.Option([spec.flag, spec.field], type=_click_type(spec), default=None,
                        help=help_)


class StageCommand(click.Command):
    """A command of one stage kind whose options include those its installed plugins
    declare (the plugin manager of the invocation: tests inject theirs)."""

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    def plugin_params(self, ctx: click.Context) -> list[click.Option]:
        root = ctx.find_root()
        key = f"aist.options.{self.kind}"
        if key in root.meta:
            return root.meta[key]
        from aist_app.cli.common import runner_of

        r = runner_of(ctx)
        taken = {o for p in self.params for o in (*p.opts, *p.secondary_opts)} | {
            p.name for p in self.params}
        found: dict[str, tuple[OptionSpec, list[str]]] = {}
        names = r.pm.registry.names(self.kind)
        for name in names:
            for spec in options_of(r.config_class(self.kind, name)):
                if spec.flag in taken or spec.field in taken:
                    continue
                found.setdefault(spec.flag, (spec, []))[1].append(name)
        params = [plugin_option(spec, plugins, len(plugins) == len(names))
                  for spec, plugins in found.values()]
        root.meta[key] = params
        return params

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        """The command's own options, the plugins' before the shared tail (``--set``,
        ``--overwrite``, ``--progress``), then ``--help``."""
        tail = next((i for i, p in enumerate(self.params)
                     if p.name in ("settings", "overwrite", "progress")), len(self.params))
        params = [*self.params[:tail], *self.plugin_params(ctx), *self.params[tail:]]
        help_option = self.get_help_option(ctx)
        return [*params, help_option] if help_option is not None else params

