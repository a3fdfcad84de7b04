"""Rendering a scene description: primary rays, shadows, ambient occlusion, sRGB output and exact depth."""

from __future__ import annotations

import math

import numpy as np

from .raycast import intersect_primitive, room_exit, slab_interval
from .scene import (
    _BACKGROUND_ID_BASE,
    _PART_ID_BASE,
    _ROOM_ID,
    _SHADOW_OFFSET_M,
    MAX_DEPTH_M,
    MIN_DEPTH_M,
    Light,
    Opening,
    Primitive,
    Room,
    Scene,
)
from .shading import primitive_surface, room_surface, shade_albedo
from .textures import texture_bank


def _opening_mask(room: Room, opening: Opening, points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    along = points[1] if opening.wall in (0, 1) else points[0]
    return (
        (faces == opening.wall)
        & (np.abs(along - opening.centre) <= opening.width / 2)
        & (points[2] >= opening.bottom)
        & (points[2] <= opening.top)
    )


def _cast_primary(scene: Scene, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit parameter, primitive id and room face for every pixel."""
    camera = scene.camera
    room = scene.room
    origin = camera.position.astype(np.float32)
    t_best, faces = room_exit(origin, directions, room.low_corner, room.high_corner)
    ids = np.full(t_best.shape, _ROOM_ID, dtype=np.int16)

    if room.openings:
        points = origin[:, None, None] + t_best[None] * directions
        margin = room.background_margin
        low = room.low_corner - np.array([margin, margin, 0.0])
        high = room.high_corner + np.array([margin, margin, 0.0])
        for index, opening in enumerate(room.openings):
            through = _opening_mask(room, opening, points, faces)
            if not np.any(through):
                continue
            t_background, face_background = room_exit(origin, directions[:, through], low, high)
            t_best[through] = t_background
            faces[through] = face_background
            ids[through] = _BACKGROUND_ID_BASE + index

    for index, primitive in enumerate(scene.primitives):
        window = camera.project_box_to_pixels(primitive.bounding_corners())
        if window is None:
            continue
        row_start, row_stop, col_start, col_stop = window
        window_directions = directions[:, row_start:row_stop, col_start:col_stop]
        t_hit = intersect_primitive(primitive, origin, window_directions)
        window_t = t_best[row_start:row_stop, col_start:col_stop]
        closer = t_hit < window_t
        np.copyto(window_t, t_hit, where=closer)
        ids[row_start:row_stop, col_start:col_stop][closer] = _PART_ID_BASE + index
    return t_best, ids, faces


def _shadow_visibility(scene: Scene, light: Light, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """1 where ``light`` is visible from the surface points, else 0 (shape ``(N,)``)."""
    origins = points + _SHADOW_OFFSET_M * normals
    to_light = light.position[:, None].astype(np.float32) - origins  # segment: t in (0, 1)
    visible = np.ones(points.shape[1], dtype=bool)
    parts_by_group: dict[int, list[Primitive]] = {}
    for primitive in scene.primitives:
        parts_by_group.setdefault(primitive.group, []).append(primitive)
    for group_index, parts in parts_by_group.items():
        group = scene.groups[group_index]
        t_near, t_far = slab_interval(origins, to_light, group.centre, group.half_extents, group.yaw)
        candidates = np.nonzero((t_near <= t_far) & (t_far > 0) & (t_near < 1) & visible)[0]
        if candidates.size == 0:
            continue
        candidate_origins = origins[:, candidates]
        candidate_segments = to_light[:, candidates]
        blocked = np.zeros(candidates.size, dtype=bool)
        for primitive in parts:
            blocked |= intersect_primitive(primitive, candidate_origins, candidate_segments) < 1.0
        visible[candidates[blocked]] = False
    return visible.astype(np.float32)


def _box_blur3(image: np.ndarray) -> np.ndarray:
    """3x3 binomial blur over the last two axes with edge replication."""
    padded = np.pad(image, [(0, 0)] * (image.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    rows = padded[..., :-2, :] + 2 * padded[..., 1:-1, :] + padded[..., 2:, :]
    return (rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]) / 16.0


def _ambient_occlusion(scene: Scene, points: np.ndarray, ids: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Cheap ambient-occlusion factor: darken near room edges and under furniture."""
    room = scene.room
    occlusion = np.ones(points.shape[1], dtype=np.float32)
    distances = (
        points[0],
        room.size_x - points[0],
        points[1],
        room.size_y - points[1],
        points[2],
        room.ceiling_height - points[2],
    )
    for distance in distances:
        # Skip the plane the point lies on: its distance is ~0 by construction.
        term = 1.0 - 0.45 * np.exp(-distance / 0.25)
        occlusion *= np.where(distance > 2e-3, term, 1.0)

    floor_pixels = np.nonzero((ids == _ROOM_ID) & (faces == 4))[0]
    if floor_pixels.size and scene.groups:
        floor_x = points[0, floor_pixels]
        floor_y = points[1, floor_pixels]
        floor_occlusion = np.ones(floor_pixels.size, dtype=np.float32)
        for group in scene.groups:
            if group.centre[2] - group.half_extents[2] > 0.05:
                continue  # only furniture standing on the floor darkens it
            cos_yaw, sin_yaw = math.cos(group.yaw), math.sin(group.yaw)
            offset_x = floor_x - group.centre[0]
            offset_y = floor_y - group.centre[1]
            local_x = np.abs(cos_yaw * offset_x + sin_yaw * offset_y) - group.half_extents[0]
            local_y = np.abs(-sin_yaw * offset_x + cos_yaw * offset_y) - group.half_extents[1]
            outside = np.hypot(np.maximum(local_x, 0), np.maximum(local_y, 0))
            floor_occlusion *= 1.0 - 0.55 * np.exp(-outside / 0.12)
        occlusion[floor_pixels] *= floor_occlusion
    return occlusion


_SRGB_LUT_SIZE = 4096
_SRGB_LUT = np.clip(
    np.round(255.0 * np.linspace(0.0, 1.0, _SRGB_LUT_SIZE) ** (1.0 / 2.2)), 0, 255
).astype(np.uint8)


def render_scene_description(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Render a scene description.

    Parameters
    ----------
    scene : Scene
        The scene, including its camera.

    Returns
    -------
    rgb : numpy.ndarray
        ``uint8`` image of shape ``(H, W, 3)``.
    depth : numpy.ndarray
        ``float32`` z-depth in metres of shape ``(H, W)``, clipped to
        ``[MIN_DEPTH_M, MAX_DEPTH_M]``.
    """
    camera = scene.camera
    height, width = camera.height, camera.width
    texture_stack, _ = texture_bank()
    directions = camera.ray_directions()
    t_best, ids, faces = _cast_primary(scene, directions)
    depth = np.clip(t_best, MIN_DEPTH_M, MAX_DEPTH_M).astype(np.float32)

    pixel_count = height * width
    flat_t = t_best.reshape(-1)
    flat_ids = ids.reshape(-1)
    flat_faces = faces.reshape(-1)
    flat_directions = directions.reshape(3, pixel_count)
    points = camera.position.astype(np.float32)[:, None] + flat_t[None] * flat_directions

    normals = np.empty((3, pixel_count), dtype=np.float32)
    albedo = np.empty((3, pixel_count), dtype=np.float32)
    emission = np.zeros(pixel_count, dtype=np.float32)
    receives_direct = np.ones(pixel_count, dtype=np.float32)
    footprint = np.empty(pixel_count, dtype=np.float32)

    # Visit each primitive's pixels once: a stable sort groups pixels by id.
    order = np.argsort(flat_ids, kind="stable")
    unique_ids, starts = np.unique(flat_ids[order], return_index=True)
    stops = np.append(starts[1:], pixel_count)
    for primitive_id, start, stop in zip(unique_ids.tolist(), starts.tolist(), stops.tolist()):
        pixels = order[start:stop]
        hit_points = points[:, pixels]
        if primitive_id < _PART_ID_BASE:
            surface_normals, u, v = room_surface(hit_points, flat_faces[pixels])
            if primitive_id == _ROOM_ID:
                face = flat_faces[pixels]
                material_ids = np.where(
                    face == 4, scene.room.floor_material, np.where(face == 5, scene.room.ceiling_material, scene.room.wall_material)
                )
            else:
                opening = scene.room.openings[primitive_id - _BACKGROUND_ID_BASE]
                material_ids = np.full(pixels.size, opening.material)
                if opening.bottom < 0.05:
                    # A door leads to more building: continue floor and ceiling.
                    face = flat_faces[pixels]
                    material_ids[face == 4] = scene.room.floor_material
                    material_ids[face == 5] = scene.room.ceiling_material
                # Beyond the room there are no modelled lights: ambient only.
                receives_direct[pixels] = 0.0
        else:
            primitive = scene.primitives[primitive_id - _PART_ID_BASE]
            surface_normals, u, v = primitive_surface(primitive, hit_points)
            material_ids = np.full(pixels.size, primitive.material)
        normals[:, pixels] = surface_normals
        # Pixel footprint on the surface: ray length / focal, stretched by the
        # grazing angle (clamped so edge-on surfaces do not blur to grey).
        ray = flat_directions[:, pixels]
        ray_length = np.sqrt(np.sum(ray * ray, axis=0))
        cosine = np.abs(np.sum(surface_normals * ray, axis=0)) / ray_length
        footprint[pixels] = flat_t[pixels] * ray_length / (camera.fx * np.maximum(cosine, 0.25))
        for material_index in np.unique(material_ids).tolist():
            subset = material_ids == material_index
            material = scene.materials[material_index]
            target = pixels[subset]
            albedo[:, target] = shade_albedo(material, u[subset], v[subset], footprint[target], texture_stack)
            if material.emission:
                emission[target] = material.emission

    occlusion = _ambient_occlusion(scene, points, flat_ids, flat_faces)
    irradiance = np.zeros((3, pixel_count), dtype=np.float32)
    irradiance += scene.ambient * occlusion
    for light in scene.lights:
        to_light = light.position.astype(np.float32)[:, None] - points
        distance_sq = np.sum(to_light * to_light, axis=0)
        cosine = np.maximum(np.sum(normals * to_light, axis=0), 0.0) / np.sqrt(distance_sq)
        strength = light.power * cosine / (1.0 + distance_sq) * receives_direct
        strength *= 0.6 + 0.4 * occlusion  # direct light is occluded less than ambient
        if light.casts_shadows and scene.primitives:
            # Shadows at half resolution, softened by a blur, then upsampled.
            half_grid_points = points.reshape(3, height, width)[:, ::2, ::2]
            half_grid_normals = normals.reshape(3, height, width)[:, ::2, ::2]
            half_shape = half_grid_points.shape[1:]
            visibility = _shadow_visibility(
                scene, light, half_grid_points.reshape(3, -1), half_grid_normals.reshape(3, -1)
            ).reshape(half_shape)
            visibility = _box_blur3(visibility)
            visibility = np.repeat(np.repeat(visibility, 2, axis=0), 2, axis=1)[:height, :width]
            strength *= visibility.reshape(-1)
        irradiance += np.asarray(light.colour, dtype=np.float32)[:, None] * strength[None]

    radiance = albedo * irradiance + albedo * emission[None]
    luminance = 0.2126 * radiance[0] + 0.7152 * radiance[1] + 0.0722 * radiance[2]
    gain = scene.exposure / max(float(luminance.mean()), 1e-6)
    radiance *= gain * np.asarray(scene.white_balance, dtype=np.float32)[:, None]
    image = _box_blur3(radiance.reshape(3, height, width))  # lens softness; also tames texture aliasing
    lut_index = np.clip(image * (_SRGB_LUT_SIZE - 1), 0, _SRGB_LUT_SIZE - 1).astype(np.int32)
    rgb = _SRGB_LUT[lut_index].transpose(1, 2, 0)
    return np.ascontiguousarray(rgb), depth


# --------------------------------------------------------------------------
