"""Surface attributes at hit points (normals, texture coordinates) and albedo look-up."""

from __future__ import annotations

import math

import numpy as np

from .scene import _TEXTURE_MASK, Material, Primitive
from .textures import _MIP_LEVELS


def room_surface(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inward normals and (u, v) of room or background faces."""
    axis = faces // 2
    normals = np.zeros_like(points)
    # Face 2k is the low plane of axis k (normal +), face 2k+1 the high plane.
    sign = np.where(faces % 2 == 0, 1.0, -1.0).astype(points.dtype)
    np.put_along_axis(normals, axis[None].astype(np.int64), sign[None], axis=0)
    u = np.where(axis == 0, points[1], points[0])
    v = np.where(axis == 2, points[1], points[2])
    return normals, u, v


def _points_in_yaw_frame(primitive: Primitive, points: np.ndarray) -> np.ndarray:
    """Surface points relative to the primitive's centre, in its yaw-rotated frame, shape ``(3, N)``."""
    cos_yaw, sin_yaw = math.cos(primitive.yaw), math.sin(primitive.yaw)
    offset = points - primitive.centre[:, None]
    return np.stack(
        [cos_yaw * offset[0] + sin_yaw * offset[1], -sin_yaw * offset[0] + cos_yaw * offset[1], offset[2]]
    )


def _yaw_frame_to_world(primitive: Primitive, vectors: np.ndarray) -> np.ndarray:
    """Rotate ``(3, N)`` vectors from the primitive's yaw-rotated frame back to the world."""
    cos_yaw, sin_yaw = math.cos(primitive.yaw), math.sin(primitive.yaw)
    return np.stack(
        [cos_yaw * vectors[0] - sin_yaw * vectors[1], sin_yaw * vectors[0] + cos_yaw * vectors[1], vectors[2]]
    )


def _box_surface(primitive: Primitive, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    local = _points_in_yaw_frame(primitive, points)
    half = primitive.half_extents[:, None]
    axis = np.argmax(np.abs(local) / half, axis=0)
    sign = np.sign(np.take_along_axis(local, axis[None], axis=0)[0])
    local_normal = np.zeros_like(local)
    np.put_along_axis(local_normal, axis[None], sign[None], axis=0)
    normals = _yaw_frame_to_world(primitive, local_normal)
    # Coordinates measured from the box corner so a texture starts at an edge.
    corner_local = local + half
    u = np.where(axis == 0, corner_local[1], corner_local[0])
    v = np.where(axis == 2, corner_local[1], corner_local[2])
    return normals, u, v


def _cylinder_surface(primitive: Primitive, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offset = points - primitive.centre[:, None]
    radius = primitive.half_extents[0]
    half_height = primitive.half_extents[2]
    on_cap = np.abs(offset[2]) > half_height - 1e-4
    normals = np.stack([offset[0] / radius, offset[1] / radius, np.zeros_like(offset[2])])
    normals[:, on_cap] = 0.0
    normals[2, on_cap] = np.sign(offset[2, on_cap])
    angle = np.arctan2(offset[1], offset[0])
    u = np.where(on_cap, offset[0], angle * radius)
    v = np.where(on_cap, offset[1], offset[2] + half_height)
    return normals, u, v


def horizontal_cylinder_surface(
    primitive: Primitive, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    along, across, up = _points_in_yaw_frame(primitive, points)  # local x is the axis
    half_length, radius = primitive.half_extents[0], primitive.half_extents[1]
    on_cap = np.abs(along) > half_length - 1e-4
    local_normal = np.stack([np.zeros_like(along), across / radius, up / radius])
    local_normal[:, on_cap] = 0.0
    local_normal[0, on_cap] = np.sign(along[on_cap])
    angle = np.arctan2(up, across)
    u = np.where(on_cap, across, angle * radius)
    v = np.where(on_cap, up, along + half_length)
    return _yaw_frame_to_world(primitive, local_normal), u, v


def _sphere_surface(primitive: Primitive, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offset = points - primitive.centre[:, None]
    radius = primitive.half_extents[0]
    normals = offset / radius
    u = np.arctan2(offset[1], offset[0]) * radius
    v = offset[2]
    return normals, u, v


def primitive_surface(primitive: Primitive, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if primitive.kind == "box":
        return _box_surface(primitive, points)
    if primitive.kind == "cylinder":
        return _cylinder_surface(primitive, points)
    if primitive.kind == "hcylinder":
        return horizontal_cylinder_surface(primitive, points)
    return _sphere_surface(primitive, points)


def shade_albedo(
    material: Material, u: np.ndarray, v: np.ndarray, pixel_footprint_m: np.ndarray, texture_stack: np.ndarray
) -> np.ndarray:
    """Look up the material albedo at texture coordinates.

    ``pixel_footprint_m`` is the world size covered by each pixel; it picks
    the mip level so distant or grazing surfaces do not alias.
    """
    scale = material.texels_per_metre
    column = (material.offset_u + u * scale).astype(np.int64) & _TEXTURE_MASK
    row = (material.offset_v + material.v_sign * v * scale).astype(np.int64) & _TEXTURE_MASK
    texels_per_pixel = np.maximum(pixel_footprint_m * scale, 1.0)
    level = np.minimum(np.log2(texels_per_pixel).astype(np.int64), _MIP_LEVELS - 1)
    texel = texture_stack[material.texture][level, row, column].T * np.float32(1.0 / 255.0)  # (3, N)
    colour_a = np.asarray(material.colour_a, dtype=np.float32)[:, None]
    colour_b = np.asarray(material.colour_b, dtype=np.float32)[:, None]
    return colour_a + (colour_b - colour_a) * texel


# --------------------------------------------------------------------------
