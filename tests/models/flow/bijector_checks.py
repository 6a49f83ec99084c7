"""Checks every bijector must pass: exact inverse, and log-det equal to autodiff's.

The reference answer is ``slogdet(jax.jacfwd(forward))`` on one example, so a
layer can only pass if its hand-written log-determinant is the true one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def perturbed_params(layer, x, *, seed: int = 1, scale: float = 0.3):
    """Initialises ``layer`` on ``x`` (forward) and jitters every parameter.

    Zero-initialised output layers make fresh couplings the identity, whose
    log-det is trivially 0; the jitter makes the check meaningful.
    """
    return jitter(layer.init(jax.random.key(seed), x, method="forward"), scale=scale, seed=seed + 1)


def jitter(variables, *, scale: float, seed: int = 0):
    """Adds ``scale`` * N(0, 1) noise (from ``jax.random``) to every leaf of a parameter pytree."""
    leaves, treedef = jax.tree.flatten(variables)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    noisy = [
        leaf + scale * jax.random.normal(key, leaf.shape, leaf.dtype)
        for leaf, key in zip(leaves, keys, strict=True)
    ]
    return jax.tree.unflatten(treedef, noisy)


def numpy_jitter(variables, *, scale: float, seed: int = 0):
    """As `jitter`, with numpy noise: an eager ``jax.random.normal`` compiles once per leaf
    shape, seconds per model when a test builds many models."""
    leaves, treedef = jax.tree.flatten(variables)
    rng = np.random.default_rng(seed)
    noisy = [leaf + (scale * rng.standard_normal(leaf.shape)).astype(leaf.dtype) for leaf in leaves]
    return jax.tree.unflatten(treedef, noisy)


def check_bijector(layer, params, x, *, atol: float = 1e-4, num_jacobian_examples: int = 2) -> None:
    """Asserts inverse(forward(x)) == x, opposite log-dets, and log_det == slogdet(jacfwd).

    Args:
      layer: a `Bijector` module.
      params: its variables.
      x: [B, ...] inputs (float32); keep the per-example size small (the
        Jacobian is D x D).
    """
    z, log_det = layer.apply(params, x, method="forward")
    assert log_det.shape == (x.shape[0],)
    assert z.size == x.size
    x_back, inverse_log_det = layer.apply(params, z, method="inverse")
    np.testing.assert_allclose(x_back, x, atol=atol, rtol=1e-4)
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=atol, rtol=1e-4)

    def forward_one(flat):
        out, _ = layer.apply(params, flat.reshape(1, *x.shape[1:]), method="forward")
        return out.reshape(-1)

    for index in range(min(num_jacobian_examples, x.shape[0])):
        jacobian = jax.jacfwd(forward_one)(x[index].reshape(-1))
        sign, expected = jnp.linalg.slogdet(jacobian)
        assert float(sign) != 0.0
        np.testing.assert_allclose(log_det[index], expected, atol=atol * 10, rtol=1e-4)


class Jitted:
    """A module whose ``init``/``apply`` run compiled: op-by-op Flax is slow on CPU."""

    def __init__(self, module):
        self.module = module

    @functools.cache  # noqa: B019 (the instances live for one test)
    def _compiled(self, name: str, method: str):
        return jax.jit(functools.partial(getattr(self.module, name), method=method))

    def init(self, rng, x, method="forward"):
        return self._compiled("init", method)(rng, x)

    def apply(self, params, x, method="forward"):
        return self._compiled("apply", method)(params, x)
