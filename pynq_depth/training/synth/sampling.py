"""Random scenes: a room with openings, furniture along the walls, free-standing and in front of the camera."""

from __future__ import annotations

import math

import numpy as np

from .furniture import (
    FOREGROUND_FURNITURE,
    FREE_FURNITURE,
    WALL_FURNITURE,
    Part,
    _box,
    parts_extent,
)
from .palette import MaterialPalette
from .render import render_scene_description
from .scene import Camera, Group, Light, Opening, Primitive, Room, Scene, box_corners


class SceneBuilder:
    """Places furniture groups in a room while avoiding overlaps and the camera."""

    def __init__(self, room_size: tuple[float, float], camera_xy: np.ndarray) -> None:
        self.room_size = room_size
        self.camera_xy = camera_xy
        self.primitives: list[Primitive] = []
        self.groups: list[Group] = []
        self.footprints: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1

    def _footprint_free(self, footprint: tuple[float, float, float, float], wall_mounted: bool) -> bool:
        x0, y0, x1, y1 = footprint
        if x0 < -1e-6 or y0 < -1e-6 or x1 > self.room_size[0] + 1e-6 or y1 > self.room_size[1] + 1e-6:
            return False
        camera_clearance = 0.5
        cx, cy = self.camera_xy
        if x0 - camera_clearance < cx < x1 + camera_clearance and y0 - camera_clearance < cy < y1 + camera_clearance:
            return False
        if wall_mounted:
            return True  # hanging items only need to stay clear of the camera
        return all(x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0 for a0, b0, a1, b1 in self.footprints)

    def try_place(
        self, parts: list[Part], position: np.ndarray, yaw: float, wall_mounted: bool = False
    ) -> bool:
        """Add the parts at ``position`` (floor-level origin) rotated by ``yaw``."""
        centre_local, half_local = parts_extent(parts)
        corners = box_corners(centre_local, half_local, 0.0)
        cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
        world_x = cos_yaw * corners[:, 0] - sin_yaw * corners[:, 1] + position[0]
        world_y = sin_yaw * corners[:, 0] + cos_yaw * corners[:, 1] + position[1]
        footprint = (float(world_x.min()), float(world_y.min()), float(world_x.max()), float(world_y.max()))
        if not self._footprint_free(footprint, wall_mounted):
            return False
        if not wall_mounted:
            self.footprints.append(footprint)

        def to_world(local: tuple[float, float, float]) -> np.ndarray:
            return np.array(
                [
                    cos_yaw * local[0] - sin_yaw * local[1] + position[0],
                    sin_yaw * local[0] + cos_yaw * local[1] + position[1],
                    local[2] + position[2],
                ]
            )

        group_index = len(self.groups)
        self.groups.append(Group(to_world(tuple(centre_local)), half_local + 0.01, yaw))
        for part in parts:
            self.primitives.append(
                Primitive(part.kind, to_world(part.centre), np.array(part.half_extents, dtype=np.float64),
                          yaw + part.yaw, part.material, group_index)
            )
        return True


def _wall_frame(wall: int, room_size: tuple[float, float]) -> tuple[float, int, float]:
    """Yaw that turns a furniture's local +y (its back) towards ``wall``, the wall's
    free axis (0 = x, 1 = y) and the wall's coordinate on the other axis."""
    size_x, size_y = room_size
    return {
        0: (math.pi / 2, 1, 0.0),
        1: (-math.pi / 2, 1, size_x),
        2: (math.pi, 0, 0.0),
        3: (0.0, 0, size_y),
    }[wall]


def _position_against_wall(
    wall: int, along: float, distance: float, room_size: tuple[float, float], height: float = 0.0
) -> np.ndarray:
    _, free_axis, wall_coordinate = _wall_frame(wall, room_size)
    inward = 1.0 if wall in (0, 2) else -1.0
    position = np.zeros(3)
    position[free_axis] = along
    position[1 - free_axis] = wall_coordinate + inward * distance
    position[2] = height
    return position


def sample_scene(rng: np.random.Generator, height: int = 240, width: int = 320) -> Scene:
    """Draw a random furnished room and camera.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the scene is a deterministic function of it.
    height, width : int
        Image size in pixels.

    Returns
    -------
    Scene
        Scene description ready for :func:`render_scene_description`.
    """
    palette = MaterialPalette(rng)
    size_x, size_y = rng.uniform(3.0, 7.5), rng.uniform(3.0, 7.5)
    ceiling_height = rng.uniform(2.4, 3.2)
    room_size = (size_x, size_y)

    # Openings: a door or two and some windows, on distinct wall spans.
    openings: list[Opening] = []
    frame_parts: list[tuple[list[Part], np.ndarray, float]] = []
    frame_material = palette.wood()
    for _ in range(int(rng.integers(1, 5))):
        wall = int(rng.integers(4))
        wall_length = size_y if wall in (0, 1) else size_x
        is_window = rng.random() < 0.55
        opening_width = rng.uniform(0.8, 2.2) if is_window else rng.uniform(0.8, 1.0)
        if opening_width > wall_length - 0.6:
            continue
        centre = rng.uniform(0.3 + opening_width / 2, wall_length - 0.3 - opening_width / 2)
        if any(o.wall == wall and abs(o.centre - centre) < (o.width + opening_width) / 2 + 0.2 for o in openings):
            continue
        bottom = rng.uniform(0.7, 1.0) if is_window else 0.0
        top = min(rng.uniform(1.9, 2.3), ceiling_height - 0.15)
        material = palette.outdoor() if is_window else palette.corridor()
        openings.append(Opening(wall, float(centre), float(opening_width), float(bottom), float(top), material))
        # A frame around the opening and, for windows, a cross of glazing bars.
        yaw, _, _ = _wall_frame(wall, room_size)
        bar = 0.05
        parts = [
            _box((-opening_width / 2 - bar / 2, 0, (bottom + top) / 2), (bar, 0.06, top - bottom + 2 * bar), frame_material),
            _box((opening_width / 2 + bar / 2, 0, (bottom + top) / 2), (bar, 0.06, top - bottom + 2 * bar), frame_material),
            _box((0, 0, top + bar / 2), (opening_width + 2 * bar, 0.06, bar), frame_material),
        ]
        if is_window:
            parts.append(_box((0, 0, bottom - bar / 2), (opening_width + 2 * bar, 0.12, bar), frame_material))
            parts.append(_box((0, 0, (bottom + top) / 2), (opening_width, 0.03, 0.03), frame_material))
            parts.append(_box((0, 0, (bottom + top) / 2), (0.03, 0.03, top - bottom), frame_material))
        frame_parts.append((parts, _position_against_wall(wall, centre, 0.0, room_size), yaw))

    room = Room(
        size_x=float(size_x),
        size_y=float(size_y),
        ceiling_height=float(ceiling_height),
        wall_material=palette.wall(),
        floor_material=palette.floor(),
        ceiling_material=palette.ceiling(),
        openings=openings,
        background_margin=float(rng.uniform(1.5, 6.0)),
    )

    # Camera: human height, usually looking across the room from near a wall.
    camera_xy = np.array([rng.uniform(0.4, size_x - 0.4), rng.uniform(0.4, size_y - 0.4)])
    target = np.array([rng.uniform(0.2, size_x - 0.2), rng.uniform(0.2, size_y - 0.2)])
    if np.linalg.norm(target - camera_xy) < 1.0:
        target = np.array([size_x, size_y]) - camera_xy
    direction = target - camera_xy
    yaw = math.atan2(-direction[0], direction[1]) + rng.normal(0.0, 0.25)
    camera_height = rng.uniform(1.2, 1.8)

    builder = SceneBuilder(room_size, camera_xy)
    for parts, position, frame_yaw in frame_parts:
        builder.try_place(parts, position, frame_yaw, wall_mounted=True)

    # Furniture against the walls, with the back towards the wall.
    for _ in range(int(rng.integers(5, 14))):
        maker = WALL_FURNITURE[int(rng.integers(len(WALL_FURNITURE)))]
        parts = maker(rng, palette)
        _, half = parts_extent(parts)
        wall = int(rng.integers(4))
        wall_yaw, free_axis, _ = _wall_frame(wall, room_size)
        wall_length = room_size[free_axis]
        if 2 * half[0] > wall_length - 0.1:
            continue
        along = rng.uniform(half[0] + 0.05, wall_length - half[0] - 0.05)
        position = _position_against_wall(wall, along, half[1] + rng.uniform(0.005, 0.05), room_size)
        # Openings are only at doors/windows heights; keep doors clear.
        blocked = any(
            o.wall == wall and o.bottom < 0.1 and abs(o.centre - along) < o.width / 2 + half[0] + 0.1 for o in openings
        )
        if not blocked:
            builder.try_place(parts, position, wall_yaw)

    # Free-standing furniture with arbitrary yaw.
    for _ in range(int(rng.integers(1, 8))):
        maker = FREE_FURNITURE[int(rng.integers(len(FREE_FURNITURE)))]
        parts = maker(rng, palette)
        position = np.array([rng.uniform(0.3, size_x - 0.3), rng.uniform(0.3, size_y - 0.3), 0.0])
        builder.try_place(parts, position, float(rng.uniform(-math.pi, math.pi)))

    # Objects in front of the camera, in the middle of its view.
    forward = np.array([-math.sin(yaw), math.cos(yaw)])
    right = np.array([math.cos(yaw), math.sin(yaw)])
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        maker = FOREGROUND_FURNITURE[int(rng.integers(len(FOREGROUND_FURNITURE)))]
        distance = rng.uniform(1.0, 3.5)
        xy = camera_xy + distance * forward + rng.uniform(-0.4, 0.4) * distance * right
        builder.try_place(maker(rng, palette), np.array([xy[0], xy[1], 0.0]), float(rng.uniform(-math.pi, math.pi)))

    # Pictures and wall shelves.
    for _ in range(int(rng.integers(0, 6))):
        wall = int(rng.integers(4))
        wall_yaw, free_axis, _ = _wall_frame(wall, room_size)
        picture_width = rng.uniform(0.3, 1.0)
        picture_height = picture_width * rng.uniform(0.6, 1.3)
        along = rng.uniform(picture_width, room_size[free_axis] - picture_width)
        centre_height = rng.uniform(1.3, min(1.9, ceiling_height - picture_height / 2 - 0.1))
        if any(o.wall == wall and abs(o.centre - along) < o.width / 2 + picture_width for o in openings):
            continue
        if rng.random() < 0.75:
            border = rng.uniform(0.02, 0.06)
            parts = [
                _box((0, 0.015, centre_height), (picture_width + 2 * border, 0.03, picture_height + 2 * border), palette.wood()),
                _box((0, 0.0, centre_height), (picture_width, 0.035, picture_height), palette.picture(picture_width)),
            ]
        else:
            board = palette.wood()
            shelf_depth = rng.uniform(0.18, 0.3)
            parts = [_box((0, 0.15 - shelf_depth / 2, centre_height), (picture_width * 1.5, shelf_depth, 0.025), board)]
            for index in range(int(rng.integers(1, 4))):
                radius = rng.uniform(0.03, 0.07)
                item_height = rng.uniform(0.08, 0.25)
                x = (index - 1) * picture_width * 0.45
                parts.append(Part("cylinder", (x, 0.15 - shelf_depth / 2, centre_height + 0.0125 + item_height / 2), (radius, radius, item_height / 2), palette.solid()))
        builder.try_place(parts, _position_against_wall(wall, along, 0.15, room_size), wall_yaw, wall_mounted=True)

    camera = Camera.nyu_like(
        position=np.array([camera_xy[0], camera_xy[1], camera_height]),
        yaw=yaw,
        # NYU-style handheld captures mostly look slightly downwards.
        pitch=float(np.radians(np.clip(rng.normal(-6.0, 7.0), -15.0, 15.0))),
        roll=float(np.radians(rng.uniform(-5.0, 5.0))),
        height=height,
        width=width,
    )

    lights = []
    light_height = ceiling_height - 0.25
    for index in range(int(rng.integers(1, 4))):
        warmth = rng.uniform(-0.15, 0.15)
        lights.append(
            Light(
                position=np.array([rng.uniform(0.5, size_x - 0.5), rng.uniform(0.5, size_y - 0.5), light_height]),
                colour=(1.0 + warmth, 1.0, 1.0 - warmth),
                power=float(rng.uniform(4.0, 12.0)),
                # Shadows for the strongest (first) light only: they are the
                # costliest part of rendering.
                casts_shadows=index == 0,
            )
        )

    return Scene(
        camera=camera,
        room=room,
        materials=palette.materials,
        primitives=builder.primitives,
        groups=builder.groups,
        lights=lights,
        ambient=float(rng.uniform(0.15, 0.45)),
        exposure=float(rng.uniform(0.12, 0.3)),
        white_balance=tuple(float(gain) for gain in 1.0 + rng.normal(0.0, 0.04, 3)),
    )


def render_scene(seed: int, height: int = 240, width: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """Render the random indoor scene identified by ``seed``.

    Parameters
    ----------
    seed : int
        Scene seed; equal seeds give identical outputs.
    height, width : int
        Image size in pixels.

    Returns
    -------
    rgb : numpy.ndarray
        ``uint8`` image of shape ``(height, width, 3)``.
    depth : numpy.ndarray
        ``float32`` z-depth in metres of shape ``(height, width)`` within
        ``[MIN_DEPTH_M, MAX_DEPTH_M]``.
    """
    rng = np.random.default_rng(seed)
    return render_scene_description(sample_scene(rng, height, width))
