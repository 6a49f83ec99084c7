"""The held-out WGAN-GP critic gap: about 0 between equal distributions, about W1 between shifted ones."""

import jax
import numpy as np
import pytest

from genjax.metrics.critic import wasserstein_critic_distance


def _gaussians(shift: float, seed: int = 0, n: int = 2000):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)).astype(np.float32), (rng.normal(size=(n, 2)) + [shift, 0.0]).astype(
        np.float32
    )


@pytest.mark.parametrize("shift", [0.0, 1.0, 3.0])
def test_gap_estimates_the_wasserstein_distance_of_shifted_gaussians(shift):
    # W1 between N(0, I) and N((s, 0), I) is s (critic f(x) = x_1); the soft penalty's optimum
    # is the slope 1 + s / (2 λ), so the gap is s (1 + s / (2 λ)) (the module docstring).
    real, fake = _gaussians(shift)
    result = wasserstein_critic_distance(jax.random.key(0), real, fake, num_steps=600, hidden_size=32)
    distance = float(result.distance)
    assert distance == pytest.approx(shift * (1 + shift / 20.0), abs=0.1 + 0.05 * shift)
    assert float(result.train_gap) == pytest.approx(distance, abs=0.15)


def test_bad_options_are_one_line_errors():
    real, fake = _gaussians(0.0, n=20)
    with pytest.raises(ValueError, match="test_fraction"):
        wasserstein_critic_distance(jax.random.key(0), real, fake, test_fraction=1.0)
    with pytest.raises(AssertionError, match="same features"):
        wasserstein_critic_distance(jax.random.key(0), real, fake[:, :1])
