"""The logit transform: log-determinants against autodiff and finite differences, and its inverse."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import bijections, distributions, losses


@pytest.mark.slow
def test_logit_transform_of_a_uniform_is_a_logistic():
    # With alpha = 0, y ~ U(0, 1) maps to a standard logistic: the log-density of y,
    # logistic(z) + log|dz/dy|, must be exactly 0.
    y = jax.random.uniform(jax.random.key(4), (100, 6), minval=1e-3, maxval=1 - 1e-3)
    z, log_det = bijections.logit_transform(y, alpha=0.0)
    np.testing.assert_allclose(
        losses.flow_log_prob(z, log_det, base_log_prob=distributions.standard_logistic_log_prob), 0, atol=1e-4
    )
    y_back, inverse_log_det = bijections.inverse_logit_transform(z, alpha=0.0)
    np.testing.assert_allclose(y_back, y, atol=1e-6)
    np.testing.assert_allclose(inverse_log_det, -log_det, rtol=1e-5)


@pytest.mark.slow
def test_logit_transform_log_det_matches_autodiff():
    y = jax.random.uniform(jax.random.key(0), (3, 2, 2, 1))
    z, log_det = bijections.logit_transform(y, alpha=0.05)
    assert z.shape == y.shape and log_det.shape == (3,)
    for i in range(3):
        jacobian = jax.jacfwd(
            lambda v: bijections.logit_transform(v.reshape(1, 2, 2, 1), alpha=0.05)[0].ravel()
        )(y[i].ravel())
        _, reference = jnp.linalg.slogdet(jacobian)
        assert float(log_det[i]) == pytest.approx(float(reference), rel=1e-5)


def test_logit_transform_finite_differences_and_inverse():
    rng = np.random.default_rng(0)
    y = rng.random((4, 5))
    z, log_det = bijections.logit_transform(y, alpha=0.01)
    eps = 1e-6
    derivative = (
        bijections.logit_transform(y + eps, alpha=0.01)[0]
        - bijections.logit_transform(y - eps, alpha=0.01)[0]
    ) / (2 * eps)
    np.testing.assert_allclose(log_det, np.log(derivative).sum(axis=1), rtol=1e-7)
    y_back, inverse_log_det = bijections.inverse_logit_transform(z, alpha=0.01)
    np.testing.assert_allclose(y_back, y, atol=1e-12)
    np.testing.assert_allclose(inverse_log_det, -log_det, rtol=1e-10)
    # The inverse stays finite where a naive sigmoid would overflow.
    assert np.isfinite(bijections.inverse_logit_transform(np.array([[-800.0, 800.0]]))[1]).all()
