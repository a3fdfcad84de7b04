"""Furniture and objects built from boxes, cylinders and spheres in their local frame (floor at z = 0)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .palette import MaterialPalette
from .scene import _YAWED_KINDS, box_corners


@dataclass
class Part:
    """Furniture part in the furniture's local frame (floor at z = 0); ``yaw`` turns
    a box or horizontal cylinder relative to the furniture (chair-base spokes)."""

    kind: str
    centre: tuple[float, float, float]
    half_extents: tuple[float, float, float]
    material: int
    yaw: float = 0.0


def _box(centre: tuple[float, float, float], size: tuple[float, float, float], material: int) -> Part:
    return Part("box", centre, (size[0] / 2, size[1] / 2, size[2] / 2), material)


def _furniture_table(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    width, depth, height = rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0), rng.uniform(0.7, 0.78)
    thickness, leg = rng.uniform(0.03, 0.06), rng.uniform(0.04, 0.07)
    top_material = palette.wood()
    leg_material = top_material if rng.random() < 0.6 else palette.solid()
    parts = [_box((0, 0, height - thickness / 2), (width, depth, thickness), top_material)]
    leg_height = height - thickness
    round_legs = rng.random() < 0.4
    for sign_x in (-1, 1):
        for sign_y in (-1, 1):
            x = sign_x * (width / 2 - leg)
            y = sign_y * (depth / 2 - leg)
            if round_legs:
                parts.append(Part("cylinder", (x, y, leg_height / 2), (leg / 2, leg / 2, leg_height / 2), leg_material))
            else:
                parts.append(_box((x, y, leg_height / 2), (leg, leg, leg_height), leg_material))
    if rng.random() < 0.6:  # something on the table
        item_material = palette.solid()
        x, y = rng.uniform(-width / 3, width / 3), rng.uniform(-depth / 4, depth / 4)
        if rng.random() < 0.5:
            radius, item_height = rng.uniform(0.04, 0.1), rng.uniform(0.08, 0.3)
            parts.append(Part("cylinder", (x, y, height + item_height / 2), (radius, radius, item_height / 2), item_material))
        else:
            radius = rng.uniform(0.05, 0.12)
            parts.append(Part("sphere", (x, y, height + radius), (radius, radius, radius), item_material))
    return parts


def _furniture_chair(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    size, seat_height = rng.uniform(0.4, 0.5), rng.uniform(0.42, 0.48)
    material = palette.wood()
    leg = 0.035
    parts = [
        _box((0, 0, seat_height - 0.02), (size, size, 0.04), material),
        _box((0, size / 2 - 0.02, seat_height + 0.25), (size, 0.04, 0.5), material),
    ]
    for sign_x in (-1, 1):
        for sign_y in (-1, 1):
            parts.append(_box((sign_x * (size / 2 - leg), sign_y * (size / 2 - leg), (seat_height - 0.04) / 2), (leg, leg, seat_height - 0.04), material))
    return parts


def _furniture_cabinet(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    width, depth, height = rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.6), rng.uniform(0.5, 2.0)
    body = palette.wood()
    parts = [_box((0, 0, height / 2), (width, depth, height), body)]
    front = body if rng.random() < 0.5 else palette.wood()
    drawers = int(rng.integers(0, 5))
    if drawers:
        # Drawer fronts stand slightly proud of the body (local -y is the front).
        gap = 0.02
        drawer_height = (height - gap * (drawers + 1)) / drawers
        for index in range(drawers):
            z = gap + drawer_height / 2 + index * (drawer_height + gap)
            parts.append(_box((0, -depth / 2 - 0.01, z), (width - 2 * gap, 0.02, drawer_height), front))
    if height < 1.1 and rng.random() < 0.6:  # a lamp or box on top
        item = palette.solid()
        radius = rng.uniform(0.06, 0.15)
        item_height = rng.uniform(0.1, 0.45)
        parts.append(Part("cylinder", (rng.uniform(-width / 3, width / 3), 0, height + item_height / 2), (radius, radius, item_height / 2), item))
    return parts


def _furniture_bed(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    width, length = rng.uniform(0.9, 1.8), rng.uniform(1.9, 2.1)
    frame = palette.wood()
    sheet = palette.fabric()
    parts = [
        _box((0, 0, 0.15), (width, length, 0.3), frame),
        _box((0, -0.02, 0.4), (width - 0.04, length - 0.1, 0.2), sheet),
        _box((0, length / 2 - 0.03, 0.5), (width, 0.06, rng.uniform(0.8, 1.2)), frame),
    ]
    pillow = palette.fabric()
    pillows = 2 if width > 1.3 else 1
    for index in range(pillows):
        x = (index - (pillows - 1) / 2) * width / 2
        parts.append(_box((x, length / 2 - 0.3, 0.56), (width / pillows - 0.12, 0.4, 0.12), pillow))
    return parts


def _furniture_sofa(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    width, depth = rng.uniform(1.5, 2.4), rng.uniform(0.8, 1.0)
    cover = palette.fabric()
    arm_width = rng.uniform(0.12, 0.25)
    parts = [
        _box((0, 0, 0.21), (width, depth, 0.42), cover),
        _box((0, depth / 2 - 0.1, 0.42 + 0.22), (width, 0.2, 0.44), cover),
    ]
    for sign in (-1, 1):
        parts.append(_box((sign * (width / 2 - arm_width / 2), 0, 0.32), (arm_width, depth, 0.64), cover))
    if rng.random() < 0.6:
        cushion = palette.fabric()
        parts.append(_box((rng.uniform(-width / 4, width / 4), depth / 2 - 0.27, 0.6), (0.4, 0.14, 0.36), cushion))
    return parts


def _furniture_bookshelf(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    width, depth, height = rng.uniform(0.6, 1.2), rng.uniform(0.28, 0.4), rng.uniform(1.2, 2.2)
    board = palette.wood()
    thickness = 0.025
    parts = [
        _box((-width / 2 + thickness / 2, 0, height / 2), (thickness, depth, height), board),
        _box((width / 2 - thickness / 2, 0, height / 2), (thickness, depth, height), board),
        _box((0, depth / 2 - 0.005, height / 2), (width, 0.01, height), board),
        _box((0, 0, height - thickness / 2), (width, depth, thickness), board),
        _box((0, 0, thickness / 2 + 0.05), (width, depth, thickness), board),
    ]
    shelves = int(rng.integers(2, 5))
    spacing = (height - 0.1) / (shelves + 1)
    book_materials = [palette.solid() for _ in range(3)]
    for shelf in range(shelves + 1):
        z = 0.05 + thickness + shelf * spacing
        if shelf > 0:
            parts.append(_box((0, 0, z - thickness / 2), (width, depth, thickness), board))
        # A few blocks of books per shelf, leaving gaps.
        x = -width / 2 + thickness + rng.uniform(0.0, 0.1)
        while rng.random() < 0.8:
            block_width = rng.uniform(0.05, 0.25)
            if x + block_width > width / 2 - thickness:
                break
            book_height = rng.uniform(0.5, 0.85) * (spacing - thickness)
            book_depth = depth * rng.uniform(0.6, 0.9)
            parts.append(
                _box(
                    (x + block_width / 2, depth / 2 - 0.01 - book_depth / 2, z + book_height / 2),
                    (block_width, book_depth, book_height),
                    book_materials[int(rng.integers(len(book_materials)))],
                )
            )
            x += block_width + rng.uniform(0.0, 0.1)
    return parts


def _furniture_lamp(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    height = rng.uniform(1.2, 1.7)
    metal = palette.solid()
    shade = palette.fabric()
    shade_radius = rng.uniform(0.15, 0.25)
    return [
        Part("cylinder", (0, 0, 0.015), (0.15, 0.15, 0.015), metal),
        Part("cylinder", (0, 0, height / 2), (0.015, 0.015, height / 2), metal),
        Part("cylinder", (0, 0, height + 0.12), (shade_radius, shade_radius, 0.12), shade),
    ]


def _furniture_plant(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    pot_radius, pot_height = rng.uniform(0.12, 0.25), rng.uniform(0.2, 0.45)
    foliage_radius = rng.uniform(0.2, 0.45)
    return [
        Part("cylinder", (0, 0, pot_height / 2), (pot_radius, pot_radius, pot_height / 2), palette.solid()),
        Part("sphere", (0, 0, pot_height + foliage_radius * 0.8), (foliage_radius,) * 3, palette.foliage()),
    ]


def _furniture_round_table(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    radius, height = rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.75)
    material = palette.wood()
    return [
        Part("cylinder", (0, 0, height - 0.02), (radius, radius, 0.02), material),
        Part("cylinder", (0, 0, height / 2), (0.04, 0.04, height / 2), material),
        Part("cylinder", (0, 0, 0.02), (radius * 0.5, radius * 0.5, 0.02), material),
    ]


def _furniture_ball(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    radius = rng.uniform(0.1, 0.35)
    return [Part("sphere", (0, 0, radius), (radius,) * 3, palette.solid())]


def _furniture_tv_stand(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    width = rng.uniform(1.0, 1.8)
    stand_height = rng.uniform(0.4, 0.6)
    screen_width = width * rng.uniform(0.6, 0.9)
    screen_height = screen_width * 0.58
    dark = palette._pattern("plain", np.array([0.02, 0.02, 0.02]), np.array([0.08, 0.08, 0.09]), 50.0)
    return [
        _box((0, 0, stand_height / 2), (width, 0.45, stand_height), palette.wood()),
        _box((0, 0.05, stand_height + 0.02), (0.3, 0.2, 0.04), dark),
        _box((0, 0.05, stand_height + 0.08 + screen_height / 2), (screen_width, 0.05, screen_height), dark),
    ]


def _furniture_clutter(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """A small pile of boxes, bins and balls on the floor."""
    parts: list[Part] = []
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)
        kind = rng.random()
        if kind < 0.5:
            size = rng.uniform(0.15, 0.5, 3)
            parts.append(_box((x, y, size[2] / 2), tuple(size), palette.solid() if rng.random() < 0.5 else palette.wood()))
        elif kind < 0.8:
            radius, height = rng.uniform(0.1, 0.22), rng.uniform(0.2, 0.5)
            parts.append(Part("cylinder", (x, y, height / 2), (radius, radius, height / 2), palette.solid()))
        else:
            radius = rng.uniform(0.08, 0.2)
            parts.append(Part("sphere", (x, y, radius), (radius,) * 3, palette.fabric()))
    return parts


def _storage_items(
    rng: np.random.Generator, palette: MaterialPalette, x_range: tuple[float, float], depth: float,
    z: float, clearance: float, back_y: float,
) -> list[Part]:
    """Boxes, bins and stacks packed along a shelf from ``x_range[0]`` to ``x_range[1]``."""
    parts: list[Part] = []
    materials = [palette.cardboard() for _ in range(int(rng.integers(2, 5)))]
    x = x_range[0] + rng.uniform(0.0, 0.05)
    while True:
        width = rng.uniform(0.12, 0.5)
        if x + width > x_range[1]:
            break
        if rng.random() < 0.12:  # a gap
            x += width
            continue
        item_depth = depth * rng.uniform(0.55, 0.95)
        y = back_y - item_depth / 2
        if rng.random() < 0.25:  # a bin or jar
            radius = min(width, item_depth) / 2
            item_height = clearance * rng.uniform(0.4, 0.9)
            parts.append(Part("cylinder", (x + radius, y, z + item_height / 2), (radius, radius, item_height / 2),
                               materials[int(rng.integers(len(materials)))]))
            x += 2 * radius + rng.uniform(0.0, 0.06)
            continue
        item_height = clearance * rng.uniform(0.35, 0.95)
        parts.append(_box((x + width / 2, y, z + item_height / 2), (width, item_depth, item_height),
                          materials[int(rng.integers(len(materials)))]))
        if item_height < clearance * 0.55 and rng.random() < 0.5:  # another box on top
            top_height = rng.uniform(0.3, 0.95) * (clearance - item_height)
            top_width = width * rng.uniform(0.6, 1.0)
            parts.append(_box((x + width / 2, y + rng.uniform(-0.03, 0.03), z + item_height + top_height / 2),
                              (top_width, item_depth * rng.uniform(0.7, 1.0), top_height),
                              materials[int(rng.integers(len(materials)))]))
        x += width + rng.uniform(0.0, 0.05)
    return parts


def _furniture_storage_rack(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """Open shelving (metal or wood) packed with boxes and bins: garages, stores, offices."""
    width, depth, height = rng.uniform(0.9, 2.0), rng.uniform(0.35, 0.6), rng.uniform(1.5, 2.3)
    frame = palette.metal() if rng.random() < 0.6 else palette.wood()
    post = rng.uniform(0.025, 0.045)
    parts = [
        _box((sign_x * (width / 2 - post / 2), sign_y * (depth / 2 - post / 2), height / 2), (post, post, height), frame)
        for sign_x in (-1, 1)
        for sign_y in (-1, 1)
    ]
    levels = int(rng.integers(3, 6))
    bottom = rng.uniform(0.05, 0.2)
    spacing = (height - bottom) / (levels - 1)
    plank = 0.025
    for level in range(levels):
        z = bottom + level * spacing
        parts.append(_box((0, 0, z - plank / 2), (width, depth, plank), frame))
        if level < levels - 1 and rng.random() < 0.9:
            parts += _storage_items(rng, palette, (-width / 2 + post, width / 2 - post), depth - 0.02, z,
                                    spacing - plank - 0.02, depth / 2 - 0.01)
    return parts


def _furniture_box_stack(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """One to three columns of stacked cartons."""
    parts: list[Part] = []
    x = 0.0
    for _ in range(int(rng.integers(1, 4))):
        width, depth = rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6)
        z = 0.0
        for _ in range(int(rng.integers(1, 4))):
            height = rng.uniform(0.2, 0.5)
            parts.append(_box((x + width / 2 + rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04), z + height / 2),
                              (width, depth, height), palette.cardboard()))
            z += height
            width, depth = width * rng.uniform(0.75, 1.0), depth * rng.uniform(0.75, 1.0)
        x += width + rng.uniform(0.02, 0.15)
    return parts


def _wheel(y: float, radius: float, width: float, tyre: int, hub: int) -> list[Part]:
    """A wheel turning about the local x axis: tyre disc and a wider, smaller hub."""
    return [
        Part("hcylinder", (0, y, radius), (width / 2, radius, radius), tyre),
        Part("hcylinder", (0, y, radius), (width / 2 + 0.015, radius * 0.3, radius * 0.3), hub),
    ]


def _tube(start: tuple[float, float], end: tuple[float, float], thickness: float, material: int,
          segments: int = 4) -> list[Part]:
    """A slanted tube in the local y-z plane as a staircase of short boxes (boxes only yaw)."""
    parts = []
    for index in range(segments):
        a, b = index / segments, (index + 1) / segments
        y0, z0 = start[0] + a * (end[0] - start[0]), start[1] + a * (end[1] - start[1])
        y1, z1 = start[0] + b * (end[0] - start[0]), start[1] + b * (end[1] - start[1])
        parts.append(_box((0, (y0 + y1) / 2, (z0 + z1) / 2),
                          (thickness, abs(y1 - y0) + thickness, abs(z1 - z0) + thickness), material))
    return parts


def _furniture_bicycle(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """A bicycle along local y: two thin wheels, a tube frame, saddle and handlebar."""
    radius, wheelbase = rng.uniform(0.3, 0.36), rng.uniform(1.0, 1.15)
    tyre, frame = palette.rubber(), palette.solid()
    back, front = -wheelbase / 2, wheelbase / 2
    seat_z, bar_z = radius + rng.uniform(0.5, 0.65), radius + rng.uniform(0.55, 0.75)
    crank = (back + 0.42, radius)
    parts = _wheel(back, radius, 0.04, tyre, frame) + _wheel(front, radius, 0.04, tyre, frame)
    parts += _tube((back, radius), (back + 0.25, seat_z - 0.1), 0.03, frame, 3)  # seat stay
    parts += _tube((back, radius), crank, 0.03, frame, 2)  # chain stay
    parts += _tube(crank, (back + 0.3, seat_z), 0.035, frame, 4)  # seat tube
    parts += _tube(crank, (front - 0.12, bar_z - 0.12), 0.04, frame, 5)  # down tube
    parts += _tube((back + 0.3, seat_z - 0.08), (front - 0.12, bar_z - 0.08), 0.035, frame, 4)  # top tube
    parts += _tube((front, radius), (front - 0.12, bar_z), 0.03, frame, 4)  # fork
    parts.append(_box((0, back + 0.3, seat_z + 0.03), (0.12, 0.25, 0.05), palette.rubber()))
    parts.append(Part("hcylinder", (0, front - 0.14, bar_z + 0.02), (0.25, 0.015, 0.015), frame))
    return parts


def _furniture_motorbike(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """A motorbike or scooter along local y: fat wheels, engine block, tank, seat, forks."""
    radius, wheelbase = rng.uniform(0.26, 0.34), rng.uniform(1.3, 1.55)
    tyre, metal, paint = palette.rubber(), palette.metal(), palette.solid()
    back, front = -wheelbase / 2, wheelbase / 2
    width = rng.uniform(0.09, 0.15)
    parts = _wheel(back, radius, width, tyre, metal) + _wheel(front, radius, width, tyre, metal)
    engine_height = rng.uniform(0.25, 0.35)
    parts.append(_box((0, rng.uniform(-0.1, 0.05), radius * 0.6 + engine_height / 2),
                      (rng.uniform(0.25, 0.35), rng.uniform(0.35, 0.5), engine_height), metal))
    seat_z = radius + rng.uniform(0.4, 0.55)
    parts.append(_box((0, back + 0.45, seat_z), (0.24, rng.uniform(0.45, 0.65), 0.1), palette.rubber()))
    parts.append(Part("hcylinder", (0, front - 0.45, seat_z + 0.02), (0.14, 0.2, 0.11), paint, yaw=math.pi / 2))
    parts.append(_box((0, back + 0.05, radius + 0.12), (width + 0.04, 0.5, 0.04), paint))  # rear fender
    parts.append(_box((0, front, radius * 2 + 0.04), (width + 0.04, 0.35, 0.04), paint))  # front fender
    parts += _tube((front, radius), (front - 0.2, seat_z + 0.2), 0.05, metal, 4)  # forks
    parts.append(Part("hcylinder", (0, front - 0.2, seat_z + 0.25), (0.35, 0.015, 0.015), metal))
    parts.append(Part("sphere", (0, front - 0.08, seat_z + 0.12), (0.09, 0.09, 0.09), metal))  # headlight
    side = rng.choice([-1.0, 1.0])
    parts.append(Part("hcylinder", (side * 0.15, back + 0.1, radius * 0.7), (0.4, 0.045, 0.045), metal, yaw=math.pi / 2))
    return parts


def _furniture_office_chair(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """Swivel chair: five-spoke base on casters, gas column, seat, back."""
    metal, cover = palette.metal() if rng.random() < 0.5 else palette.rubber(), palette.fabric()
    spoke_length, seat_height = rng.uniform(0.28, 0.34), rng.uniform(0.42, 0.52)
    base_yaw = rng.uniform(0, 2 * math.pi / 5)
    parts = [Part("cylinder", (0, 0, (seat_height + 0.08) / 2), (0.03, 0.03, (seat_height - 0.08) / 2), metal)]
    for index in range(5):
        angle = base_yaw + index * 2 * math.pi / 5
        # A spoke along its local x, turned by ``angle``; centre halfway out.
        cx, cy = math.cos(angle) * spoke_length / 2, math.sin(angle) * spoke_length / 2
        parts.append(Part("box", (cx, cy, 0.08), (spoke_length / 2, 0.02, 0.02), metal, yaw=angle))
        parts.append(Part("sphere", (2 * cx, 2 * cy, 0.03), (0.03, 0.03, 0.03), metal))
    size = rng.uniform(0.44, 0.52)
    parts.append(_box((0, 0, seat_height), (size, size, 0.08), cover))
    back_height = rng.uniform(0.4, 0.65)
    parts.append(_box((0, size / 2 - 0.03, seat_height + 0.12 + back_height / 2), (size * 0.95, 0.06, back_height), cover))
    parts.append(_box((0, size / 2 - 0.02, seat_height + 0.08), (0.05, 0.03, 0.16), metal))
    if rng.random() < 0.6:
        for sign in (-1, 1):
            parts.append(_box((sign * (size / 2 + 0.02), 0.0, seat_height + 0.2), (0.04, size * 0.6, 0.03), metal))
            parts.append(_box((sign * (size / 2 + 0.02), 0.0, seat_height + 0.1), (0.03, 0.03, 0.2), metal))
    return parts


def _furniture_stool(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """Round stool or bar stool on thin legs with a foot bar."""
    height, radius = rng.uniform(0.45, 0.8), rng.uniform(0.15, 0.22)
    seat, legs = palette.wood(), palette.metal() if rng.random() < 0.5 else palette.wood()
    parts = [Part("cylinder", (0, 0, height - 0.025), (radius, radius, 0.025), seat)]
    count = int(rng.integers(3, 5))
    for index in range(count):
        angle = index * 2 * math.pi / count
        x, y = math.cos(angle) * radius * 0.8, math.sin(angle) * radius * 0.8
        parts.append(Part("cylinder", (x, y, (height - 0.05) / 2), (0.015, 0.015, (height - 0.05) / 2), legs))
    parts.append(Part("hcylinder", (0, 0, height * 0.35), (radius * 0.8, 0.01, 0.01), legs))
    return parts


def _furniture_cart(rng: np.random.Generator, palette: MaterialPalette) -> list[Part]:
    """Utility trolley on casters with two or three loaded trays."""
    width, depth, height = rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.6), rng.uniform(0.8, 1.0)
    frame, tray, tyre = palette.metal(), palette.solid(), palette.rubber()
    wheel = 0.05
    parts = [
        _box((sign_x * (width / 2 - 0.02), sign_y * (depth / 2 - 0.02), 2 * wheel + (height - 2 * wheel) / 2),
             (0.025, 0.025, height - 2 * wheel), frame)
        for sign_x in (-1, 1)
        for sign_y in (-1, 1)
    ]
    for sign_x in (-1, 1):
        for sign_y in (-1, 1):
            parts.append(Part("hcylinder", (sign_x * (width / 2 - 0.04), sign_y * (depth / 2 - 0.04), wheel),
                               (0.015, wheel, wheel), tyre))
    levels = int(rng.integers(2, 4))
    for level in range(levels):
        z = 2 * wheel + 0.05 + level * (height - 2 * wheel - 0.05) / (levels - 1)
        parts.append(_box((0, 0, z), (width, depth, 0.03), tray))
        if level < levels - 1 or rng.random() < 0.7:
            clearance = 0.25 if level == levels - 1 else (height - 2 * wheel - 0.05) / (levels - 1) - 0.05
            parts += _storage_items(rng, palette, (-width / 2 + 0.03, width / 2 - 0.03), depth - 0.04, z + 0.015,
                                    clearance, depth / 2 - 0.02)
    return parts


WALL_FURNITURE = (
    _furniture_cabinet,
    _furniture_cabinet,
    _furniture_bookshelf,
    _furniture_bed,
    _furniture_sofa,
    _furniture_table,
    _furniture_tv_stand,
    _furniture_lamp,
    _furniture_plant,
    _furniture_storage_rack,
    _furniture_storage_rack,
    _furniture_box_stack,
)
FREE_FURNITURE = (
    _furniture_table,
    _furniture_chair,
    _furniture_round_table,
    _furniture_ball,
    _furniture_plant,
    _furniture_chair,
    _furniture_clutter,
    _furniture_clutter,
    _furniture_office_chair,
    _furniture_stool,
    _furniture_box_stack,
)
# Objects that stand in the middle of the view, 1-3.5 m from the camera: what
# makes a photo's nearest object stand out from the room behind it.
FOREGROUND_FURNITURE = (
    _furniture_chair,
    _furniture_office_chair,
    _furniture_stool,
    _furniture_table,
    _furniture_round_table,
    _furniture_cart,
    _furniture_bicycle,
    _furniture_motorbike,
    _furniture_box_stack,
    _furniture_clutter,
    _furniture_plant,
    _furniture_lamp,
    _furniture_storage_rack,
)


def parts_extent(parts: list[Part]) -> tuple[np.ndarray, np.ndarray]:
    """Local-frame bounding box (centre, half extents) of a list of parts."""
    corners = np.concatenate(
        [
            box_corners(np.asarray(part.centre, dtype=np.float64), part.half_extents,
                         part.yaw if part.kind in _YAWED_KINDS else 0.0)
            for part in parts
        ]
    )
    low, high = corners.min(axis=0), corners.max(axis=0)
    return (low + high) / 2, (high - low) / 2
