"""Surface textures: procedural (wood, parquet, tiles, bricks, fabric, marble, ...) and scikit-image photos, with mip chains."""

from __future__ import annotations

import numpy as np

from .scene import _PHOTO_TILE, TEXTURE_SIZE


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


def texture_bank() -> tuple[np.ndarray, dict[str, int]]:
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
    return list(texture_bank()[1])


# --------------------------------------------------------------------------
