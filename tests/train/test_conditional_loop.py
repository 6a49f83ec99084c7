"""A conditional model through the loop: labels in every batch, labelled sample grids, exact resume."""

import chex
import jax
import numpy as np
import pytest
from PIL import Image

from experiments.configs import vae as vae_config
from genjax.train import train_and_evaluate
from genjax.train.checkpoint import load_config
from genjax.train.restore import restore_from_workdir

pytestmark = pytest.mark.xdist_group("conditional_loop")


def conditional_config(num_steps: int):
    config = vae_config.get_config("smoke_conditional")
    config.train.update(num_steps=num_steps, log_every=5, eval_every=0, checkpoint_every=5, sample_every=0)
    return config


def _state(workdir):
    _, _, state, _ = restore_from_workdir(load_config(workdir), workdir, checkpoint="latest")
    return jax.device_get(state)


@pytest.mark.slow
def test_a_resumed_conditional_run_is_bit_exact_and_samples_a_row_per_class(tmp_path):
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"
    quiet = {"print_fn": lambda *_: None}
    train_and_evaluate(conditional_config(5), resumed, **quiet)
    results = train_and_evaluate(conditional_config(10), resumed, **quiet)  # resumes at step 5
    config = conditional_config(10)
    config.train.sample_every = 10
    straight_results = train_and_evaluate(config, straight, **quiet)
    # Labels are part of every batch: a resume that paired them differently would differ here.
    chex.assert_trees_all_equal(_state(resumed), _state(straight))
    assert results["test/nll"] == straight_results["test/nll"] and np.isfinite(results["test/nll"])
    # The periodic samples of a class-conditional model: a labelled grid, one row per class.
    (grid,) = (straight / "samples").glob("*.png")
    height = np.asarray(Image.open(grid)).shape[0]
    assert height == 10 * (8 + 1) * 8 + 8  # 10 rows of 8x8 digits, 1 px padding, upscaled 8x
