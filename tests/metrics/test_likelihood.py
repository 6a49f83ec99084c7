"""Likelihood metrics: perplexity against models whose answer is known exactly."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from genjax import metrics


@pytest.mark.parametrize("vocab_size, length", [(2, 1), (7, 16), (256, 5)])
def test_uniform_model_has_perplexity_equal_to_the_vocabulary(vocab_size, length):
    nll = jnp.full((3,), length * math.log(vocab_size))  # -log V^-T for each of 3 sequences
    np.testing.assert_allclose(metrics.perplexity(nll, length), vocab_size, rtol=1e-5)


def test_perplexity_is_two_to_the_bits_per_token():
    nll = jnp.array([3.1, 10.0, 0.0])
    lengths = jnp.array([4, 9, 2])  # per-sequence token counts broadcast against nll
    bits = np.array([metrics.bits_per_dim(n, int(t)) for n, t in zip(nll, lengths, strict=True)])
    np.testing.assert_allclose(metrics.perplexity(nll, lengths), 2.0**bits, rtol=1e-5)
    assert float(metrics.perplexity(0.0, 8)) == 1.0  # a certain model


def test_perplexity_rejects_no_tokens():
    with pytest.raises(ValueError, match="num_tokens must be positive"):
        metrics.perplexity(1.0, 0)
