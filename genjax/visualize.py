"""Sample grids and 2-D density plots as PNG files.

NumPy and PIL do the image grids. The plots use matplotlib's object API
(``Figure`` rendered by Agg), imported inside the functions: importing genjax
stays fast, and no global pyplot state or backend is touched, so a notebook's
own backend keeps working.

All functions accept NumPy or JAX arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Bounds = tuple[float, float, float, float]  # (x_min, x_max, y_min, y_max)
LogDensityFn = Callable[[np.ndarray], Any]  # [M, 2] -> [M]

DEFAULT_BOUNDS: Bounds = (-4.0, 4.0, -4.0, 4.0)
# save_samples upscales small images until their longer side reaches this.
_MIN_DISPLAY_SIZE = 64


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """uint8 from uint8, or from floats in [0, 1] (clipped; NaN shows black)."""
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    values = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def _grid_shape(num_images: int, num_rows: int | None) -> tuple[int, int]:
    if num_rows is None:
        # Near-square, never taller than wide: cols = ceil(sqrt(N)).
        num_cols = max(1, math.ceil(math.sqrt(num_images)))
        return max(1, math.ceil(num_images / num_cols)), num_cols
    if num_rows < 1:
        raise ValueError(f"num_rows must be >= 1, got {num_rows}.")
    return num_rows, max(1, math.ceil(num_images / num_rows))


def image_grid(
    images: np.ndarray,
    *,
    num_rows: int | None = None,
    padding: int = 1,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Tiles images row by row into one uint8 image.

    Args:
      images: [N, H, W, C] float in [0, 1] (clipped) or uint8, C in {1, 3};
        [N, H, W] is read as C = 1.
      num_rows: rows of the grid; default ceil(N / ceil(sqrt(N))).
      padding: pixels between cells and around the border.
      pad_value: colour of the padding and empty cells, in [0, 1].

    Returns:
      [rows * (H + padding) + padding, cols * (W + padding) + padding, C] uint8,
      image ``i`` in row ``i // cols``, column ``i % cols``.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [N, H, W, C] with C in 1, 3; got {images.shape}.")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}.")
    num_images, height, width, channels = images.shape
    num_rows, num_cols = _grid_shape(num_images, num_rows)
    if num_rows * num_cols < num_images:
        raise ValueError(f"{num_rows} rows x {num_cols} cols cannot hold {num_images} images.")

    pad_uint8 = _to_uint8(np.float32(pad_value))
    cell_h, cell_w = height + padding, width + padding
    grid = np.full(
        (num_rows * cell_h + padding, num_cols * cell_w + padding, channels),
        pad_uint8,
        dtype=np.uint8,
    )
    for index, image in enumerate(_to_uint8(images)):
        top = padding + (index // num_cols) * cell_h
        left = padding + (index % num_cols) * cell_w
        grid[top : top + height, left : left + width] = image
    return grid


def _prepare_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_image_grid(
    path: str | os.PathLike,
    images: np.ndarray,
    *,
    num_rows: int | None = None,
    upscale: int = 1,
) -> Path:
    """Writes :func:`image_grid` of ``images`` [N, H, W, C] as a PNG.

    ``upscale`` repeats every pixel (nearest neighbour) so tiny images such as
    8x8 digits stay crisp; the PNG is ``upscale`` times the grid in each side.
    Parent folders are created. Returns the path written.
    """
    from PIL import Image

    if upscale < 1:
        raise ValueError(f"upscale must be >= 1, got {upscale}.")
    grid = image_grid(images, num_rows=num_rows)
    grid = grid.repeat(upscale, axis=0).repeat(upscale, axis=1)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]  # PIL stores one channel as mode "L".
    path = _prepare_path(path)
    Image.fromarray(grid).save(path, format="PNG")
    return path


def _finite_rows(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"2-D samples must be [N, 2], got {samples.shape}.")
    return samples[np.all(np.isfinite(samples), axis=1)]


def _auto_bounds(samples: np.ndarray) -> Bounds:
    """Covers the central 99% of samples plus a margin, so outliers don't
    shrink the bulk to a dot."""
    if len(samples) == 0:
        return DEFAULT_BOUNDS
    low, high = np.percentile(samples, [0.5, 99.5], axis=0)
    margin = np.maximum(0.1 * (high - low), 0.5)
    low, high = low - margin, high + margin
    return (float(low[0]), float(high[0]), float(low[1]), float(high[1]))


def density_on_grid(
    log_density_fn: LogDensityFn, bounds: Bounds, resolution: int
) -> tuple[np.ndarray, float]:
    """Evaluates a log-density at the cell centres of a grid over ``bounds``.

    Args:
      log_density_fn: [M, 2] -> [M] log-densities, M = resolution**2.

    Returns:
      (log_density [resolution, resolution] with row i at the i-th smallest y
      and column j at the j-th smallest x; log of the probability mass inside
      ``bounds``, a sanity check: about 0 for a normalised density whose mass
      the view covers).
    """
    x_min, x_max, y_min, y_max = bounds
    if not (x_min < x_max and y_min < y_max):
        raise ValueError(f"bounds must be (x_min, x_max, y_min, y_max) increasing, got {bounds}.")
    cell_w, cell_h = (x_max - x_min) / resolution, (y_max - y_min) / resolution
    xs = x_min + cell_w * (np.arange(resolution) + 0.5)
    ys = y_min + cell_h * (np.arange(resolution) + 0.5)
    grid_x, grid_y = np.meshgrid(xs, ys)  # [R, R]; row index follows y.
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1).astype(np.float32)
    log_density = np.asarray(log_density_fn(points), dtype=np.float64)
    log_density = log_density.reshape(resolution, resolution)
    # NaN (e.g. outside a model's support) is drawn as zero density.
    log_density = np.where(np.isnan(log_density), -np.inf, log_density)
    peak = np.max(log_density)
    if not np.isfinite(peak):
        return log_density, float(peak)
    log_mass = peak + np.log(np.sum(np.exp(log_density - peak)) * cell_w * cell_h)
    return log_density, float(log_mass)


def _draw_density(axes: Any, log_density: np.ndarray, bounds: Bounds) -> None:
    peak = np.max(log_density)
    # Relative to the peak: exp of a raw log-density can overflow.
    relative = np.exp(log_density - peak) if np.isfinite(peak) else np.zeros_like(log_density)
    axes.imshow(relative, origin="lower", extent=bounds, cmap="viridis", aspect="auto", vmin=0.0)


def _new_axes(title: str | None) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 5), dpi=100)
    axes = figure.add_subplot()
    if title:
        axes.set_title(title)
    return figure, axes


def _save_figure(figure: Any, path: str | os.PathLike) -> Path:
    path = _prepare_path(path)
    figure.savefig(path, format="png")
    return path


def save_scatter_2d(
    path: str | os.PathLike,
    samples: np.ndarray,
    *,
    log_density: LogDensityFn | None = None,
    bounds: Bounds | None = None,
    title: str | None = None,
    resolution: int = 150,
) -> Path:
    """Scatters ``samples`` [N, 2] over a heatmap of the true density, if given.

    Args:
      log_density: [M, 2] -> [M] log-density drawn as a (peak-normalised) heatmap.
      bounds: (x_min, x_max, y_min, y_max); default covers the samples.
    """
    finite = _finite_rows(samples)
    num_dropped = len(np.asarray(samples)) - len(finite)
    bounds = _auto_bounds(finite) if bounds is None else tuple(map(float, bounds))
    figure, axes = _new_axes(title)
    if log_density is not None:
        grid, _ = density_on_grid(log_density, bounds, resolution)
        _draw_density(axes, grid, bounds)
    # Smaller, fainter points as N grows, so dense regions remain readable.
    size = float(np.clip(2000.0 / max(len(finite), 1), 1.0, 20.0))
    axes.scatter(finite[:, 0], finite[:, 1], s=size, c="tab:red", alpha=0.6, linewidths=0)
    if num_dropped:
        # A diverged model shows up here instead of silently vanishing.
        axes.text(
            0.02,
            0.02,
            f"{num_dropped} non-finite samples not shown",
            transform=axes.transAxes,
            color="black",
            backgroundcolor="white",
        )
    axes.set_xlim(bounds[0], bounds[1])
    axes.set_ylim(bounds[2], bounds[3])
    axes.set_aspect("equal")
    return _save_figure(figure, path)


def save_density_2d(
    path: str | os.PathLike,
    log_density_fn: LogDensityFn,
    *,
    bounds: Bounds = DEFAULT_BOUNDS,
    resolution: int = 200,
    title: str | None = None,
) -> Path:
    """Heatmap of exp(log density) on a ``resolution``² grid over ``bounds``.

    Args:
      log_density_fn: [M, 2] -> [M] log-density (e.g. a flow's ``log_prob``).

    The colour scale is relative to the peak; the probability mass inside the
    view is printed in a corner, which flags an unnormalised or mis-scaled model.
    """
    bounds = tuple(map(float, bounds))
    grid, log_mass = density_on_grid(log_density_fn, bounds, resolution)
    figure, axes = _new_axes(title)
    _draw_density(axes, grid, bounds)
    axes.text(
        0.02,
        0.02,
        f"mass in view {math.exp(min(log_mass, 700.0)):.3g}",
        transform=axes.transAxes,
        color="white",
    )
    axes.set_aspect("equal")
    return _save_figure(figure, path)


def save_samples(
    path: str | os.PathLike,
    samples: np.ndarray,
    *,
    log_density: LogDensityFn | None = None,
) -> Path:
    """Saves samples the way their shape suggests; the training loop calls this.

    - [N, 2] points: scatter over ``log_density`` when given.
    - [N, H, W, C] or [N, H, W] images in [0, 1]: grid, upscaled so the longer
      side of each image reaches 64 pixels.
    - [N, D] with D > 2 a perfect square (flattened square images, e.g. 784):
      reshaped to [N, sqrt(D), sqrt(D), 1] and shown as a grid; other D > 2
      as [N, 1, D, 1] strips.
    """
    samples = np.asarray(samples)
    if samples.ndim == 2 and samples.shape[1] == 2:
        return save_scatter_2d(path, samples, log_density=log_density)
    if samples.ndim == 2 and samples.shape[1] > 2:
        side = math.isqrt(samples.shape[1])
        if side * side == samples.shape[1]:
            samples = samples.reshape(-1, side, side, 1)
        else:  # other vectors (e.g. toy_binary:D bits): one row of pixels each
            samples = samples.reshape(-1, 1, samples.shape[1], 1)
    if samples.ndim in (3, 4):
        longer_side = max(samples.shape[1], samples.shape[2])
        upscale = max(1, math.ceil(_MIN_DISPLAY_SIZE / longer_side))
        return save_image_grid(path, samples, upscale=upscale)
    raise ValueError(
        f"Cannot plot samples of shape {samples.shape}: expected [N, 2] points, "
        "[N, H, W, C] images or [N, D] flattened square images."
    )


def save_nearest_neighbours(
    path: str | os.PathLike, samples: np.ndarray, neighbours: np.ndarray, *, upscale: int = 1
) -> Path:
    """Writes each sample beside its nearest training image, one pair per row, as a PNG.

    Args:
      samples: `[N, H, W, C]` model samples in [0, 1].
      neighbours: `[N, H, W, C]` their nearest training images, e.g.
        ``train[genjax.metrics.nearest_neighbour_distances(train, samples)[1]]``.
    """
    samples, neighbours = np.asarray(samples), np.asarray(neighbours)
    if samples.shape != neighbours.shape:
        raise ValueError(f"samples {samples.shape} and neighbours {neighbours.shape} must have one shape.")
    pairs = np.stack([samples, neighbours], axis=1).reshape(-1, *samples.shape[1:])
    return save_image_grid(path, pairs, num_rows=len(samples), upscale=upscale)


def labelled_grid(
    images: np.ndarray, row_labels: Sequence[object], *, upscale: int = 1, padding: int = 1
) -> np.ndarray:
    """One row per label: ``images[r]`` side by side, ``row_labels[r]`` written in a margin on the left.

    Args:
      images: `[R, C, H, W, ch]` (or `[R, C, H, W]`) in [0, 1] or uint8: C images for each of R rows,
        e.g. the samples of a conditional model drawn with cond = r.
      row_labels: R labels (class ids or names), printed in black on the white margin.
      upscale: pixel repetition of the image grid (the text is not scaled).
      padding: pixels between cells, before upscaling.
    Returns:
      `[R * (H + padding) * upscale + padding * upscale, margin + grid width, ch]` uint8.
    """
    from PIL import Image, ImageDraw

    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., None]
    if images.ndim != 5:
        raise ValueError(f"images must be [rows, cols, H, W, C]; got {images.shape}.")
    num_rows, num_cols = images.shape[:2]
    if len(row_labels) != num_rows:
        raise ValueError(f"{len(row_labels)} row labels for {num_rows} rows.")
    if upscale < 1:
        raise ValueError(f"upscale must be >= 1, got {upscale}.")
    grid = image_grid(
        images.reshape(num_rows * num_cols, *images.shape[2:]), num_rows=num_rows, padding=padding
    )
    grid = grid.repeat(upscale, axis=0).repeat(upscale, axis=1)
    texts = [str(label) for label in row_labels]
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [draw.textbbox((0, 0), text) for text in texts]
    margin = max(box[2] - box[0] for box in boxes) + 6
    canvas = Image.new(
        "L" if grid.shape[-1] == 1 else "RGB", (margin + grid.shape[1], grid.shape[0]), "white"
    )
    canvas.paste(Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid), (margin, 0))
    draw = ImageDraw.Draw(canvas)
    cell = (images.shape[2] + padding) * upscale
    for row, (text, box) in enumerate(zip(texts, boxes, strict=True)):
        centre = padding * upscale + row * cell + (cell - padding * upscale) // 2
        draw.text((3, centre - (box[1] + box[3]) // 2), text, fill="black")
    out = np.asarray(canvas)
    return out[..., None] if out.ndim == 2 else out


def save_labelled_grid(
    path: str | os.PathLike, images: np.ndarray, row_labels: Sequence[object], *, upscale: int | None = None
) -> Path:
    """Writes `labelled_grid` as a PNG; ``upscale`` None brings each image's longer side to 64 pixels."""
    from PIL import Image

    images = np.asarray(images)
    if upscale is None:
        upscale = max(1, math.ceil(_MIN_DISPLAY_SIZE / max(images.shape[2], images.shape[3])))
    grid = labelled_grid(images, row_labels, upscale=upscale)
    path = _prepare_path(path)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path, format="PNG")
    return path
