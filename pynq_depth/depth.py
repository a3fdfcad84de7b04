"""Depth conversion and pictures.

The network predicts DenseDepth's target ``1000 / depth_cm`` (= ``10 / depth_m``),
clamped to [1, 100], i.e. depth 0.1-10 m.  Pictures use matplotlib's perceptually
uniform *plasma* colormap, reversed so that **near is bright yellow and far is
dark purple** (the brightness of DenseDepth's inverse-depth output).
"""

from __future__ import annotations

import io
import numpy as np

MIN_DEPTH_M = 0.1
MAX_DEPTH_M = 10.0
COLORMAP = "plasma_r"


def prediction_to_metres(prediction: np.ndarray) -> np.ndarray:
    """Network output (``10 / depth_m``) to metric depth in metres, float32 in [0.1, 10]."""
    return (MAX_DEPTH_M / np.clip(np.asarray(prediction, dtype=np.float32), 1.0, 100.0)).astype(np.float32)


def metres_to_prediction(depth_m: np.ndarray) -> np.ndarray:
    """Metric depth to DenseDepth's training target ``10 / depth_m`` (depth clamped to 0.1-10 m)."""
    return (MAX_DEPTH_M / np.clip(np.asarray(depth_m, dtype=np.float32), MIN_DEPTH_M, MAX_DEPTH_M)).astype(np.float32)


def depth_range(depth_m: np.ndarray) -> tuple[float, float]:
    """Colour range of a depth map: its full range, nearest to farthest finite value (nothing is clipped).

    The default of :func:`colorize` and of the colour bar of :func:`figure_png`,
    so that a picture, its scale and the range ``pynq-depth run`` prints agree.
    A flat map gets +-0.05 m so that the scale is not empty.
    """
    finite = np.asarray(depth_m)[np.isfinite(depth_m)]
    if finite.size == 0:
        return MIN_DEPTH_M, MAX_DEPTH_M
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-3:
        lo, hi = lo - 0.05, hi + 0.05
    return lo, hi


def colorize(depth_m: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Colour a (H, W) depth map with reversed plasma: uint8 RGB, near = bright."""
    from matplotlib import colormaps

    lo, hi = depth_range(depth_m) if vmin is None or vmax is None else (vmin, vmax)
    t = np.clip((np.nan_to_num(depth_m, nan=hi) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    rgba = colormaps[COLORMAP](t)
    return (rgba[..., :3] * 255.0 + 0.5).astype(np.uint8)


def figure_png(panels: list[tuple[str, np.ndarray]], depth_for_colorbar: np.ndarray | None = None,
               dpi: int = 100) -> bytes:
    """Side-by-side panels (title, RGB uint8 image) as PNG bytes, optionally with a colourbar in metres.

    The colour bar spans :func:`depth_range` of ``depth_for_colorbar``, the
    range :func:`colorize` uses by default.  Uses matplotlib's object API with
    the Agg canvas (no pyplot, no display).
    """
    fig = make_figure(panels, depth_for_colorbar, dpi)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def make_figure(panels: list[tuple[str, np.ndarray]], depth_for_colorbar: np.ndarray | None = None,
                dpi: int = 100):
    """The matplotlib ``Figure`` that :func:`figure_png` renders (its last axes is the colour bar, if any)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    # Small maps (the 160x120 depth output) are drawn at least 640 px wide so labels stay readable.
    zoom = max(1.0, 640.0 / sum(p[1].shape[1] for p in panels))
    height = max(p[1].shape[0] for p in panels) * zoom
    width = sum(p[1].shape[1] for p in panels) * zoom
    extra = 1.0 if depth_for_colorbar is not None else 0.0
    fig = Figure(figsize=(width / dpi + extra + 0.2 * len(panels), height / dpi + 0.5), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if depth_for_colorbar is not None:
        lo, hi = depth_range(depth_for_colorbar)
        mappable = ScalarMappable(norm=Normalize(lo, hi), cmap=COLORMAP)
        bar = fig.colorbar(mappable, ax=list(axes), fraction=0.046 / len(panels), pad=0.02)
        bar.set_label(f"depth (m), full range {lo:.2f}-{hi:.2f}")
    return fig


def depth_png(depth_m: np.ndarray, colorbar: bool = False) -> bytes:
    """The product picture: the plasma-coloured depth map as PNG bytes (optionally with a scale in metres).

    Without ``colorbar`` the PNG has the map's own size (one pixel per depth
    value); with it, a matplotlib figure (the map drawn at least 640 px wide,
    the scale beside it).  Colours span the map's full :func:`depth_range`.
    """
    coloured = colorize(depth_m)
    if colorbar:
        return figure_png([("depth", coloured)], depth_for_colorbar=depth_m)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(coloured).save(buffer, format="PNG")
    return buffer.getvalue()


def npy_bytes(depth_m: np.ndarray) -> bytes:
    """Serialise float32 metric depth as ``.npy`` bytes (written atomically by the caller)."""
    buffer = io.BytesIO()
    np.save(buffer, depth_m.astype(np.float32), allow_pickle=False)
    return buffer.getvalue()
