"""Planar and radial flows: exact inverses and log-dets, invertibility constraints, densities normalise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.models.flow.bijector import Chain
from genjax.models.flow.planar import Planar
from genjax.models.flow.radial import Radial
from tests.models.flow.bijector_checks import check_bijector, perturbed_params

DIM = 3


def standard_normal_log_prob(z: jax.Array) -> jax.Array:
    """`[B, D] -> [B]`."""
    return jnp.sum(-0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def grid(half_width: float, points: int) -> tuple[jax.Array, float]:
    """Midpoints of a ``points``^2 grid over [-w, w]^2 as `[points^2, 2]`, and the cell width."""
    step = 2 * half_width / points
    centres = -half_width + step * (jnp.arange(points) + 0.5)
    return jnp.stack(jnp.meshgrid(centres, centres, indexing="ij"), axis=-1).reshape(-1, 2), step


def grid_mass(layer, params, *, half_width: float = 6.0, points: int = 300) -> float:
    """Midpoint-rule integral over [-w, w]^2 of the 2-D density with a standard normal base."""
    points_2d, step = grid(half_width, points)
    z, log_det = jax.jit(lambda x: layer.apply(params, x, method="forward"))(points_2d)
    return float(jnp.sum(jnp.exp(standard_normal_log_prob(z) + log_det)) * step**2)


def assert_invertible_on_grid(layer, params) -> None:
    """Jacobian determinant > 0 (by autodiff) on a grid over [-4, 4]^2, and an exact inverse there."""
    points_2d, _ = grid(4.0, 41)
    forward = jax.jit(lambda x: layer.apply(params, x, method="forward"))
    z, log_det = forward(points_2d)
    jacobians = jax.vmap(jax.jacfwd(lambda x: forward(x[None])[0][0]))(points_2d)
    determinants = jnp.linalg.det(jacobians)
    assert float(determinants.min()) > 0
    np.testing.assert_allclose(log_det, jnp.log(determinants), atol=1e-4)
    x_back, inverse_log_det = layer.apply(params, z, method="inverse")
    np.testing.assert_allclose(x_back, points_2d, atol=1e-4)
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [Planar, Radial])
def test_radial_starts_as_identity_and_planar_near_it(kind):
    x = jax.random.normal(jax.random.key(0), (3, DIM))
    layer = kind()
    params = layer.init(jax.random.key(1), x, method="forward")
    z, log_det = layer.apply(params, x, method="forward")
    x_back, _ = layer.apply(params, z, method="inverse")
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    if kind is Radial:  # beta = 0 exactly; planar's reparameterisation never gives u_hat = 0
        np.testing.assert_allclose(z, x, atol=1e-6)
        np.testing.assert_allclose(log_det, 0.0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "layer",
    [
        Planar(),
        Radial(),
        Chain([Planar(), Planar(), Planar()]),
        Chain([Radial(), Planar(), Radial(), Planar()]),
    ],
    ids=["planar", "radial", "planar-chain", "mixed-chain"],
)
@pytest.mark.parametrize("dim", [1, DIM])
def test_bijector_checks(layer, dim):
    x = jax.random.normal(jax.random.key(0), (6, dim))
    check_bijector(layer, perturbed_params(layer, x, scale=1.0), x)


@pytest.mark.slow
def test_planar_constraint_holds_where_raw_params_are_not_invertible():
    layer = Planar()
    params = {"params": {"u": jnp.array([-3.0, -1.0]), "w": jnp.array([1.0, 0.5]), "b": jnp.array(0.3)}}
    raw_wu = float(params["params"]["u"] @ params["params"]["w"])
    assert raw_wu < -1  # with u itself, 1 + (w . u) tanh' < 0 near w . x + b = 0
    assert_invertible_on_grid(layer, params)


@pytest.mark.slow
def test_radial_constraint_holds_where_raw_params_are_not_invertible():
    layer = Radial()
    params = {
        "params": {"x0": jnp.array([0.3, -0.2]), "alpha_raw": jnp.array(0.5), "beta_raw": jnp.array(-4.0)}
    }
    alpha = jax.nn.softplus(params["params"]["alpha_raw"])
    assert float(params["params"]["beta_raw"]) < -float(alpha)  # raw beta alone would fold space
    assert_invertible_on_grid(layer, params)


@pytest.mark.slow
def test_planar_inverse_has_implicit_gradients():
    """Gradients through the bisection inverse match those of the forward map's inverse function."""
    layer = Planar()
    x = jax.random.normal(jax.random.key(0), (2, 2))
    params = perturbed_params(layer, x, scale=1.0)
    z, _ = layer.apply(params, x, method="forward")
    jacobian = jax.jacfwd(lambda v: layer.apply(params, v[None], method="inverse")[0][0])(z[0])
    forward_jacobian = jax.jacfwd(lambda v: layer.apply(params, v[None], method="forward")[0][0])(x[0])
    np.testing.assert_allclose(jacobian @ forward_jacobian, jnp.eye(2), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "layer, scale",
    # Radial layers only act near their centres, so they need larger jitter to matter.
    [(Chain([Planar() for _ in range(4)]), 0.5), (Chain([Radial() for _ in range(4)]), 1.5)],
    ids=["planar", "radial"],
)
def test_two_dimensional_density_integrates_to_one(layer, scale):
    params = perturbed_params(layer, jnp.zeros((1, 2)), seed=4, scale=scale)
    np.testing.assert_allclose(grid_mass(layer, params), 1.0, atol=1e-2)
