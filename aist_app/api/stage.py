"""What every stage class declares, and the check of a class against its kind's contract.

A stage class subclasses its kind's base (:class:`~aist_app.api.renderer.Renderer`,
:class:`~aist_app.api.segmenter.Segmenter`, :class:`~aist_app.api.contracts.Stylizer`,
:class:`~aist_app.api.contracts.PoseModel`): class attributes describe it, required
operations are methods the base declares (and does not implement), optional capabilities
are attributes that are ``None`` on the base and a function where the stage has them. The
registry checks every registered class with :func:`contract_problems`: a missing operation
or a signature the core cannot call is refused at registration, naming the method."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar


class Stage:
    """Class attributes of every stage, and its kind-independent optional capabilities."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_gpu: ClassVar[bool] = False
    #: The stage of its kind used when none is named.
    default: ClassVar[bool] = False
    #: The loss terms or figures a progress bar shows.
    progress_keys: ClassVar[tuple[str, ...]] = ()
    #: ``config_class() -> type``: the stage's config dataclass (renderers and segmenters
    #: may leave it None: their pipeline's config applies).
    config_class: ClassVar[Callable[[], type] | None] = None
    #: ``plan(settings, steps) -> StagePlan``: its memory and time for ``aist experiment
    #: --dry-run`` (:mod:`aist_app.experiments.plan`); None: the plan says it gives none.
    plan: ClassVar[Callable[..., Any] | None] = None
    #: ``config_preset(name) -> config``: the config of one of its named presets (None:
    #: the default preset); None: the stage has no presets.
    config_preset: ClassVar[Callable[..., Any] | None] = None

    #: Operations a subclass must implement (names of methods of the kind's base).
    required: ClassVar[tuple[str, ...]] = ()
    #: Optional capabilities: name -> a stub with the signature the core calls it with.
    optional: ClassVar[dict[str, Callable[..., Any]]] = {}


def _plan(settings: dict, steps: int) -> Any: ...


def _config_class() -> type: ...


def _config_preset(name: str | None) -> Any: ...


Stage.optional = {"plan": _plan, "config_class": _config_class,
                  "config_preset": _config_preset}


def _params(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    params = list(inspect.signature(fn).parameters.values())
    return params[1:] if params and params[0].name in ("self", "cls") else params


def signature_problem(impl: Callable[..., Any], stub: Callable[..., Any]) -> str | None:
    """Why the core's call of ``stub``'s shape would fail on ``impl``, or None."""
    try:
        have, want = _params(impl), _params(stub)
    except (TypeError, ValueError):
        return None  # builtins and C functions: not introspectable, trusted
    kinds = inspect.Parameter
    var_pos = any(p.kind is kinds.VAR_POSITIONAL for p in have)
    var_kw = any(p.kind is kinds.VAR_KEYWORD for p in have)
    positional = [p for p in have if p.kind in (kinds.POSITIONAL_ONLY,
                                                kinds.POSITIONAL_OR_KEYWORD)]
    by_name = {p.name: p for p in have if p.kind is not kinds.POSITIONAL_ONLY}
    want_pos = [p for p in want if p.kind in (kinds.POSITIONAL_ONLY,
                                              kinds.POSITIONAL_OR_KEYWORD)]
    if len(positional) < len(want_pos) and not var_pos:
        return f"takes {len(positional)} positional arguments, the core passes {len(want_pos)}"
    for p in want:
        if p.kind is kinds.KEYWORD_ONLY and p.name not in by_name and not var_kw:
            return f"has no keyword argument {p.name!r}"
    wanted = {p.name for p in want}
    for p in have:
        if p.default is not kinds.empty or p.kind in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD):
            continue
        if p in positional and positional.index(p) < len(want_pos):
            continue
        if p.name not in wanted:
            return f"needs {p.name!r}, which the core does not pass"
    return None


def contract_signatures(base: type) -> dict[str, tuple[Callable[..., Any], bool]]:
    """Every operation of ``base``'s contract: name -> (the signature stub, required)."""
    out: dict[str, tuple[Callable[..., Any], bool]] = {}
    for klass in reversed(base.__mro__):
        for name, stub in vars(klass).get("optional", {}).items():
            out[name] = (stub, False)
        for name in vars(klass).get("required", ()):
            out[name] = (inspect.getattr_static(klass, name), True)
    return {k: (v.__func__ if isinstance(v, staticmethod | classmethod) else v, r)
            for k, (v, r) in out.items()}


def contract_problems(cls: type, base: type) -> list[str]:
    """What keeps ``cls`` from being a stage of ``base``'s kind: not a subclass, a required
    operation not implemented, an operation whose signature the core cannot call."""
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return [f"{cls!r} does not subclass {base.__module__}.{base.__qualname__}"]
    problems = []
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        problems.append("no class attribute 'name'")
    for name, (stub, required) in contract_signatures(base).items():
        impl = inspect.getattr_static(cls, name, None)
        if isinstance(impl, staticmethod | classmethod):
            impl = impl.__func__
        if impl is None:
            if required:
                problems.append(f"{name}: missing")
            continue
        if required and impl is stub:
            problems.append(f"{name}: not implemented (the base's stub)")
            continue
        if not callable(impl):
            problems.append(f"{name}: not callable")
            continue
        why = signature_problem(impl, stub)
        if why:
            problems.append(f"{name}: {why}")
    return problems
