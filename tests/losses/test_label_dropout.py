"""Label dropout for classifier-free guidance: the configured rate, only ever to the null label."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import losses

K = 10  # classes; the null label is K
LABELS = jnp.arange(200_000, dtype=jnp.int32) % K


@pytest.mark.parametrize("rate", [0.1, 0.35])
def test_drops_at_the_rate_only_to_the_null_label(rate):
    out = np.asarray(losses.drop_labels(jax.random.key(0), LABELS, rate=rate, null_label=K))
    labels = np.asarray(LABELS)
    changed = out != labels
    np.testing.assert_array_equal(out[changed], K)  # a dropped label becomes null, nothing else
    np.testing.assert_array_equal(out[~changed], labels[~changed])
    n = labels.size
    # Binomial(n, rate) count of drops: within 4 standard deviations of n * rate.
    assert abs(changed.sum() - n * rate) < 4 * np.sqrt(n * rate * (1 - rate))
    # Independent of the class: each class's 20k labels drop at the same rate (4 sigma each).
    per_class = np.bincount(labels[changed], minlength=K)
    m = n // K
    assert np.all(np.abs(per_class - m * rate) < 4 * np.sqrt(m * rate * (1 - rate)))
    assert out.dtype == labels.dtype


def test_rate_zero_drops_nothing_and_the_key_decides_which():
    np.testing.assert_array_equal(
        losses.drop_labels(jax.random.key(1), LABELS, rate=0.0, null_label=K), LABELS
    )
    a, b = (losses.drop_labels(jax.random.key(i), LABELS[:1000], rate=0.5, null_label=K) for i in (2, 3))
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_a_rate_outside_zero_one_is_a_value_error(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        losses.drop_labels(jax.random.key(0), LABELS[:4], rate=rate, null_label=K)


def test_labels_must_be_integer_ids():
    with pytest.raises(AssertionError, match="integer class ids"):
        losses.drop_labels(jax.random.key(0), jnp.zeros((4,)), rate=0.1, null_label=K)
