"""The render configuration: a dataclass without heavy imports (the CLI takes its defaults
from it), recorded in every dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aist_app.api.config import setting
from aist_app.scene.defaults import DEFAULT_DISTANCE, DEFAULT_FOCAL_LENGTH

if TYPE_CHECKING:
    from aist_app.api.renderer import RenderOptions
    from aist_app.scene.viewpoints import ViewpointSampler


@dataclass
class RenderConfig:
    """Everything that determines a render's output (recorded in ``dataset.json``)."""

    renderer: str = setting("pyrender", option=False, help="Renderer stage (see `aist plugins`).")
    views: int = setting(5, option=False, help="Views per object.")
    azimuth: str = setting("0:360", option=False, help="Azimuths in degrees: LO:HI drawn "
                           "uniformly, or grid:N (N evenly spaced).")
    elevation: str = setting("-20:40", option=False, help="Elevations in degrees: LO:HI, "
                             "grid:A,B,..., file:PATH or normal:MEAN,SD,LO,HI.")
    image_size: tuple[int, int] = setting((128, 128), option=False,
                                          help="Image height and width in pixels.")
    distance: float = setting(DEFAULT_DISTANCE, option=False,
                              help="Camera distance from the object's centre (unit cube).")
    focal_length: float = setting(DEFAULT_FOCAL_LENGTH, option=False,
                                  help="Focal length relative to the image size.")
    points: int = setting(100_000, option=False,
                          help="Ground-truth surface points per object.")
    depth: bool = setting(False, option=False, help="Also write depth maps.")
    seed: int = setting(0, option=False, help="Seed of viewpoints, lights and points.")
    up_axis: str = "y"
    randomize_lights: bool = setting(True, option=False,
                                     help="Random lights per view (else fixed).")
    samples: int = setting(16, option=False,
                           help="Path-tracing samples per pixel (Blender Cycles).")
    supersample: int = setting(3, option=False, help="Render k times larger and "
                               "box-filter down (anti-aliasing).")
    device: str = "auto"
    allow_missing_textures: bool = False
    png_compress_level: int = 3
    recycle_every: int = 0  # reopen the renderer every N objects (0: never)
    # train/val/test proportions ("80/10/10", "32/4/12"), or "reference" (DPC's lists, else
    # 5247:750:1500)
    splits: str = "80/10/10"
    # or "varied" (aist_app.scene.looks: random paint, dirt, sky per object)
    look: str = setting("as-is", option=False, help="as-is: the meshes' own materials; "
                        "varied: a random paint, dirt and sky per object (a target domain).")

    def options(self) -> RenderOptions:
        from aist_app.api.renderer import RenderOptions

        return RenderOptions(image_size=tuple(self.image_size), depth=self.depth,
                             samples=self.samples, supersample=self.supersample,
                             device=self.device, up_axis=self.up_axis)

    def validate(self) -> None:
        """Every value in range, or a ValueError naming the option (before any work)."""
        for name, value, least in (("--points", self.points, 1), ("--samples", self.samples, 1),
                                   ("--supersample", self.supersample, 1),
                                   ("--recycle-every", self.recycle_every, 0)):
            if value < least:
                raise ValueError(f"{name} {value}: must be at least {least}")
        for name, value in (("--distance", self.distance), ("--focal-length",
                                                           self.focal_length)):
            if not value > 0:
                raise ValueError(f"{name} {value}: must be positive")
        if min(self.image_size) < 1:
            raise ValueError(f"--size {self.image_size}: must be positive")
        if self.distance <= 0.87:  # the unit-diagonal object must stay in front of the camera
            raise ValueError(f"--distance {self.distance}: the camera would be inside the "
                             "object (normalized to a bounding-box diagonal of 1); use > 0.87")
        from aist_app.common.devices import parse_device
        from aist_app.scene.looks import LOOKS

        parse_device(self.device, renderer=True)
        if self.look not in LOOKS:
            raise ValueError(f"--look {self.look!r}: use one of {', '.join(LOOKS)}")
        from aist_app.dataset.splits import parse_rule

        try:
            parse_rule(self.splits)
        except ValueError as e:
            raise ValueError(f"--splits: {e}") from None
        self.sampler()

    def sampler(self) -> ViewpointSampler:
        from aist_app.scene.viewpoints import ViewpointSampler

        return ViewpointSampler.from_specs(self.azimuth, self.elevation, self.views)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d
