"""Ray intersection with the room and the primitives (all functions broadcast over trailing ray dimensions)."""

from __future__ import annotations

import math

import numpy as np

from .scene import _RAY_EPS, Primitive


def room_exit(
    origin: np.ndarray, directions: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the inside of an axis-aligned box for rays starting inside it.

    Returns the ray parameter and the face index (2 * axis + (direction > 0)).
    """
    t_per_axis = []
    with np.errstate(divide="ignore"):
        for axis in range(3):
            component = directions[axis]
            gap = np.where(component > 0, high[axis] - origin[axis], origin[axis] - low[axis])
            t_per_axis.append(gap / np.abs(component))
    stacked = np.stack(t_per_axis)
    axis_hit = np.argmin(stacked, axis=0)
    t = np.take_along_axis(stacked, axis_hit[None], axis=0)[0]
    positive = np.take_along_axis(directions, axis_hit[None], axis=0)[0] > 0
    face = (2 * axis_hit + positive).astype(np.int8)
    return t.astype(np.float32), face


def _to_box_frame(
    origin: np.ndarray, directions: np.ndarray, centre: np.ndarray, yaw: float
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Express rays in a yaw-rotated frame centred on ``centre``."""
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    offset_x = origin[0] - centre[0]
    offset_y = origin[1] - centre[1]
    offset_z = origin[2] - centre[2]
    if yaw == 0.0:
        return (offset_x, offset_y, offset_z), (directions[0], directions[1], directions[2])
    local_origin = (
        cos_yaw * offset_x + sin_yaw * offset_y,
        -sin_yaw * offset_x + cos_yaw * offset_y,
        offset_z,
    )
    local_directions = (
        cos_yaw * directions[0] + sin_yaw * directions[1],
        -sin_yaw * directions[0] + cos_yaw * directions[1],
        directions[2],
    )
    return local_origin, local_directions


def slab_interval(
    origin: np.ndarray, directions: np.ndarray, centre: np.ndarray, half_extents: np.ndarray, yaw: float
) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit ray parameters of a yaw-rotated box (slab method)."""
    local_origin, local_directions = _to_box_frame(origin, directions, centre, yaw)
    t_near = None
    t_far = None
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            inverse = 1.0 / local_directions[axis]
            t_low = (-half_extents[axis] - local_origin[axis]) * inverse
            t_high = (half_extents[axis] - local_origin[axis]) * inverse
            axis_near = np.fmin(t_low, t_high)
            axis_far = np.fmax(t_low, t_high)
            t_near = axis_near if t_near is None else np.fmax(t_near, axis_near)
            t_far = axis_far if t_far is None else np.fmin(t_far, axis_far)
    return t_near, t_far


def _intersect_box(origin, directions, centre, half_extents, yaw) -> np.ndarray:
    t_near, t_far = slab_interval(origin, directions, centre, half_extents, yaw)
    hit = (t_near <= t_far) & (t_near > _RAY_EPS)
    return np.where(hit, t_near, np.inf)


def _intersect_sphere(origin, directions, centre, radius) -> np.ndarray:
    offset = [origin[axis] - centre[axis] for axis in range(3)]
    a = directions[0] * directions[0] + directions[1] * directions[1] + directions[2] * directions[2]
    half_b = offset[0] * directions[0] + offset[1] * directions[1] + offset[2] * directions[2]
    c = offset[0] * offset[0] + offset[1] * offset[1] + offset[2] * offset[2] - radius * radius
    discriminant = half_b * half_b - a * c
    with np.errstate(invalid="ignore"):
        t = (-half_b - np.sqrt(discriminant)) / a
    return np.where((discriminant >= 0) & (t > _RAY_EPS), t, np.inf)


def _intersect_cylinder(origin, directions, centre, radius, half_height) -> np.ndarray:
    offset_x = origin[0] - centre[0]
    offset_y = origin[1] - centre[1]
    offset_z = origin[2] - centre[2]
    a = directions[0] * directions[0] + directions[1] * directions[1]
    half_b = offset_x * directions[0] + offset_y * directions[1]
    c = offset_x * offset_x + offset_y * offset_y - radius * radius
    discriminant = half_b * half_b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = (-half_b - np.sqrt(discriminant)) / a
        z_side = offset_z + t_side * directions[2]
        side_ok = (discriminant >= 0) & (t_side > _RAY_EPS) & (np.abs(z_side) <= half_height)
        t_best = np.where(side_ok, t_side, np.inf)
        # The two flat caps; only the one facing the ray origin can be hit first.
        cap_z = np.where(offset_z > 0, half_height, -half_height)
        t_cap = (cap_z - offset_z) / directions[2]
        cap_x = offset_x + t_cap * directions[0]
        cap_y = offset_y + t_cap * directions[1]
        cap_ok = (t_cap > _RAY_EPS) & (cap_x * cap_x + cap_y * cap_y <= radius * radius)
    return np.where(cap_ok & (t_cap < t_best), t_cap, t_best)


def _intersect_horizontal_cylinder(origin, directions, centre, half_length, radius, yaw) -> np.ndarray:
    # In the yaw frame the axis is local x: relabel (x, y, z) -> (y, z, x) so the
    # vertical-cylinder test applies with the axis in third place.
    local_origin, local_directions = _to_box_frame(origin, directions, centre, yaw)
    return _intersect_cylinder(
        (local_origin[1], local_origin[2], local_origin[0]),
        (local_directions[1], local_directions[2], local_directions[0]),
        (0.0, 0.0, 0.0),
        radius,
        half_length,
    )


def intersect_primitive(primitive: Primitive, origin: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Nearest positive ray parameter of ``primitive`` (``inf`` where missed)."""
    if primitive.kind == "box":
        return _intersect_box(origin, directions, primitive.centre, primitive.half_extents, primitive.yaw)
    if primitive.kind == "cylinder":
        return _intersect_cylinder(
            origin, directions, primitive.centre, primitive.half_extents[0], primitive.half_extents[2]
        )
    if primitive.kind == "hcylinder":
        return _intersect_horizontal_cylinder(
            origin, directions, primitive.centre, primitive.half_extents[0], primitive.half_extents[1], primitive.yaw
        )
    if primitive.kind == "sphere":
        return _intersect_sphere(origin, directions, primitive.centre, primitive.half_extents[0])
    raise ValueError(f"unknown primitive kind {primitive.kind!r}")


# --------------------------------------------------------------------------
