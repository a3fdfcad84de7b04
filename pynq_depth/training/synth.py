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

import math
from dataclasses import dataclass, field

import numpy as np

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

MIN_DEPTH_M = 0.1
MAX_DEPTH_M = 10.0
# NYU Depth v2 Kinect colour focal length at 640x480.
NYU_FOCAL_PX = 518.8579

TEXTURE_SIZE = 256  # power of two so texel wrap-around is a bit mask
_TEXTURE_MASK = TEXTURE_SIZE - 1
_PHOTO_TILE = TEXTURE_SIZE // 2  # photos are mirror-tiled 2x2 to be seamless

# Primitive kinds whose orientation follows their yaw (cylinders and spheres are symmetric about z).
_YAWED_KINDS = ("box", "hcylinder")

# Primitive id layout in the id buffer.
_ROOM_ID = 0
_BACKGROUND_ID_BASE = 1  # one id per opening
_MAX_OPENINGS = 30
_PART_ID_BASE = _BACKGROUND_ID_BASE + _MAX_OPENINGS

_RAY_EPS = 1e-4
_SHADOW_OFFSET_M = 0.01


# --------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    """Pinhole camera with yaw/pitch/roll orientation.

    Parameters
    ----------
    position : numpy.ndarray
        Optical centre in world coordinates, shape ``(3,)``, metres.
    yaw : float
        Rotation about the world ``z`` axis in radians; ``0`` looks along +y,
        positive turns left (towards -x).
    pitch : float
        Rotation about the camera ``x`` axis in radians; positive looks up.
    roll : float
        Rotation about the optical axis in radians.
    height, width : int
        Image size in pixels.
    fx, fy, cx, cy : float
        Intrinsics in pixels.
    """

    position: np.ndarray
    yaw: float
    pitch: float
    roll: float
    height: int
    width: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def nyu_like(
        cls,
        position: np.ndarray,
        yaw: float,
        pitch: float,
        roll: float,
        height: int,
        width: int,
    ) -> "Camera":
        """Build a camera with NYU-like intrinsics scaled to ``width``.

        Parameters
        ----------
        position : numpy.ndarray
            Optical centre, shape ``(3,)``.
        yaw, pitch, roll : float
            Orientation in radians (see class docstring).
        height, width : int
            Image size in pixels.

        Returns
        -------
        Camera
            Camera with ``fx = fy = 518.86 * width / 640`` and the principal
            point at ``(width / 2, height / 2)``.
        """
        focal = NYU_FOCAL_PX * width / 640.0
        return cls(
            position=np.asarray(position, dtype=np.float64),
            yaw=float(yaw),
            pitch=float(pitch),
            roll=float(roll),
            height=int(height),
            width=int(width),
            fx=focal,
            fy=focal,
            cx=width / 2.0,
            cy=height / 2.0,
        )

    def world_from_camera(self) -> np.ndarray:
        """Rotation matrix taking camera-frame vectors to the world frame.

        Returns
        -------
        numpy.ndarray
            Orthonormal matrix of shape ``(3, 3)``.
        """
        # Columns are the camera x (right), y (down), z (forward) axes in the
        # world for yaw = pitch = roll = 0.
        base = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
        cos_yaw, sin_yaw = math.cos(self.yaw), math.sin(self.yaw)
        yaw_rotation = np.array([[cos_yaw, -sin_yaw, 0.0], [sin_yaw, cos_yaw, 0.0], [0.0, 0.0, 1.0]])
        cos_p, sin_p = math.cos(self.pitch), math.sin(self.pitch)
        pitch_rotation = np.array([[1.0, 0.0, 0.0], [0.0, cos_p, -sin_p], [0.0, sin_p, cos_p]])
        cos_r, sin_r = math.cos(self.roll), math.sin(self.roll)
        roll_rotation = np.array([[cos_r, -sin_r, 0.0], [sin_r, cos_r, 0.0], [0.0, 0.0, 1.0]])
        return yaw_rotation @ base @ pitch_rotation @ roll_rotation

    def ray_directions(self) -> np.ndarray:
        """World-space ray directions whose camera-frame z component is one.

        Returns
        -------
        numpy.ndarray
            ``float32`` array of shape ``(3, height, width)``.
        """
        rows = (np.arange(self.height, dtype=np.float64) - self.cy) / self.fy
        cols = (np.arange(self.width, dtype=np.float64) - self.cx) / self.fx
        rotation = self.world_from_camera()
        # d_world = R @ (x, y, 1): build it as a sum of outer products.
        directions = (
            rotation[:, 0, None, None] * cols[None, None, :]
            + rotation[:, 1, None, None] * rows[None, :, None]
            + rotation[:, 2, None, None]
        )
        return directions.astype(np.float32)

    def project_box_to_pixels(self, corners: np.ndarray) -> tuple[int, int, int, int] | None:
        """Conservative pixel rectangle covering a set of world points.

        Parameters
        ----------
        corners : numpy.ndarray
            World points of shape ``(N, 3)`` whose convex hull bounds an object.

        Returns
        -------
        tuple of int or None
            ``(row_start, row_stop, col_start, col_stop)`` covering the
            projection, the full image when a point is behind the camera, or
            ``None`` when the projection misses the image.
        """
        camera_points = (corners - self.position) @ self.world_from_camera()
        depth = camera_points[:, 2]
        if np.any(depth < 0.05):
            # Points behind the camera make the projection unbounded.
            return 0, self.height, 0, self.width
        u = self.fx * camera_points[:, 0] / depth + self.cx
        v = self.fy * camera_points[:, 1] / depth + self.cy
        # One pixel of padding absorbs float rounding at the edges.
        col_start = max(int(math.floor(u.min())) - 1, 0)
        col_stop = min(int(math.ceil(u.max())) + 2, self.width)
        row_start = max(int(math.floor(v.min())) - 1, 0)
        row_stop = min(int(math.ceil(v.max())) + 2, self.height)
        if col_start >= col_stop or row_start >= row_stop:
            return None
        return row_start, row_stop, col_start, col_stop


@dataclass(frozen=True)
class Material:
    """Surface appearance.

    The albedo is ``colour_a + (colour_b - colour_a) * texel`` in linear RGB,
    so a grey pattern texture blends two colours while a photo texture is used
    with ``colour_a = 0`` and ``colour_b`` as a tint.

    Parameters
    ----------
    texture : int
        Index into the texture bank (see :func:`texture_names`).
    colour_a, colour_b : tuple of float
        Linear RGB colours in ``[0, 1]``.
    texels_per_metre : float
        Texture scale.
    offset_u, offset_v : float
        Texel offsets.
    v_sign : float
        ``-1`` flips the texture vertically (used so photos appear upright).
    emission : float
        Added radiance as a multiple of the albedo (windows to the outside).
    """

    texture: int
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    texels_per_metre: float
    offset_u: float = 0.0
    offset_v: float = 0.0
    v_sign: float = 1.0
    emission: float = 0.0


@dataclass(frozen=True)
class Opening:
    """A rectangular hole in a wall (door or window).

    Parameters
    ----------
    wall : int
        Wall index: 0 is ``x = 0``, 1 is ``x = size_x``, 2 is ``y = 0``,
        3 is ``y = size_y``.
    centre : float
        Centre of the opening along the wall (world x for walls 2/3, world y
        for walls 0/1), metres.
    width : float
        Horizontal extent in metres.
    bottom, top : float
        Vertical extent in metres above the floor.
    material : int
        Material of whatever is seen through the opening.
    """

    wall: int
    centre: float
    width: float
    bottom: float
    top: float
    material: int


@dataclass(frozen=True)
class Room:
    """An axis-aligned room and the larger box seen through its openings.

    Parameters
    ----------
    size_x, size_y : float
        Floor dimensions in metres.
    ceiling_height : float
        Height of the ceiling in metres.
    wall_material, floor_material, ceiling_material : int
        Material indices.
    openings : list of Opening
        Doors and windows.
    background_margin : float
        How far beyond the walls the background box extends, metres.
    """

    size_x: float
    size_y: float
    ceiling_height: float
    wall_material: int
    floor_material: int
    ceiling_material: int
    openings: list[Opening] = field(default_factory=list)
    background_margin: float = 3.0

    @property
    def low_corner(self) -> np.ndarray:
        """Minimum corner of the room box, shape ``(3,)``."""
        return np.array([0.0, 0.0, 0.0])

    @property
    def high_corner(self) -> np.ndarray:
        """Maximum corner of the room box, shape ``(3,)``."""
        return np.array([self.size_x, self.size_y, self.ceiling_height])


@dataclass(frozen=True)
class Primitive:
    """One analytic solid.

    Parameters
    ----------
    kind : str
        ``"box"`` (yaw-rotated box), ``"cylinder"`` (vertical, capped),
        ``"hcylinder"`` (horizontal, capped, its axis along the yaw-rotated
        local x axis: wheels, rails, rolls) or ``"sphere"``.
    centre : numpy.ndarray
        World centre, shape ``(3,)``.
    half_extents : numpy.ndarray
        Box: half sizes along its local axes.  Cylinder: ``(radius, radius,
        half_height)``.  Horizontal cylinder: ``(half_length, radius,
        radius)``.  Sphere: ``(radius, radius, radius)``.
    yaw : float
        Rotation of a box or horizontal cylinder about the world z axis,
        radians.
    material : int
        Material index.
    group : int
        Index of the :class:`Group` whose bounding box contains this part.
    """

    kind: str
    centre: np.ndarray
    half_extents: np.ndarray
    yaw: float
    material: int
    group: int

    def bounding_corners(self) -> np.ndarray:
        """World corners of a box bounding the primitive, shape ``(8, 3)``."""
        return _box_corners(self.centre, self.half_extents, self.yaw if self.kind in _YAWED_KINDS else 0.0)


@dataclass(frozen=True)
class Group:
    """Bounding box of a piece of furniture, used to cull shadow rays.

    Parameters
    ----------
    centre : numpy.ndarray
        World centre, shape ``(3,)``.
    half_extents : numpy.ndarray
        Half sizes along the group's local axes, shape ``(3,)``.
    yaw : float
        Rotation about world z, radians.
    """

    centre: np.ndarray
    half_extents: np.ndarray
    yaw: float


@dataclass(frozen=True)
class Light:
    """Isotropic point light.

    Parameters
    ----------
    position : numpy.ndarray
        World position, shape ``(3,)``.
    colour : tuple of float
        Linear RGB intensity multiplier.
    power : float
        Irradiance scale; received light is ``power / (1 + distance**2)``.
    casts_shadows : bool
        Whether shadow rays are traced for this light.
    """

    position: np.ndarray
    colour: tuple[float, float, float]
    power: float
    casts_shadows: bool = True


@dataclass
class Scene:
    """Everything needed to render one frame.

    Parameters
    ----------
    camera : Camera
        The viewpoint.
    room : Room
        Walls, floor, ceiling and openings.
    materials : list of Material
        Materials referenced by index.
    primitives : list of Primitive
        Furniture parts.
    groups : list of Group
        Furniture bounding boxes.
    lights : list of Light
        Point lights.
    ambient : float
        Ambient irradiance.
    exposure : float
        Target mean linear luminance of the frame.
    white_balance : tuple of float
        Per-channel gain applied before tone mapping.
    """

    camera: Camera
    room: Room
    materials: list[Material]
    primitives: list[Primitive] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    lights: list[Light] = field(default_factory=list)
    ambient: float = 0.25
    exposure: float = 0.2
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)


def _box_corners(centre: np.ndarray, half_extents: np.ndarray, yaw: float) -> np.ndarray:
    """Return the 8 world corners of a yaw-rotated box, shape ``(8, 3)``."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    local = signs * np.asarray(half_extents, dtype=np.float64)
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    world = np.empty_like(local)
    world[:, 0] = cos_yaw * local[:, 0] - sin_yaw * local[:, 1]
    world[:, 1] = sin_yaw * local[:, 0] + cos_yaw * local[:, 1]
    world[:, 2] = local[:, 2]
    return world + np.asarray(centre, dtype=np.float64)


# --------------------------------------------------------------------------
# Textures
# --------------------------------------------------------------------------


def _periodic_value_noise(rng: np.random.Generator, cells_y: int, cells_x: int) -> np.ndarray:
    """Smooth tileable noise of shape ``(TEXTURE_SIZE, TEXTURE_SIZE)`` in [0, 1]."""
    lattice = rng.random((cells_y, cells_x))

    def interpolation_weights(cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        position = np.arange(TEXTURE_SIZE) * cells / TEXTURE_SIZE
        index = np.floor(position).astype(np.int64)
        fraction = position - index
        fraction = fraction * fraction * (3.0 - 2.0 * fraction)  # smoothstep avoids grid creases
        return index % cells, (index + 1) % cells, fraction

    y0, y1, fy = interpolation_weights(cells_y)
    x0, x1, fx = interpolation_weights(cells_x)
    rows = lattice[y0] * (1.0 - fy[:, None]) + lattice[y1] * fy[:, None]
    return rows[:, x0] * (1.0 - fx[None, :]) + rows[:, x1] * fx[None, :]


def _fractal_noise(rng: np.random.Generator, base_cells: int, octaves: int, anisotropy: int = 1) -> np.ndarray:
    """Sum of value-noise octaves normalised to [0, 1]."""
    total = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE))
    amplitude_sum = 0.0
    for octave in range(octaves):
        cells = min(base_cells * 2**octave, TEXTURE_SIZE)
        amplitude = 0.5**octave
        total += amplitude * _periodic_value_noise(rng, cells, max(cells // anisotropy, 1))
        amplitude_sum += amplitude
    total /= amplitude_sum
    return (total - total.min()) / max(total.max() - total.min(), 1e-9)


def _texture_coordinates() -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates in [0, 1) for a texture image."""
    axis = np.arange(TEXTURE_SIZE) / TEXTURE_SIZE
    return np.meshgrid(axis, axis, indexing="ij")


def _wood_grain(rng: np.random.Generator) -> np.ndarray:
    rows, cols = _texture_coordinates()
    warp = _fractal_noise(rng, 2, 3, anisotropy=1)
    # Grain runs along rows; an integer ring count keeps the texture tileable.
    rings = np.sin(2.0 * np.pi * (cols * 24 + 3.0 * warp + 0.5 * np.sin(2 * np.pi * rows)))
    fibres = _fractal_noise(rng, 32, 3, anisotropy=8)
    return np.clip(0.55 + 0.25 * rings + 0.25 * (fibres - 0.5), 0.0, 1.0)


def _parquet(rng: np.random.Generator) -> np.ndarray:
    grain = _wood_grain(rng)
    rows, cols = _texture_coordinates()
    planks_across = 6
    plank_index = np.floor(cols * planks_across).astype(np.int64)
    # Stagger plank ends so the joints do not line up.
    shifted_rows = (rows + plank_index * 0.37) % 1.0
    board_index = np.floor(shifted_rows * 2).astype(np.int64)
    board_tone = rng.uniform(0.75, 1.0, size=(planks_across, 2))[plank_index, board_index]
    seam = (np.abs((cols * planks_across) % 1.0 - 0.5) > 0.485) | (np.abs((shifted_rows * 2) % 1.0 - 0.5) > 0.49)
    pattern = grain * board_tone
    pattern[seam] *= 0.45
    return pattern


def _tiles(rng: np.random.Generator, tiles_across: int, grout_fraction: float) -> np.ndarray:
    rows, cols = _texture_coordinates()
    tile_row = np.floor(rows * tiles_across).astype(np.int64)
    tile_col = np.floor(cols * tiles_across).astype(np.int64)
    tone = rng.uniform(0.8, 1.0, size=(tiles_across, tiles_across))[tile_row, tile_col]
    grout = (np.abs((rows * tiles_across) % 1.0 - 0.5) > 0.5 - grout_fraction) | (
        np.abs((cols * tiles_across) % 1.0 - 0.5) > 0.5 - grout_fraction
    )
    pattern = tone * (0.9 + 0.1 * _fractal_noise(rng, 16, 3))
    pattern[grout] = 0.15
    return pattern


def _bricks(rng: np.random.Generator) -> np.ndarray:
    rows, cols = _texture_coordinates()
    courses = 8
    course = np.floor(rows * courses).astype(np.int64)
    shifted_cols = (cols + 0.5 * (course % 2) / 4) % 1.0
    brick = np.floor(shifted_cols * 4).astype(np.int64)
    tone = rng.uniform(0.6, 1.0, size=(courses, 4))[course, brick]
    mortar = (np.abs((rows * courses) % 1.0 - 0.5) > 0.42) | (np.abs((shifted_cols * 4) % 1.0 - 0.5) > 0.47)
    pattern = tone * (0.8 + 0.2 * _fractal_noise(rng, 32, 3))
    pattern[mortar] = 0.1
    return pattern


def _checker(rng: np.random.Generator, squares: int) -> np.ndarray:
    rows, cols = _texture_coordinates()
    parity = (np.floor(rows * squares) + np.floor(cols * squares)) % 2
    return np.clip(parity * 0.9 + 0.05 + 0.1 * (_fractal_noise(rng, 16, 3) - 0.5), 0.0, 1.0)


def _stripes(rng: np.random.Generator, stripes_across: int) -> np.ndarray:
    _, cols = _texture_coordinates()
    phase = (cols * stripes_across) % 1.0
    duty = rng.uniform(0.3, 0.7)
    base = np.where(phase < duty, 1.0, 0.0)
    return np.clip(0.1 + 0.8 * base + 0.08 * (_fractal_noise(rng, 32, 2) - 0.5), 0.0, 1.0)


def _fabric(rng: np.random.Generator) -> np.ndarray:
    rows, cols = _texture_coordinates()
    weave = 0.5 + 0.25 * np.sin(2 * np.pi * rows * 64) * np.sin(2 * np.pi * cols * 64)
    return np.clip(0.3 * weave + 0.7 * _fractal_noise(rng, 8, 5), 0.0, 1.0)


def _marble(rng: np.random.Generator) -> np.ndarray:
    rows, cols = _texture_coordinates()
    turbulence = _fractal_noise(rng, 4, 5)
    veins = np.abs(np.sin(2 * np.pi * (rows * 2 + cols * 1 + 3.0 * turbulence)))
    return np.clip(veins**0.3, 0.0, 1.0)


def _procedural_textures() -> dict[str, np.ndarray]:
    """Grey pattern textures; a fixed seed keeps every process identical."""
    rng = np.random.default_rng(20240607)
    return {
        "plain": 0.5 + 0.06 * (_fractal_noise(rng, 4, 4) - 0.5),
        "noise_soft": _fractal_noise(rng, 4, 5),
        "noise_fine": _fractal_noise(rng, 32, 3),
        "wood_grain": _wood_grain(rng),
        "parquet": _parquet(rng),
        "tiles_large": _tiles(rng, 4, 0.03),
        "tiles_small": _tiles(rng, 8, 0.05),
        "bricks": _bricks(rng),
        "checker": _checker(rng, 8),
        "stripes_wide": _stripes(rng, 8),
        "stripes_thin": _stripes(rng, 32),
        "fabric": _fabric(rng),
        "marble": _marble(rng),
    }


# Photographs shipped inside the scikit-image wheel (no pooch download).
_PHOTO_NAMES = ("brick", "grass", "gravel", "camera", "coffee", "chelsea", "astronaut", "rocket", "moon", "coins")


def _load_photo_textures() -> dict[str, np.ndarray]:
    """Load bundled skimage photos as seamless linear-RGB textures.

    Returns an empty dict when scikit-image (or a photo) is unavailable, so the
    renderer silently falls back to procedural textures.
    """
    try:
        import skimage.data as skimage_data  # lazily: optional dependency
    except Exception:  # noqa: BLE001 - any import failure means "no photos"
        return {}
    photos: dict[str, np.ndarray] = {}
    for name in _PHOTO_NAMES:
        try:
            image = np.asarray(getattr(skimage_data, name)())
        except Exception:  # noqa: BLE001 - a missing file must not break rendering
            continue
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        image = image[:, :, :3].astype(np.float64) / 255.0
        side = min(image.shape[0], image.shape[1])
        factor = max(side // _PHOTO_TILE, 1)
        side = _PHOTO_TILE * factor
        if image.shape[0] < side or image.shape[1] < side:
            continue
        top = (image.shape[0] - side) // 2
        left = (image.shape[1] - side) // 2
        square = image[top : top + side, left : left + side]
        # Box-filter downsampling to the tile size.
        tile = square.reshape(_PHOTO_TILE, factor, _PHOTO_TILE, factor, 3).mean(axis=(1, 3))
        # Mirror tiling makes the texture wrap without visible seams.
        upper = np.concatenate([tile, tile[:, ::-1]], axis=1)
        photos[name] = np.concatenate([upper, upper[::-1]], axis=0) ** 2.2  # sRGB -> ~linear
    return photos


_TEXTURE_CACHE: tuple[np.ndarray, dict[str, int]] | None = None


_MIP_LEVELS = 4


def _mip_chain(texture: np.ndarray) -> np.ndarray:
    """Pre-filtered copies of a texture, each kept at full size.

    Level ``L`` is box-averaged over ``2**L`` texels and repeated back to the
    full size, so every level is indexed with the same texel coordinates.
    """
    levels = []
    for level in range(_MIP_LEVELS):
        factor = 2**level
        small = texture.reshape(TEXTURE_SIZE // factor, factor, TEXTURE_SIZE // factor, factor, 3).mean(axis=(1, 3))
        levels.append(np.repeat(np.repeat(small, factor, axis=0), factor, axis=1))
    return np.stack(levels)


def _texture_bank() -> tuple[np.ndarray, dict[str, int]]:
    """Return the mip-mapped textures ``(K, L, S, S, 3)`` uint8 and a name -> index map."""
    global _TEXTURE_CACHE
    if _TEXTURE_CACHE is None:
        textures: dict[str, np.ndarray] = {}
        for name, pattern in _procedural_textures().items():
            textures[name] = np.repeat(pattern[:, :, None], 3, axis=2)
        textures.update(_load_photo_textures())
        names = list(textures)
        # uint8 storage keeps the mip pyramid small (about 0.8 MB per texture).
        stack = np.stack([_mip_chain(textures[name]) for name in names])
        stack = np.clip(np.round(stack * 255.0), 0, 255).astype(np.uint8)
        _TEXTURE_CACHE = (stack, {name: index for index, name in enumerate(names)})
    return _TEXTURE_CACHE


def texture_names() -> list[str]:
    """Names of the textures available in this process.

    Returns
    -------
    list of str
        Procedural texture names followed by any skimage photo names.
    """
    return list(_texture_bank()[1])


# --------------------------------------------------------------------------
# Ray intersection (all functions broadcast over trailing ray dimensions)
# --------------------------------------------------------------------------


def _room_exit(
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


def _slab_interval(
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
    t_near, t_far = _slab_interval(origin, directions, centre, half_extents, yaw)
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


def _intersect_primitive(primitive: Primitive, origin: np.ndarray, directions: np.ndarray) -> np.ndarray:
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
# Surface attributes (normals and texture coordinates)
# --------------------------------------------------------------------------


def _room_surface(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _horizontal_cylinder_surface(
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


def _primitive_surface(primitive: Primitive, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if primitive.kind == "box":
        return _box_surface(primitive, points)
    if primitive.kind == "cylinder":
        return _cylinder_surface(primitive, points)
    if primitive.kind == "hcylinder":
        return _horizontal_cylinder_surface(primitive, points)
    return _sphere_surface(primitive, points)


def _shade_albedo(
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
# Rendering
# --------------------------------------------------------------------------


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
    t_best, faces = _room_exit(origin, directions, room.low_corner, room.high_corner)
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
            t_background, face_background = _room_exit(origin, directions[:, through], low, high)
            t_best[through] = t_background
            faces[through] = face_background
            ids[through] = _BACKGROUND_ID_BASE + index

    for index, primitive in enumerate(scene.primitives):
        window = camera.project_box_to_pixels(primitive.bounding_corners())
        if window is None:
            continue
        row_start, row_stop, col_start, col_stop = window
        window_directions = directions[:, row_start:row_stop, col_start:col_stop]
        t_hit = _intersect_primitive(primitive, origin, window_directions)
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
        t_near, t_far = _slab_interval(origins, to_light, group.centre, group.half_extents, group.yaw)
        candidates = np.nonzero((t_near <= t_far) & (t_far > 0) & (t_near < 1) & visible)[0]
        if candidates.size == 0:
            continue
        candidate_origins = origins[:, candidates]
        candidate_segments = to_light[:, candidates]
        blocked = np.zeros(candidates.size, dtype=bool)
        for primitive in parts:
            blocked |= _intersect_primitive(primitive, candidate_origins, candidate_segments) < 1.0
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
    texture_stack, _ = _texture_bank()
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
            surface_normals, u, v = _room_surface(hit_points, flat_faces[pixels])
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
            surface_normals, u, v = _primitive_surface(primitive, hit_points)
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
            albedo[:, target] = _shade_albedo(material, u[subset], v[subset], footprint[target], texture_stack)
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
# Random scene sampling
# --------------------------------------------------------------------------


def _srgb_to_linear(colour: np.ndarray) -> tuple[float, float, float]:
    linear = np.clip(np.asarray(colour, dtype=np.float64), 0.0, 1.0) ** 2.2
    return (float(linear[0]), float(linear[1]), float(linear[2]))


def _random_hsv_colour(
    rng: np.random.Generator, hue: float | None, saturation: tuple[float, float], value: tuple[float, float]
) -> np.ndarray:
    """Random sRGB colour from HSV ranges; ``hue=None`` picks any hue."""
    h = rng.random() if hue is None else (hue + rng.normal(0.0, 0.02)) % 1.0
    s = rng.uniform(*saturation)
    v = rng.uniform(*value)
    # Standard HSV -> RGB conversion.
    sector = int(h * 6) % 6
    fraction = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - fraction * s), v * (1 - (1 - fraction) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][sector])


class _MaterialPalette:
    """Builds materials for one scene and records them in a list."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.materials: list[Material] = []
        _, self.texture_index = _texture_bank()

    def _has(self, name: str) -> bool:
        return name in self.texture_index

    def _add(self, material: Material) -> int:
        self.materials.append(material)
        return len(self.materials) - 1

    def _pattern(
        self, texture: str, colour_a: np.ndarray, colour_b: np.ndarray, texels_per_metre: float
    ) -> int:
        rng = self.rng
        return self._add(
            Material(
                texture=self.texture_index[texture],
                colour_a=_srgb_to_linear(colour_a),
                colour_b=_srgb_to_linear(colour_b),
                texels_per_metre=texels_per_metre,
                offset_u=float(rng.uniform(0, TEXTURE_SIZE)),
                offset_v=float(rng.uniform(0, TEXTURE_SIZE)),
            )
        )

    def _photo(self, texture: str, tint: float, texels_per_metre: float, emission: float = 0.0) -> int:
        rng = self.rng
        tint_colour = np.clip(tint * (1.0 + rng.normal(0.0, 0.05, 3)), 0.0, 1.5)
        return self._add(
            Material(
                texture=self.texture_index[texture],
                colour_a=(0.0, 0.0, 0.0),
                colour_b=(float(tint_colour[0]), float(tint_colour[1]), float(tint_colour[2])),
                texels_per_metre=texels_per_metre,
                offset_u=float(rng.uniform(0, TEXTURE_SIZE)),
                offset_v=float(rng.uniform(0, TEXTURE_SIZE)),
                emission=emission,
            )
        )

    def _two_tone(self, base: np.ndarray, contrast: float) -> tuple[np.ndarray, np.ndarray]:
        darker = base * (1.0 - contrast)
        return darker, np.clip(base * (1.0 + 0.3 * contrast), 0.0, 1.0)

    def wall(self) -> int:
        rng = self.rng
        choice = rng.random()
        if choice < 0.05 and self._has("brick"):
            return self._photo("brick", rng.uniform(0.8, 1.1), rng.uniform(150, 260))
        base = _random_hsv_colour(rng, None, (0.0, 0.3), (0.65, 0.95))
        if choice < 0.2:
            return self._pattern("bricks", *self._two_tone(base, 0.5), rng.uniform(60, 110))
        if choice < 0.35:
            accent = _random_hsv_colour(rng, None, (0.1, 0.5), (0.5, 0.9))
            return self._pattern(rng.choice(["stripes_wide", "stripes_thin"]), accent, base, rng.uniform(60, 160))
        if choice < 0.45:
            return self._pattern("tiles_small", base * 0.6, base, rng.uniform(100, 200))
        return self._pattern(rng.choice(["plain", "noise_soft"]), *self._two_tone(base, 0.12), rng.uniform(40, 120))

    def floor(self) -> int:
        rng = self.rng
        choice = rng.random()
        if choice < 0.35:
            wood = _random_hsv_colour(rng, 0.07, (0.4, 0.75), (0.35, 0.8))
            return self._pattern(rng.choice(["parquet", "wood_grain"]), wood * 0.55, wood, rng.uniform(100, 200))
        if choice < 0.55:
            base = _random_hsv_colour(rng, None, (0.0, 0.25), (0.5, 0.95))
            return self._pattern(rng.choice(["tiles_large", "tiles_small", "marble"]), base * 0.55, base, rng.uniform(60, 140))
        if choice < 0.65:
            dark = _random_hsv_colour(rng, None, (0.0, 0.4), (0.1, 0.4))
            light = _random_hsv_colour(rng, None, (0.0, 0.2), (0.7, 0.95))
            return self._pattern("checker", dark, light, rng.uniform(60, 120))
        if choice < 0.75 and self._has("gravel"):
            return self._photo("gravel", rng.uniform(0.6, 1.0), rng.uniform(150, 300))
        carpet = _random_hsv_colour(rng, None, (0.1, 0.6), (0.25, 0.75))
        return self._pattern(rng.choice(["fabric", "noise_fine"]), *self._two_tone(carpet, 0.35), rng.uniform(150, 300))

    def ceiling(self) -> int:
        base = _random_hsv_colour(self.rng, None, (0.0, 0.08), (0.85, 0.98))
        return self._pattern("plain", *self._two_tone(base, 0.05), 50.0)

    def wood(self) -> int:
        rng = self.rng
        if rng.random() < 0.3:  # painted furniture
            base = _random_hsv_colour(rng, None, (0.0, 0.6), (0.2, 0.95))
            return self._pattern("plain", *self._two_tone(base, 0.1), 80.0)
        wood = _random_hsv_colour(rng, 0.07, (0.35, 0.8), (0.25, 0.85))
        return self._pattern("wood_grain", wood * 0.5, wood, rng.uniform(150, 300))

    def fabric(self) -> int:
        rng = self.rng
        base = _random_hsv_colour(rng, None, (0.05, 0.8), (0.2, 0.9))
        texture = rng.choice(["fabric", "fabric", "noise_fine", "checker", "stripes_thin"])
        if texture in ("checker", "stripes_thin"):
            other = _random_hsv_colour(rng, None, (0.05, 0.6), (0.3, 0.95))
            return self._pattern(texture, base, other, rng.uniform(80, 200))
        return self._pattern(texture, *self._two_tone(base, 0.3), rng.uniform(150, 300))

    def solid(self) -> int:
        base = _random_hsv_colour(self.rng, None, (0.0, 0.9), (0.1, 0.95))
        return self._pattern("noise_fine", *self._two_tone(base, 0.08), 200.0)

    def cardboard(self) -> int:
        rng = self.rng
        if rng.random() < 0.35:  # plastic crates and bins
            return self.solid()
        brown = _random_hsv_colour(rng, 0.08, (0.3, 0.6), (0.45, 0.8))
        return self._pattern("noise_fine", *self._two_tone(brown, 0.15), rng.uniform(100, 250))

    def metal(self) -> int:
        grey = _random_hsv_colour(self.rng, None, (0.0, 0.12), (0.15, 0.85))
        return self._pattern("noise_fine", *self._two_tone(grey, 0.05), 300.0)

    def rubber(self) -> int:
        dark = _random_hsv_colour(self.rng, None, (0.0, 0.1), (0.03, 0.15))
        return self._pattern("noise_fine", *self._two_tone(dark, 0.2), 300.0)

    def foliage(self) -> int:
        rng = self.rng
        green = _random_hsv_colour(rng, 0.28, (0.5, 0.9), (0.3, 0.7))
        # The grass photo is grey, so it serves as a pattern between two greens.
        texture = "grass" if self._has("grass") else "noise_fine"
        return self._pattern(texture, green * 0.25, green, rng.uniform(300, 600))

    def picture(self, width_m: float) -> int:
        rng = self.rng
        photos = [name for name in ("astronaut", "chelsea", "coffee", "rocket", "camera", "moon", "coins") if self._has(name)]
        if not photos or rng.random() < 0.2:
            a = _random_hsv_colour(rng, None, (0.3, 0.9), (0.2, 0.9))
            b = _random_hsv_colour(rng, None, (0.3, 0.9), (0.2, 0.9))
            return self._pattern(rng.choice(["noise_soft", "marble", "stripes_wide"]), a, b, 100.0)
        # One photo tile spans exactly the picture; start at its top-left corner.
        scale = _PHOTO_TILE / width_m
        return self._add(
            Material(
                texture=self.texture_index[str(rng.choice(photos))],
                colour_a=(0.0, 0.0, 0.0),
                colour_b=(1.0, 1.0, 1.0),
                texels_per_metre=scale,
                offset_u=0.0,
                offset_v=_PHOTO_TILE - 0.5,
                v_sign=-1.0,
            )
        )

    def outdoor(self) -> int:
        rng = self.rng
        if self._has("grass") and rng.random() < 0.4:
            green = _random_hsv_colour(rng, 0.28, (0.3, 0.8), (0.4, 0.8))
            material = self.materials[self._pattern("grass", green * 0.3, green, rng.uniform(20, 60))]
            self.materials[-1] = Material(**{**material.__dict__, "emission": float(rng.uniform(2, 5))})
            return len(self.materials) - 1
        sky = _random_hsv_colour(rng, 0.58, (0.1, 0.5), (0.7, 1.0))
        material = self.materials[self._pattern("noise_soft", sky * 0.8, sky, 20.0)]
        self.materials[-1] = Material(**{**material.__dict__, "emission": float(rng.uniform(2, 5))})
        return len(self.materials) - 1

    def corridor(self) -> int:
        return self.wall()


@dataclass
class _Part:
    """Furniture part in the furniture's local frame (floor at z = 0); ``yaw`` turns
    a box or horizontal cylinder relative to the furniture (chair-base spokes)."""

    kind: str
    centre: tuple[float, float, float]
    half_extents: tuple[float, float, float]
    material: int
    yaw: float = 0.0


def _box(centre: tuple[float, float, float], size: tuple[float, float, float], material: int) -> _Part:
    return _Part("box", centre, (size[0] / 2, size[1] / 2, size[2] / 2), material)


def _furniture_table(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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
                parts.append(_Part("cylinder", (x, y, leg_height / 2), (leg / 2, leg / 2, leg_height / 2), leg_material))
            else:
                parts.append(_box((x, y, leg_height / 2), (leg, leg, leg_height), leg_material))
    if rng.random() < 0.6:  # something on the table
        item_material = palette.solid()
        x, y = rng.uniform(-width / 3, width / 3), rng.uniform(-depth / 4, depth / 4)
        if rng.random() < 0.5:
            radius, item_height = rng.uniform(0.04, 0.1), rng.uniform(0.08, 0.3)
            parts.append(_Part("cylinder", (x, y, height + item_height / 2), (radius, radius, item_height / 2), item_material))
        else:
            radius = rng.uniform(0.05, 0.12)
            parts.append(_Part("sphere", (x, y, height + radius), (radius, radius, radius), item_material))
    return parts


def _furniture_chair(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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


def _furniture_cabinet(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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
        parts.append(_Part("cylinder", (rng.uniform(-width / 3, width / 3), 0, height + item_height / 2), (radius, radius, item_height / 2), item))
    return parts


def _furniture_bed(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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


def _furniture_sofa(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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


def _furniture_bookshelf(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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


def _furniture_lamp(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    height = rng.uniform(1.2, 1.7)
    metal = palette.solid()
    shade = palette.fabric()
    shade_radius = rng.uniform(0.15, 0.25)
    return [
        _Part("cylinder", (0, 0, 0.015), (0.15, 0.15, 0.015), metal),
        _Part("cylinder", (0, 0, height / 2), (0.015, 0.015, height / 2), metal),
        _Part("cylinder", (0, 0, height + 0.12), (shade_radius, shade_radius, 0.12), shade),
    ]


def _furniture_plant(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    pot_radius, pot_height = rng.uniform(0.12, 0.25), rng.uniform(0.2, 0.45)
    foliage_radius = rng.uniform(0.2, 0.45)
    return [
        _Part("cylinder", (0, 0, pot_height / 2), (pot_radius, pot_radius, pot_height / 2), palette.solid()),
        _Part("sphere", (0, 0, pot_height + foliage_radius * 0.8), (foliage_radius,) * 3, palette.foliage()),
    ]


def _furniture_round_table(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    radius, height = rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.75)
    material = palette.wood()
    return [
        _Part("cylinder", (0, 0, height - 0.02), (radius, radius, 0.02), material),
        _Part("cylinder", (0, 0, height / 2), (0.04, 0.04, height / 2), material),
        _Part("cylinder", (0, 0, 0.02), (radius * 0.5, radius * 0.5, 0.02), material),
    ]


def _furniture_ball(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    radius = rng.uniform(0.1, 0.35)
    return [_Part("sphere", (0, 0, radius), (radius,) * 3, palette.solid())]


def _furniture_tv_stand(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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


def _furniture_clutter(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    """A small pile of boxes, bins and balls on the floor."""
    parts: list[_Part] = []
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)
        kind = rng.random()
        if kind < 0.5:
            size = rng.uniform(0.15, 0.5, 3)
            parts.append(_box((x, y, size[2] / 2), tuple(size), palette.solid() if rng.random() < 0.5 else palette.wood()))
        elif kind < 0.8:
            radius, height = rng.uniform(0.1, 0.22), rng.uniform(0.2, 0.5)
            parts.append(_Part("cylinder", (x, y, height / 2), (radius, radius, height / 2), palette.solid()))
        else:
            radius = rng.uniform(0.08, 0.2)
            parts.append(_Part("sphere", (x, y, radius), (radius,) * 3, palette.fabric()))
    return parts


def _storage_items(
    rng: np.random.Generator, palette: _MaterialPalette, x_range: tuple[float, float], depth: float,
    z: float, clearance: float, back_y: float,
) -> list[_Part]:
    """Boxes, bins and stacks packed along a shelf from ``x_range[0]`` to ``x_range[1]``."""
    parts: list[_Part] = []
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
            parts.append(_Part("cylinder", (x + radius, y, z + item_height / 2), (radius, radius, item_height / 2),
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


def _furniture_storage_rack(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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


def _furniture_box_stack(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    """One to three columns of stacked cartons."""
    parts: list[_Part] = []
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


def _wheel(y: float, radius: float, width: float, tyre: int, hub: int) -> list[_Part]:
    """A wheel turning about the local x axis: tyre disc and a wider, smaller hub."""
    return [
        _Part("hcylinder", (0, y, radius), (width / 2, radius, radius), tyre),
        _Part("hcylinder", (0, y, radius), (width / 2 + 0.015, radius * 0.3, radius * 0.3), hub),
    ]


def _tube(start: tuple[float, float], end: tuple[float, float], thickness: float, material: int,
          segments: int = 4) -> list[_Part]:
    """A slanted tube in the local y-z plane as a staircase of short boxes (boxes only yaw)."""
    parts = []
    for index in range(segments):
        a, b = index / segments, (index + 1) / segments
        y0, z0 = start[0] + a * (end[0] - start[0]), start[1] + a * (end[1] - start[1])
        y1, z1 = start[0] + b * (end[0] - start[0]), start[1] + b * (end[1] - start[1])
        parts.append(_box((0, (y0 + y1) / 2, (z0 + z1) / 2),
                          (thickness, abs(y1 - y0) + thickness, abs(z1 - z0) + thickness), material))
    return parts


def _furniture_bicycle(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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
    parts.append(_Part("hcylinder", (0, front - 0.14, bar_z + 0.02), (0.25, 0.015, 0.015), frame))
    return parts


def _furniture_motorbike(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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
    parts.append(_Part("hcylinder", (0, front - 0.45, seat_z + 0.02), (0.14, 0.2, 0.11), paint, yaw=math.pi / 2))
    parts.append(_box((0, back + 0.05, radius + 0.12), (width + 0.04, 0.5, 0.04), paint))  # rear fender
    parts.append(_box((0, front, radius * 2 + 0.04), (width + 0.04, 0.35, 0.04), paint))  # front fender
    parts += _tube((front, radius), (front - 0.2, seat_z + 0.2), 0.05, metal, 4)  # forks
    parts.append(_Part("hcylinder", (0, front - 0.2, seat_z + 0.25), (0.35, 0.015, 0.015), metal))
    parts.append(_Part("sphere", (0, front - 0.08, seat_z + 0.12), (0.09, 0.09, 0.09), metal))  # headlight
    side = rng.choice([-1.0, 1.0])
    parts.append(_Part("hcylinder", (side * 0.15, back + 0.1, radius * 0.7), (0.4, 0.045, 0.045), metal, yaw=math.pi / 2))
    return parts


def _furniture_office_chair(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    """Swivel chair: five-spoke base on casters, gas column, seat, back."""
    metal, cover = palette.metal() if rng.random() < 0.5 else palette.rubber(), palette.fabric()
    spoke_length, seat_height = rng.uniform(0.28, 0.34), rng.uniform(0.42, 0.52)
    base_yaw = rng.uniform(0, 2 * math.pi / 5)
    parts = [_Part("cylinder", (0, 0, (seat_height + 0.08) / 2), (0.03, 0.03, (seat_height - 0.08) / 2), metal)]
    for index in range(5):
        angle = base_yaw + index * 2 * math.pi / 5
        # A spoke along its local x, turned by ``angle``; centre halfway out.
        cx, cy = math.cos(angle) * spoke_length / 2, math.sin(angle) * spoke_length / 2
        parts.append(_Part("box", (cx, cy, 0.08), (spoke_length / 2, 0.02, 0.02), metal, yaw=angle))
        parts.append(_Part("sphere", (2 * cx, 2 * cy, 0.03), (0.03, 0.03, 0.03), metal))
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


def _furniture_stool(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
    """Round stool or bar stool on thin legs with a foot bar."""
    height, radius = rng.uniform(0.45, 0.8), rng.uniform(0.15, 0.22)
    seat, legs = palette.wood(), palette.metal() if rng.random() < 0.5 else palette.wood()
    parts = [_Part("cylinder", (0, 0, height - 0.025), (radius, radius, 0.025), seat)]
    count = int(rng.integers(3, 5))
    for index in range(count):
        angle = index * 2 * math.pi / count
        x, y = math.cos(angle) * radius * 0.8, math.sin(angle) * radius * 0.8
        parts.append(_Part("cylinder", (x, y, (height - 0.05) / 2), (0.015, 0.015, (height - 0.05) / 2), legs))
    parts.append(_Part("hcylinder", (0, 0, height * 0.35), (radius * 0.8, 0.01, 0.01), legs))
    return parts


def _furniture_cart(rng: np.random.Generator, palette: _MaterialPalette) -> list[_Part]:
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
            parts.append(_Part("hcylinder", (sign_x * (width / 2 - 0.04), sign_y * (depth / 2 - 0.04), wheel),
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


_WALL_FURNITURE = (
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
_FREE_FURNITURE = (
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
_FOREGROUND_FURNITURE = (
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


def _parts_extent(parts: list[_Part]) -> tuple[np.ndarray, np.ndarray]:
    """Local-frame bounding box (centre, half extents) of a list of parts."""
    corners = np.concatenate(
        [
            _box_corners(np.asarray(part.centre, dtype=np.float64), part.half_extents,
                         part.yaw if part.kind in _YAWED_KINDS else 0.0)
            for part in parts
        ]
    )
    low, high = corners.min(axis=0), corners.max(axis=0)
    return (low + high) / 2, (high - low) / 2


class _SceneBuilder:
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
        self, parts: list[_Part], position: np.ndarray, yaw: float, wall_mounted: bool = False
    ) -> bool:
        """Add the parts at ``position`` (floor-level origin) rotated by ``yaw``."""
        centre_local, half_local = _parts_extent(parts)
        corners = _box_corners(centre_local, half_local, 0.0)
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
    palette = _MaterialPalette(rng)
    size_x, size_y = rng.uniform(3.0, 7.5), rng.uniform(3.0, 7.5)
    ceiling_height = rng.uniform(2.4, 3.2)
    room_size = (size_x, size_y)

    # Openings: a door or two and some windows, on distinct wall spans.
    openings: list[Opening] = []
    frame_parts: list[tuple[list[_Part], np.ndarray, float]] = []
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

    builder = _SceneBuilder(room_size, camera_xy)
    for parts, position, frame_yaw in frame_parts:
        builder.try_place(parts, position, frame_yaw, wall_mounted=True)

    # Furniture against the walls, with the back towards the wall.
    for _ in range(int(rng.integers(5, 14))):
        maker = _WALL_FURNITURE[int(rng.integers(len(_WALL_FURNITURE)))]
        parts = maker(rng, palette)
        _, half = _parts_extent(parts)
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
        maker = _FREE_FURNITURE[int(rng.integers(len(_FREE_FURNITURE)))]
        parts = maker(rng, palette)
        position = np.array([rng.uniform(0.3, size_x - 0.3), rng.uniform(0.3, size_y - 0.3), 0.0])
        builder.try_place(parts, position, float(rng.uniform(-math.pi, math.pi)))

    # Objects in front of the camera, in the middle of its view.
    forward = np.array([-math.sin(yaw), math.cos(yaw)])
    right = np.array([math.cos(yaw), math.sin(yaw)])
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        maker = _FOREGROUND_FURNITURE[int(rng.integers(len(_FOREGROUND_FURNITURE)))]
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
                parts.append(_Part("cylinder", (x, 0.15 - shelf_depth / 2, centre_height + 0.0125 + item_height / 2), (radius, radius, item_height / 2), palette.solid()))
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


class SyntheticIndoorDataset:
    """Map-style dataset of rendered scenes (no torch dependency).

    Parameters
    ----------
    length : int
        Number of samples.
    height, width : int
        Image size in pixels.
    seed_offset : int, optional
        Sample ``i`` is rendered with seed ``seed_offset + i``.
    """

    def __init__(self, length: int, height: int = 240, width: int = 320, seed_offset: int = 0) -> None:
        if length < 0:
            raise ValueError("length must be non-negative")
        self.length = int(length)
        self.height = int(height)
        self.width = int(width)
        self.seed_offset = int(seed_offset)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for dataset of length {self.length}")
        return render_scene(self.seed_offset + index, self.height, self.width)
