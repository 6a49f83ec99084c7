"""``experiments/sample.py`` on conditional models: --label, --guidance_scale and the labelled grid."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genjax import visualize

REPO = Path(__file__).resolve().parents[2]
UPSCALE, SIDE = 8, 8  # save_samples and save_labelled_grid bring 8x8 digits to 64 pixels


def _centres(num: int) -> np.ndarray:
    """`[num, 8]` pixel rows (or columns) of the block centres of ``num`` cells of an upscaled grid."""
    return (
        (1 + np.arange(num)[:, None] * (SIDE + 1)) * UPSCALE
        + np.arange(SIDE)[None, :] * UPSCALE
        + UPSCALE // 2
    )


def cells(png: Path, num_rows: int, num_cols: int) -> np.ndarray:
    """`[rows, cols, 8, 8]` uint8: a grid PNG's images read back (any label margin is on the left)."""
    grid = np.asarray(Image.open(png))
    assert grid.shape[0] == (num_rows * (SIDE + 1) + 1) * UPSCALE
    grid = grid[:, grid.shape[1] - (num_cols * (SIDE + 1) + 1) * UPSCALE :]
    rows, cols = _centres(num_rows), _centres(num_cols)
    return grid[rows[:, None, :, None], cols[None, :, None, :]]


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_label")
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("sample_label_script.py")), str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.subprocess
def test_default_png_of_a_conditional_model_has_one_row_per_class_in_order(sampled):
    out, results = sampled
    assert results["grid"] == {"code": 0, "stderr": []}
    means = np.round(np.load(out / "means.npy")[..., 0] * 255).astype(np.uint8)
    drawn = cells(out / "grid.png", 10, 3)  # 25 samples: ceil(25 / 10) = 3 in each class's row
    np.testing.assert_array_equal(drawn, np.broadcast_to(means[:, None], drawn.shape))


@pytest.mark.subprocess
def test_label_draws_only_that_class(sampled):
    out, results = sampled
    assert results["label"] == {"code": 0, "stderr": []}
    means = np.round(np.load(out / "means.npy")[..., 0] * 255).astype(np.uint8)
    drawn = cells(out / "label.png", 5, 5)  # save_samples' near-square grid, no margin
    np.testing.assert_array_equal(drawn, np.broadcast_to(means[3], drawn.shape))


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "case,needle",
    [
        ("out_of_range", "error: --label: got 10; allowed: 0 to 9"),
        ("negative", "error: --label: got -1; allowed: 0 to 9"),
        ("unconditional", "error: --label: the 'vae' model is unconditional"),
        ("no_guidance", "error: --guidance_scale: the 'vae' family's sampler takes no guidance_scale"),
    ],
)
def test_bad_label_or_guidance_exits_one_with_one_line(sampled, case, needle):
    out, results = sampled
    assert results[case]["code"] == 1 and len(results[case]["stderr"]) == 1, results[case]
    assert results[case]["stderr"][0].startswith(needle), results[case]
    assert not (out / f"{case}.png").exists()


def test_labelled_grid_writes_each_label_beside_its_row():
    images = np.full((4, 2, 8, 8, 1), 0.5, np.float32)
    grid = visualize.labelled_grid(images, ["0", "1", "2", "3"], upscale=2)
    height = (4 * 9 + 1) * 2
    assert grid.shape[0] == height and grid.dtype == np.uint8
    margin = grid[:, : grid.shape[1] - (2 * 9 + 1) * 2, 0]
    for row in range(4):
        band = margin[(1 + 9 * row) * 2 : (9 + 9 * row) * 2]
        assert (band < 128).any(), f"no text beside row {row}"  # black glyphs on the white margin
    assert (margin[:2] == 255).all()  # nothing above the first row
    with pytest.raises(ValueError, match="3 row labels for 4 rows"):
        visualize.labelled_grid(images, ["a", "b", "c"])
