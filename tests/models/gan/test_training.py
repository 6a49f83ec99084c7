"""GANs through the one training loop: sample-quality evaluation and exact resume of both players."""

import numpy as np

from experiments.configs import gan as gan_config
from genjax.train import train_and_evaluate


def _config(num_steps: int):
    config = gan_config.get_config("smoke")
    config.optim.discriminator.updates_per_step = 2  # n_critic, restored and continued exactly
    # The toy configs decay the learning rate over train.num_steps; the 10-step first leg must
    # follow the 20-step schedule, so the comparison uses a constant rate.
    for player in ("discriminator", "generator"):
        config.optim[player].schedule = "constant"
    config.train.update(
        num_steps=num_steps, ema_decay=0.9, log_every=10, sample_every=0, eval_every=0, checkpoint_every=10
    )
    return config


def test_gan_run_reports_sample_quality_and_resumes_exactly(tmp_path):
    straight = train_and_evaluate(_config(20), tmp_path / "straight", print_fn=lambda *_: None)
    assert {"test/mmd", "test/modes_captured", "test/high_quality_fraction"} <= set(straight)
    assert 0 <= straight["test/modes_captured"] <= 8 and np.isfinite(straight["test/mmd"])
    assert {"train/discriminator/loss", "train/generator/loss"} <= set(straight)
    assert (tmp_path / "straight" / "samples" / "step_00000020.png").exists()

    train_and_evaluate(_config(10), tmp_path / "resumed", print_fn=lambda *_: None)
    resumed = train_and_evaluate(_config(20), tmp_path / "resumed", print_fn=lambda *_: None)
    # Steps 10-20 (one logging interval) and the samples of the final EMA generator, bit for bit.
    compared = ("train/discriminator/loss", "train/generator/loss", "test/mmd", "test/high_quality_fraction")
    for name in compared:
        assert resumed[name] == straight[name], name
