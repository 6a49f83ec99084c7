"""Multi-scale flows: RealNVP's and Glow's architectures, shapes, and what holds exactly at init."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from genjax.models.flow.multiscale import (
    glow_multiscale,
    max_num_levels_glow,
    max_num_scales_realnvp,
    multiscale_shapes,
    realnvp_multiscale,
)
from tests.models.flow.bijector_checks import Jitted, check_bijector, perturbed_params


def batch(shape, size: int = 4, seed: int = 0) -> jax.Array:
    return 1.5 * jax.random.normal(jax.random.key(seed), (size, *shape)) + 0.5


def reference_squeeze(x: np.ndarray) -> np.ndarray:
    """[B, H, W, C] -> [B, H/2, W/2, 4C], written as loops: channel (2*di + dj) * C + c."""
    b, h, w, c = x.shape
    out = np.zeros((b, h // 2, w // 2, 4 * c), x.dtype)
    for i in range(h // 2):
        for j in range(w // 2):
            for di in range(2):
                for dj in range(2):
                    start = (2 * di + dj) * c
                    out[:, i, j, start : start + c] = x[:, 2 * i + di, 2 * j + dj, :]
    return out


# Shared by the tests below so each model compiles once (compilation dominates the runtime).
SHAPE = (4, 4, 2)
REALNVP = Jitted(realnvp_multiscale(SHAPE, num_scales=2, hidden_channels=(8,)))
GLOW = Jitted(glow_multiscale(SHAPE, num_levels=2, steps_per_level=1, hidden_channels=(8,)))


@pytest.mark.slow
@pytest.mark.parametrize("model", [REALNVP, GLOW], ids=["realnvp", "glow"])
def test_is_a_bijector(model):
    # Small jitter: the full models stack many affine layers, so larger random scales make
    # float32 round trips lose more than check_bijector's tolerance.
    x = batch(SHAPE)
    check_bijector(model, perturbed_params(model, x, scale=0.1), x)


@pytest.mark.parametrize(
    ("element_shape", "squeezes", "factored", "final"),
    [
        ((8, 8, 1), (1, 0), [(4, 4, 2)], (4, 4, 2)),  # realnvp, 2 scales
        ((28, 28, 1), (1, 1, 0), [(14, 14, 2), (7, 7, 4)], (7, 7, 4)),  # realnvp, 3 scales
        ((8, 8, 1), (1, 1), [(4, 4, 2)], (2, 2, 8)),  # glow, 2 levels
        ((32, 32, 3), (1, 1, 1), [(16, 16, 6), (8, 8, 12)], (4, 4, 48)),  # glow, 3 levels
    ],
)
def test_multiscale_shapes(element_shape, squeezes, factored, final):
    assert multiscale_shapes(element_shape, squeezes) == (factored, final)
    total = sum(int(np.prod(s)) for s in factored) + int(np.prod(final))
    assert total == int(np.prod(element_shape))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("element_shape", "build"),
    [
        ((8, 8, 1), functools.partial(realnvp_multiscale, num_scales=2)),
        ((28, 28, 1), functools.partial(realnvp_multiscale, num_scales=3)),
        ((8, 8, 1), functools.partial(glow_multiscale, num_levels=2, steps_per_level=1)),
        ((28, 28, 1), functools.partial(glow_multiscale, num_levels=2, steps_per_level=1)),
        ((32, 32, 3), functools.partial(glow_multiscale, num_levels=3, steps_per_level=1)),
    ],
    ids=["realnvp-8x8", "realnvp-mnist", "glow-8x8", "glow-mnist", "glow-cifar"],
)
def test_output_is_flat_and_inverse_takes_it_back(element_shape, build):
    # Shapes only (jax.eval_shape): no compilation, so the big images are cheap.
    model = build(element_shape, hidden_channels=(4,))
    x = jax.ShapeDtypeStruct((3, *element_shape), np.float32)
    params = jax.eval_shape(functools.partial(model.init, method="forward"), jax.random.key(0), x)
    z, log_det = jax.eval_shape(functools.partial(model.apply, method="forward"), params, x)
    assert z.shape == (3, int(np.prod(element_shape))) and log_det.shape == (3,)
    x_back, _ = jax.eval_shape(functools.partial(model.apply, method="inverse"), params, z)
    assert x_back.shape == x.shape


def test_max_scales_and_levels():
    assert [max_num_scales_realnvp(s) for s in [(8, 8, 1), (28, 28, 1), (32, 32, 3)]] == [4, 3, 6]
    assert [max_num_levels_glow(s) for s in [(8, 8, 1), (28, 28, 1), (32, 32, 3)]] == [3, 2, 5]
    assert max_num_levels_glow((7, 8, 1)) == 0 and max_num_scales_realnvp((7, 8, 1)) == 1


def test_unsqueezable_shapes_raise_a_clear_error():
    with pytest.raises(ValueError, match=r"num_scales: got 4 .*\(28, 28, 1\).* between 1 and 3"):
        realnvp_multiscale((28, 28, 1), num_scales=4, hidden_channels=(8,))
    with pytest.raises(ValueError, match=r"num_levels: got 3 .*\(28, 28, 1\).* between 1 and 2"):
        glow_multiscale((28, 28, 1), num_levels=3, steps_per_level=1, hidden_channels=(8,))
    with pytest.raises(ValueError, match=r"num_levels: got 1 .*H or W is odd"):
        glow_multiscale((7, 7, 1), num_levels=1, steps_per_level=1, hidden_channels=(8,))
    with pytest.raises(ValueError, match="must be even"):
        multiscale_shapes((6, 6, 1), (1, 1))


@pytest.mark.slow
def test_fresh_realnvp_is_exactly_the_squeeze_and_factor_permutation():
    # Zero-initialised conditioners and tanh scales make every coupling the identity, so a
    # fresh RealNVP only squeezes and factors out: z is a known permutation of x, log_det 0.
    # This pins down the layout of z: which half is factored out and the concatenation order.
    x = np.asarray(batch(SHAPE))
    params = REALNVP.init(jax.random.key(0), x)
    z, log_det = REALNVP.apply(params, x)
    squeezed = reference_squeeze(x)
    keep = squeezed.shape[-1] // 2
    expected = np.concatenate(
        [squeezed[..., keep:].reshape(4, -1), squeezed[..., :keep].reshape(4, -1)], axis=1
    )
    np.testing.assert_array_equal(z, expected)
    np.testing.assert_array_equal(log_det, 0.0)
    x_back, _ = REALNVP.apply(params, z, method="inverse")
    np.testing.assert_array_equal(x_back, x)


@pytest.mark.slow
def test_fresh_glow_standardises_the_init_batch():
    # Each step is ActNorm (standardise), rotation (mean stays 0, trace of the covariance
    # stays C), coupling (zero-initialised: with Glow's sigmoid scale it multiplies the
    # changed half by sigmoid(2)). So every latent channel has mean 0 over the init batch,
    # the final part's variances sum to C once the last coupling's scale is undone, and
    # log_det is the same for every example and known from the ActNorm params.
    x = batch(SHAPE, size=32) * np.linspace(0.5, 3.0, 2)
    params = GLOW.init(jax.random.key(0), x)
    z, log_det = GLOW.apply(params, x)
    factored, final = multiscale_shapes(SHAPE, (1, 1))
    assert (factored, final) == ([(2, 2, 4)], (1, 1, 16))
    parts = np.split(np.asarray(z), [16], axis=1)
    for part, channels in zip(parts, [4, 16], strict=True):
        np.testing.assert_allclose(part.reshape(-1, channels).mean(axis=0), 0.0, atol=1e-4)
    log_sigmoid = float(jax.nn.log_sigmoid(2.0))
    var = parts[-1].var(axis=0)
    np.testing.assert_allclose(var[:8].sum() + var[8:].sum() * np.exp(-2 * log_sigmoid), 16, rtol=1e-4)
    expected = 0.0
    for level, (positions, channels) in enumerate([(4, 8), (1, 16)]):  # after one and two squeezes
        log_scale = params["params"][f"levels_{level}"]["layers_1"]["layers_0"][
            "log_scale"
        ]  # step 1's ActNorm
        expected += positions * (float(log_scale.sum()) + (channels // 2) * log_sigmoid)
    np.testing.assert_allclose(log_det, np.full(len(x), expected), rtol=1e-4, atol=1e-4)
