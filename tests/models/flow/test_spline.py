"""Spline coupling and MADE layers: identity at init, exact inverse and log-det, context, normalisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import flow as flow_configs
from genjax import models
from genjax.errors import ConfigError
from genjax.models.flow.bijector import Chain, Reverse
from genjax.models.flow.spline import SplineAutoregressive, SplineCoupling
from genjax.models.networks.made import random_ordering
from genjax.spec import DataSpec
from tests.models.flow.bijector_checks import Jitted, check_bijector, jitter

DIM = 4


def coupling_stack() -> Chain:
    return Chain((SplineCoupling((8,), num_bins=4, parity=0), SplineCoupling((8,), num_bins=4, parity=1)))


def autoregressive_stack() -> Chain:
    # A random ordering, then the reverse of the next layer's: every dimension is transformed given others.
    first = SplineAutoregressive((8, 8), num_bins=4, ordering=random_ordering(DIM, seed=3))
    return Chain((first, Reverse(), SplineAutoregressive((8,), num_bins=4)))


@pytest.fixture(scope="module")
def inputs():
    # Wide enough that some coordinates fall in the identity tails (|x| > 3).
    return 2.0 * jax.random.normal(jax.random.key(0), (5, DIM))


@pytest.mark.parametrize("build", [coupling_stack, autoregressive_stack])
def test_fresh_layers_are_the_identity_and_perturbed_ones_pass_the_bijector_checks(build, inputs):
    layer = Jitted(build())
    params = layer.init(jax.random.key(1), inputs)
    # The autoregressive stack has a Reverse in the middle: fresh, it is exactly that permutation.
    expected = inputs if build is coupling_stack else inputs[:, ::-1]
    for method in ("forward", "inverse"):
        y, log_det = layer.apply(params, inputs, method=method)
        np.testing.assert_allclose(y, expected, atol=1e-5)
        np.testing.assert_allclose(log_det, 0.0, atol=1e-5)
    # A small jitter: slopes of e^-10 somewhere (as a 0.3 jitter gives) amplify float32 rounding
    # of z to ~1e-3 in x; float64 inverts those exactly (tests/test_splines.py covers the maths).
    check_bijector(layer, jitter(params, scale=0.1, seed=2), inputs, atol=2e-4)


@pytest.mark.slow  # the fast tier checks context through test_conditional.py's BIJECTORS
@pytest.mark.parametrize("kind", [SplineCoupling, SplineAutoregressive])
def test_context_conditions_the_map_and_the_inverse_uses_it(kind, inputs):
    layer = kind((8,), num_bins=4)
    context = jnp.eye(3)[jnp.arange(5) % 3]
    apply = jax.jit(lambda p, x, c, method: layer.apply(p, x, c, method=method), static_argnames="method")
    init = jax.jit(lambda rng, x, c: layer.init(rng, x, c, method="forward"))
    params = jitter(init(jax.random.key(4), inputs, context), scale=0.2, seed=5)
    z, log_det = apply(params, inputs, context, "forward")
    x_back, inverse_log_det = apply(params, z, context, "inverse")
    np.testing.assert_allclose(x_back, inputs, atol=1e-4)
    np.testing.assert_allclose(inverse_log_det, -log_det, atol=1e-4)
    other, _ = apply(params, inputs, context[::-1], "forward")
    assert float(jnp.max(jnp.abs(other - z))) > 1e-3


def test_spline_layers_refuse_images():
    image = jnp.zeros((2, 4, 4, 1))
    for layer in (SplineCoupling((8,)), SplineAutoregressive((8,))):
        with pytest.raises(ValueError, match=r"vectors \[B, D\]"):
            layer.init(jax.random.key(0), image, method="forward")


@pytest.mark.slow
@pytest.mark.parametrize("build", [coupling_stack, autoregressive_stack])
def test_a_perturbed_2d_spline_flow_density_integrates_to_one(build):
    # D = 2 stacks (the builders only depend on DIM through the ordering, fixed here to 2-D).
    layer = Chain((SplineCoupling((8,), parity=0), SplineCoupling((8,), parity=1)))
    if build is autoregressive_stack:
        layer = Chain((SplineAutoregressive((8,)), Reverse(), SplineAutoregressive((8,))))
    # A 0.2 jitter gives slopes up to e^8, narrow peaks a 400-point grid still resolves.
    params = jitter(layer.init(jax.random.key(0), jnp.zeros((2, 2)), method="forward"), scale=0.2, seed=1)
    half_width, points = 7.0, 400
    step = 2 * half_width / points
    centres = -half_width + step * (jnp.arange(points) + 0.5)
    grid = jnp.stack(jnp.meshgrid(centres, centres, indexing="ij"), axis=-1).reshape(-1, 2)
    z, log_det = jax.jit(lambda x: layer.apply(params, x, method="forward"))(grid)
    log_q = jnp.sum(-0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi), axis=-1) + log_det
    assert abs(float(jnp.sum(jnp.exp(log_q)) * step**2) - 1.0) < 1e-3


@pytest.mark.parametrize("field, value", [("num_bins", 1), ("tail_bound", 0.0), ("tail_bound", -3.0)])
def test_bad_spline_fields_name_the_field(field, value):
    config = flow_configs.get_config("nsf_autoregressive_8gaussians")
    config.model[field] = value
    with pytest.raises(ConfigError, match=rf"model\.{field}"):
        models.build(config, DataSpec(name="toy2d:8gaussians", element_shape=(2,), num_levels=None))
