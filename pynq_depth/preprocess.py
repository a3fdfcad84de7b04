"""Image loading and input preparation (NumPy + Pillow only).

Any Pillow-readable image (RGB, RGBA, L, P, 16-bit I;16 and I modes, EXIF
orientation) becomes a uint8 RGB array; the model input is that image resized
(bilinear, whole frame, aspect ratio not kept, as DenseDepth does) to the
network's input size.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float64)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float64)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")


class ImageError(ValueError):
    """An input image cannot be used (unreadable, corrupt, truncated, too large)."""


def _to_rgb8(image: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit RGB; 16/32-bit greyscale is scaled by its range, not clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        data = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            full = 65535.0
        else:
            full = max(float(data.max()), 1.0)
        grey = np.clip(np.round(data / full * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite on white so transparent pixels do not turn black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3), EXIF orientation applied.

    Raises
    ------
    ImageError
        Unreadable, empty, not an image, corrupt or truncated, or larger than Pillow's
        decompression-bomb limit; the message names the file.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:  # Pillow would call it "not an image", like a text file
        raise ImageError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                image = ImageOps.exif_transpose(image) or image
                rgb = _to_rgb8(image)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: image is larger than the decompression-bomb limit "
                         f"({Image.MAX_IMAGE_PIXELS} pixels)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, MemoryError) as exc:
        raise ImageError(f"{path}: corrupt or truncated image ({exc})") from None
    return np.asarray(rgb, dtype=np.uint8)


def resize_rgb(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a uint8 RGB array to (height, width) with Pillow's bilinear filter."""
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR), dtype=np.uint8)


def normalize(rgb: np.ndarray) -> np.ndarray:
    """ImageNet normalisation of a uint8 RGB array to float32 (H, W, 3)."""
    return ((rgb.astype(np.float64) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def list_images(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into (image files, skipped non-image files).

    Folders are listed (not recursively) and filtered by suffix; explicit file
    arguments are always kept so that their errors are reported.
    """
    images: list[Path] = []
    skipped: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            for child in sorted(item.iterdir()):
                if child.is_file():
                    (images if child.suffix.lower() in IMAGE_SUFFIXES else skipped).append(child)
        else:
            images.append(item)
    return images, skipped
