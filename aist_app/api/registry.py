"""The stage registry: which renderers, segmenters, stylizers and pose models are installed.

Stages are classes with static metadata in class attributes, so listing them never imports
torch, bpy or pyrender (those are imported inside the stage's methods).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STAGE_KINDS: tuple[str, ...] = ("renderer", "segmenter", "stylizer", "pose_model")


class StageNotFoundError(LookupError):
    """No stage of that kind and name is installed."""


@dataclass(frozen=True)
class StageInfo:
    """Static description of one installed stage."""

    kind: str
    name: str
    description: str
    needs_gpu: bool
    plugin: str
    factory: type

    def create(self, *args: Any, **kwargs: Any) -> Any:
        """Instantiate the stage (this is where heavy modules get imported)."""
        return self.factory(*args, **kwargs)

    @property
    def module(self) -> str:
        """The module the stage's code lives in."""
        return self.factory.__module__

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "needs_gpu": self.needs_gpu,
            "plugin": self.plugin,
            "module": self.module,
        }


class StageRegistry:
    """Typed registry filled by the ``aist_register_stages`` hook."""

    def __init__(self) -> None:
        self._stages: dict[tuple[str, str], StageInfo] = {}
        self._current_plugin = "?"

    def _add(self, kind: str, cls: type) -> None:
        if kind not in STAGE_KINDS:
            raise ValueError(f"unknown stage kind {kind!r}; expected one of {STAGE_KINDS}")
        from aist_app.api.contracts import KIND_BASES
        from aist_app.api.stage import contract_problems

        problems = contract_problems(cls, KIND_BASES[kind])
        if problems:
            raise ValueError(f"{kind} {getattr(cls, '__qualname__', cls)!r} of plugin "
                             f"{self._current_plugin!r} breaks the {kind} contract "
                             f"(aist_app.api.contracts): " + "; ".join(problems))
        name = cls.name
        key = (kind, name)
        if key in self._stages:
            other = self._stages[key].plugin
            raise ValueError(
                f"{kind} {name!r} registered twice (by {other!r} and {self._current_plugin!r})"
            )
        doc = (cls.__doc__ or "").strip().splitlines()
        self._stages[key] = StageInfo(
            kind=kind,
            name=name,
            description=cls.description or (doc[0] if doc else ""),
            needs_gpu=bool(cls.needs_gpu),
            plugin=self._current_plugin,
            factory=cls,
        )

    def add_renderer(self, cls: type) -> None:
        """Register a renderer class (see :class:`aist_app.api.renderer.Renderer`)."""
        self._add("renderer", cls)

    def add_segmenter(self, cls: type) -> None:
        """Register a segmenter class."""
        self._add("segmenter", cls)

    def add_stylizer(self, cls: type) -> None:
        """Register a stylizer class."""
        self._add("stylizer", cls)

    def add_pose_model(self, cls: type) -> None:
        """Register a shape-and-pose model class."""
        self._add("pose_model", cls)

    def get(self, kind: str, name: str) -> StageInfo:
        try:
            return self._stages[(kind, name)]
        except KeyError:
            known = ", ".join(sorted(n for k, n in self._stages if k == kind)) or "none"
            raise StageNotFoundError(
                f"no {kind} named {name!r} is installed (installed: {known})"
            ) from None

    def list(self, kind: str | None = None) -> list[StageInfo]:
        stages = [s for s in self._stages.values() if kind is None or s.kind == kind]
        return sorted(stages, key=lambda s: (STAGE_KINDS.index(s.kind), s.name))

    def default(self, kind: str) -> str:
        """The stage of ``kind`` used when none is named: the one whose class declares
        ``default = True`` (the built-ins: aist-cyclegan, dpc), else the only one
        installed."""
        stages = self.list(kind)
        declared = [s.name for s in stages if s.factory.default is True]
        if len(declared) == 1:
            return declared[0]
        if len(stages) == 1:
            return stages[0].name
        raise StageNotFoundError(
            f"name the {kind} to use: {len(declared) or 'no'} installed {kind} declare "
            f"themselves the default (installed: {', '.join(self.names(kind)) or 'none'})")

    def names(self, kind: str) -> list[str]:
        return [s.name for s in self.list(kind)]
