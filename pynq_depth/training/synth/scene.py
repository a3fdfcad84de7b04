"""The scene description: camera, materials, room, primitives, lights; the renderer's constants.

Conventions are in the package notes (:mod:`pynq_depth.training.synth`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

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
        return box_corners(self.centre, self.half_extents, self.yaw if self.kind in _YAWED_KINDS else 0.0)


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


def box_corners(centre: np.ndarray, half_extents: np.ndarray, yaw: float) -> np.ndarray:
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
