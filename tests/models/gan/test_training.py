"""GANs through the one training loop: sample-quality evaluation and exact resume of both players."""

import chex
import jax
import numpy as np
import pytest

from experiments.configs import gan as gan_config
from genjax import metrics
from genjax.train import train_and_evaluate
from genjax.train.restore import restore_from_workdir
from genjax.train.step import PURPOSE_QUALITY, step_key


def _config(num_steps: int):
    config = gan_config.get_config("smoke")
    config.optim.discriminator.updates_per_step = 2  # n_critic, restored and continued exactly
    # The toy configs decay the learning rate over train.num_steps; the 10-step first leg must
    # follow the 20-step schedule, so the comparison uses a constant rate.
    for player in ("discriminator", "generator"):
        config.optim[player].schedule = "constant"
    config.train.update(
        num_steps=num_steps, ema_decay=0.9, log_every=10, sample_every=0, eval_every=10, checkpoint_every=10
    )
    # Validation every 10 steps: the straight run then evaluates step 10 too, as the first leg
    # of the resumed run does at its end, so both select among the same candidates.
    return config


@pytest.mark.slow
def test_gan_run_reports_sample_quality_and_resumes_exactly(tmp_path):
    straight = train_and_evaluate(_config(20), tmp_path / "straight", print_fn=lambda *_: None)
    assert {"test/mmd", "test/modes_captured", "test/high_quality_fraction"} <= set(straight)
    assert np.isfinite(straight["test/mmd"])
    # The reported coverage is mode_coverage of the selected EMA generator's evaluation samples.
    selected = straight["selection/step"]
    model, dataset, state, _ = restore_from_workdir(_config(20), tmp_path / "straight", checkpoint="best")
    assert int(state.step) == selected
    num_samples = _config(20).eval.get("num_quality_samples", 2_500)
    key = step_key(_config(20).seed, selected, PURPOSE_QUALITY)
    samples = np.asarray(jax.jit(model.sample, static_argnums=2)(state.eval_params(), key, num_samples))
    coverage = metrics.mode_coverage(samples, dataset.modes.centers, dataset.modes.std)
    assert straight["test/modes_captured"] == int(coverage["modes_captured"])
    assert straight["test/high_quality_fraction"] == float(coverage["high_quality_fraction"])
    assert {"train/discriminator/loss", "train/generator/loss"} <= set(straight)
    assert (tmp_path / "straight" / "samples" / f"step_{selected:08d}.png").exists()

    train_and_evaluate(_config(10), tmp_path / "resumed", print_fn=lambda *_: None)
    resumed = train_and_evaluate(_config(20), tmp_path / "resumed", print_fn=lambda *_: None)
    # Steps 10-20 (one logging interval) and the samples of the final EMA generator, bit for bit.
    compared = ("train/discriminator/loss", "train/generator/loss", "test/mmd", "test/high_quality_fraction")
    compared += ("selection/step", "validation/mmd")
    chex.assert_trees_all_equal({k: resumed[k] for k in compared}, {k: straight[k] for k in compared})
