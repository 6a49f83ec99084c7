"""C2ST: chance accuracy and large p-values on equal distributions, near-perfect accuracy when separated."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import c2st


def test_equal_distributions_give_chance_accuracy():
    num, seeds = 600, 3
    accuracies, p_values = [], []
    for seed in range(seeds):
        k_real, k_fake, k_test = jax.random.split(jax.random.key(seed), 3)
        real = jax.random.normal(k_real, (num, 4))
        fake = jax.random.normal(k_fake, (num, 4))
        result = c2st.classifier_two_sample_test(k_test, real, fake, num_steps=200)
        assert int(result.num_test) == num  # half of each class held out
        z = (float(result.accuracy) - 0.5) / math.sqrt(1 / (4 * num))
        np.testing.assert_allclose(result.p_value, 0.5 * math.erfc(z / math.sqrt(2)), rtol=1e-4, atol=1e-7)
        accuracies.append(float(result.accuracy))
        p_values.append(float(result.p_value))
    null_sd = math.sqrt(1 / (4 * num))
    assert abs(np.mean(accuracies) - 0.5) < 3 * null_sd / math.sqrt(seeds), accuracies
    assert min(p_values) > 1e-3, p_values


def test_separated_distributions_are_told_apart():
    k_real, k_fake, k_test = jax.random.split(jax.random.key(11), 3)
    real = jax.random.normal(k_real, (600, 4))
    fake = jax.random.normal(k_fake, (600, 4)).at[:, 0].add(6.0)  # Bayes accuracy Phi(3) = 0.9987
    result = c2st.classifier_two_sample_test(k_test, real, fake, num_steps=200)
    assert float(result.accuracy) > 0.97, result
    assert float(result.p_value) < 1e-6, result


def test_a_non_linear_difference_needs_the_hidden_layer():
    """Same mean and covariance, different shape: a ring against a Gaussian of equal second moments.

    No linear classifier beats chance here (both sets are symmetric about 0); the Bayes accuracy is
    about 0.9 (the Gaussian radius falls in the ring's [0.9, 1.1] with probability e^-0.81 - e^-1.21).
    Uses the default training schedule.
    """
    k_angle, k_radius, k_fake, k_test = jax.random.split(jax.random.key(3), 4)
    angle = jax.random.uniform(k_angle, (600,)) * 2 * math.pi
    radius = 1.0 + 0.05 * jax.random.normal(k_radius, (600,))
    ring = jnp.stack([jnp.cos(angle), jnp.sin(angle)], 1) * radius[:, None]
    gauss = jax.random.normal(k_fake, (600, 2)) * math.sqrt(0.5)  # E|x|^2 = 1, like the ring
    result = c2st.classifier_two_sample_test(k_test, ring, gauss)
    assert float(result.accuracy) > 0.75, result
    assert float(result.p_value) < 1e-6, result


def test_p_value_is_the_normal_tail():
    """Accuracy exactly at 1/2 gives p = 1/2 (identical inputs cannot be separated)."""
    x = jnp.ones((40, 3))
    result = c2st.classifier_two_sample_test(jax.random.key(0), x, x, num_steps=5)
    np.testing.assert_allclose(result.accuracy, 0.5)
    np.testing.assert_allclose(result.p_value, 0.5, rtol=1e-6)


def test_options_are_checked():
    x = jnp.zeros((10, 2))
    with pytest.raises(ValueError, match="test_fraction"):
        c2st.classifier_two_sample_test(jax.random.key(0), x, x, test_fraction=1.0)
    with pytest.raises(ValueError, match="test_fraction"):
        c2st.classifier_two_sample_test(jax.random.key(0), x, x, test_fraction=0.01)
