"""The camera model's defaults, the reference's (importable without numpy)."""

#: Camera distance from the object centre (objects normalized to a bbox diagonal of 1).
DEFAULT_DISTANCE = 2.0
#: Focal length relative to the image width (DPC: a 60 mm lens on a 32 mm sensor).
DEFAULT_FOCAL_LENGTH = 1.875
