"""Random materials for one scene (colours, textures, roughness) by role: floor, walls, wood, fabric, ..."""

from __future__ import annotations

import math

import numpy as np

from .scene import _PHOTO_TILE, TEXTURE_SIZE, Material
from .textures import texture_bank


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


class MaterialPalette:
    """Builds materials for one scene and records them in a list."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.materials: list[Material] = []
        _, self.texture_index = texture_bank()

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
