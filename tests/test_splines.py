"""The rational-quadratic spline bijection: exact inverse, autodiff log-dets, knots, tails, normalisation.

Exactness checks run in float64 (a spline with slope e^-8 somewhere turns float32 rounding of y
into ~1e-3 errors in x, which says nothing about the maths); the stability checks run in float32.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import bijections

NUM_BINS, TAIL_BOUND, MIN_SIZE, MIN_DERIVATIVE = 5, 3.0, 1e-3, 1e-3


def _params(seed: int, shape: tuple[int, ...], *, scale: float = 1.0, dtype=jnp.float32):
    """Random unnormalized (widths, heights, derivatives) for inputs of ``shape``."""
    keys = jax.random.split(jax.random.key(seed), 3)
    sizes = (NUM_BINS, NUM_BINS, NUM_BINS - 1)
    return tuple(
        (scale * jax.random.normal(key, (*shape, size))).astype(dtype)
        for key, size in zip(keys, sizes, strict=True)
    )


@functools.partial(jax.jit, static_argnames="inverse")
def _spline(x, params, *, inverse=False):
    # Compiled: op-by-op dispatch of the spline's ~100 small ops takes seconds per call on CPU.
    return bijections.rational_quadratic_spline(x, *params, inverse=inverse, tail_bound=TAIL_BOUND)


def _reference_knots(params):
    """Knot positions and derivatives recomputed in numpy from the documented parameterisation."""

    def knots(raw):
        softmax = np.exp(raw - raw.max(-1, keepdims=True))
        softmax /= softmax.sum(-1, keepdims=True)
        sizes = MIN_SIZE + (1 - MIN_SIZE * NUM_BINS) * softmax
        cumulative = np.concatenate([np.zeros_like(sizes[..., :1]), np.cumsum(sizes, -1)], -1)
        return 2 * TAIL_BOUND * cumulative - TAIL_BOUND

    widths, heights, derivatives = (np.asarray(p, np.float64) for p in params)
    offset = math.log(math.expm1(1 - MIN_DERIVATIVE))
    interior = MIN_DERIVATIVE + np.logaddexp(0.0, derivatives + offset)
    ones = np.ones_like(interior[..., :1])
    return knots(widths), knots(heights), np.concatenate([ones, interior, ones], -1)


@pytest.fixture(scope="module")
def float64_case():
    """x `[64, 3]` spread over the tails and the interior, plus every knot of each spline, in float64."""
    with jax.enable_x64(True):
        params = _params(0, (64, 3), dtype=jnp.float64)
        # The first K + 1 rows share row 0's splines and sit on their knots: row k = knot k.
        params = tuple(p.at[: NUM_BINS + 1].set(p[0]) for p in params)
        x = 1.5 * TAIL_BOUND * jax.random.uniform(jax.random.key(1), (64, 3), jnp.float64, -1, 1)
        x_knots, _, _ = _reference_knots([p[:1] for p in params])
        x = x.at[: NUM_BINS + 1].set(jnp.asarray(x_knots[0].T))
    return x, params


def test_inverse_recovers_x_at_knots_inside_and_in_the_tails(float64_case):
    x, params = float64_case
    with jax.enable_x64(True):
        y, log_det = _spline(x, params)
        x_back, inverse_log_det = _spline(y, params, inverse=True)
    assert y.dtype == jnp.float64 and log_det.shape == x.shape
    np.testing.assert_allclose(x_back, x, atol=1e-10)
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-9)
    outside = np.abs(np.asarray(x)) > TAIL_BOUND
    assert outside.sum() > 20 and (~outside).sum() > 80
    np.testing.assert_array_equal(np.asarray(y)[outside], np.asarray(x)[outside])
    np.testing.assert_array_equal(np.asarray(log_det)[outside], 0.0)


def test_log_det_is_the_log_of_the_autodiff_derivative_both_ways(float64_case):
    x, params = float64_case
    with jax.enable_x64(True):

        def scalar_map(inverse):
            def one(value, w, h, d):
                return _spline(value[None], (w[None], h[None], d[None]), inverse=inverse)[0][0]

            return jax.vmap(jax.grad(one))

        flat = [p.reshape(-1, p.shape[-1]) for p in params]
        y, log_det = _spline(x, params)
        derivative = scalar_map(False)(x.reshape(-1), *flat)
        inverse_derivative = scalar_map(True)(y.reshape(-1), *flat)
    np.testing.assert_allclose(np.log(derivative), np.asarray(log_det).reshape(-1), atol=1e-9)
    np.testing.assert_allclose(np.log(inverse_derivative), -np.asarray(log_det).reshape(-1), atol=1e-9)


def test_knots_interpolate_their_heights_and_derivatives():
    with jax.enable_x64(True):
        params = _params(2, (4,), scale=2.0, dtype=jnp.float64)
        x_knots, y_knots, derivatives = _reference_knots(params)
        # Evaluate spline d at each of its K + 1 knots: inputs `[K + 1, 4]`, parameters broadcast.
        points = jnp.asarray(x_knots.T)
        tiled = [jnp.broadcast_to(p, (NUM_BINS + 1, *p.shape)) for p in params]
        y, log_det = _spline(points, tiled)
    np.testing.assert_allclose(y, y_knots.T, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_det), derivatives.T, rtol=1e-9)
    # The end knots' derivative 1 matches the identity tails: C1 at -B and B.
    np.testing.assert_allclose(np.exp(log_det)[[0, -1]], 1.0, rtol=1e-12)


def test_zero_parameters_are_exactly_the_identity():
    x = jnp.linspace(-10.0, 10.0, 101).reshape(101, 1)
    zeros = (jnp.zeros((101, 1, NUM_BINS)), jnp.zeros((101, 1, NUM_BINS)), jnp.zeros((101, 1, NUM_BINS - 1)))
    for inverse in (False, True):
        y, log_det = _spline(x, zeros, inverse=inverse)
        np.testing.assert_allclose(y, x, atol=2e-6)
        np.testing.assert_allclose(log_det, 0.0, atol=2e-6)


def test_monotone_and_a_pushforward_of_a_normal_integrates_to_one():
    # q(x) = N(f(x)) f'(x) for a spline f: midpoint rule over a box that holds all the mass.
    params = [p[:1] for p in _params(4, (1, 1), scale=1.5)]
    half_width, resolution = 9.0, 20_000
    cell = 2 * half_width / resolution
    x = (-half_width + cell * (jnp.arange(resolution) + 0.5)).reshape(-1, 1)
    tiled = [jnp.broadcast_to(p, (resolution, 1, p.shape[-1])) for p in params]
    z, log_det = _spline(x, tiled)
    assert (np.diff(np.asarray(z[:, 0])) > 0).all()
    log_q = -0.5 * z[:, 0] ** 2 - 0.5 * math.log(2 * math.pi) + log_det[:, 0]
    assert abs(float(jnp.sum(jnp.exp(log_q)) * cell) - 1.0) < 1e-4


def test_float32_extremes_give_finite_values_and_gradients():
    peaked = _params(5, (6, 1), scale=30.0)  # bins near the minimum size, derivatives near the floor
    knots, _, _ = _reference_knots([p[:1] for p in peaked])
    x = jnp.asarray(
        [[-TAIL_BOUND], [TAIL_BOUND], [float(knots[0, 0, 2])], [1e30], [-1e30], [np.nextafter(3.0, 4.0)]],
        jnp.float32,
    )

    @jax.jit
    def values_and_grads(x, params):
        def total(x, params, inverse):
            y, log_det = bijections.rational_quadratic_spline(
                x, *params, inverse=inverse, tail_bound=TAIL_BOUND
            )
            return jnp.sum(y) + jnp.sum(log_det), (y, log_det)

        return [
            jax.grad(total, argnums=(0, 1), has_aux=True)(x, params, inverse) for inverse in (False, True)
        ]

    for grads, (y, log_det) in values_and_grads(x, peaked):
        assert bool(jnp.all(jnp.isfinite(y)) & jnp.all(jnp.isfinite(log_det))), (y, log_det)
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
        np.testing.assert_array_equal(y[3:5], x[3:5])  # huge |x|: the identity tail, exactly
    # At the knots the peaked spline (row 0's) still inverts to float32 accuracy.
    row_zero = [jnp.broadcast_to(p[:1], (3, *p.shape[1:])) for p in peaked]
    y, _ = _spline(x[:3], row_zero)
    x_back, _ = _spline(y, row_zero, inverse=True)
    np.testing.assert_allclose(x_back, x[:3], atol=1e-4)


def test_bad_options_and_shapes_are_refused():
    x = jnp.zeros((2, 3))
    params = _params(6, (2, 3))
    with pytest.raises(ValueError, match="tail_bound"):
        bijections.rational_quadratic_spline(x, *params, tail_bound=0.0)
    with pytest.raises(ValueError, match="min_bin_width"):
        bijections.rational_quadratic_spline(x, *params, min_bin_width=0.5)
    with pytest.raises(ValueError, match="min_derivative"):
        bijections.rational_quadratic_spline(x, *params, min_derivative=1.0)
    with pytest.raises(AssertionError, match="interior knots"):
        bijections.rational_quadratic_spline(x, params[0], params[1], params[0])


@pytest.mark.slow
@pytest.mark.torch
def test_agrees_with_nflows_unconstrained_spline():
    torch = pytest.importorskip("torch")
    splines = pytest.importorskip("nflows.transforms.splines.rational_quadratic")
    params = _params(7, (50, 3), scale=1.5)
    x = 1.3 * TAIL_BOUND * jax.random.uniform(jax.random.key(8), (50, 3), jnp.float32, -1, 1)
    # nflows' interior derivative is min_derivative + softplus(u): our u is shifted by the constant
    # that makes u = 0 the identity.
    offset = math.log(math.expm1(1 - MIN_DERIVATIVE))
    reference = [torch.from_numpy(np.asarray(p, np.float64)) for p in params]
    reference[2] = reference[2] + offset
    for inverse in (False, True):
        y, log_det = _spline(x, params, inverse=inverse)
        expected_y, expected_log_det = splines.unconstrained_rational_quadratic_spline(
            torch.from_numpy(np.asarray(x, np.float64)),
            *reference,
            inverse=inverse,
            tails="linear",
            tail_bound=TAIL_BOUND,
        )
        np.testing.assert_allclose(y, expected_y.numpy(), atol=1e-4)
        np.testing.assert_allclose(log_det, expected_log_det.numpy(), atol=1e-3)
