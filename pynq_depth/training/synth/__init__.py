"""Procedural indoor-scene renderer producing RGB images with exact metric depth.

The renderer ray casts an analytic scene (a box-shaped room with door and
window openings, furniture made of yaw-rotated boxes, vertical and horizontal
cylinders and spheres) for every pixel at once with numpy.  It needs no downloads: surface
textures are generated procedurally, optionally mixed with the photographs
that ship inside ``skimage.data`` (scikit-image is imported lazily and is not
required).

Conventions
-----------
* World frame: ``x`` and ``y`` span the floor, ``z`` points up, the floor is
  ``z = 0`` and the room occupies ``[0, size_x] x [0, size_y] x [0, ceiling]``.
* Camera frame: OpenCV style, ``x`` right, ``y`` down, ``z`` forward.  The ray
  through pixel index ``(u, v)`` has camera-frame direction
  ``((u - cx) / fx, (v - cy) / fy, 1)``; because its ``z`` component is one,
  the ray parameter ``t`` of a hit *is* the z-depth along the optical axis,
  which is the depth convention of NYU Depth v2.
* Depth is clipped to ``[MIN_DEPTH_M, MAX_DEPTH_M]``.
"""

from __future__ import annotations

from .dataset import SyntheticIndoorDataset
from .render import render_scene_description
from .sampling import render_scene, sample_scene
from .scene import (
    MAX_DEPTH_M,
    MIN_DEPTH_M,
    NYU_FOCAL_PX,
    Camera,
    Group,
    Light,
    Material,
    Opening,
    Primitive,
    Room,
    Scene,
)
from .textures import texture_names

__all__ = [
    "MIN_DEPTH_M",
    "MAX_DEPTH_M",
    "NYU_FOCAL_PX",
    "Camera",
    "Material",
    "Opening",
    "Room",
    "Primitive",
    "Group",
    "Light",
    "Scene",
    "texture_names",
    "sample_scene",
    "render_scene_description",
    "render_scene",
    "SyntheticIndoorDataset",
]
