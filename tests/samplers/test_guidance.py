"""Classifier-free guidance: exact at scales 0 and 1, and (1 + w) eps(x, y) - w eps(x, null) at every step.

The predictors are hand-written closed forms of (x, t, y), elementwise in the rows, so a row's
value does not depend on the batch it is computed in: the guided chain (one call on [x; x] with
[y; null] per step) can be compared bit for bit with the plain chains.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import diffusion, samplers

N, D, T, K = 6, 3, 8, 4  # chains, dimensions, timesteps, classes (null label = K)
LABELS = jnp.arange(N, dtype=jnp.int32) % K
NULL = jnp.full((N,), K, jnp.int32)


def eps_fn(x: jax.Array, t: jax.Array, y: jax.Array) -> jax.Array:
    """A closed form of x, t and y `[N, D]`: each label pulls towards its own point."""
    target = jnp.stack([jnp.sin(y + 1.0), jnp.cos(2.0 * y), 0.1 * y], axis=-1)
    return 0.4 * x * (1.0 + t[:, None] / T) - 0.3 * jnp.where((y < K)[:, None], target, 0.0)


def eps_numpy(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The same function in float64 NumPy: the reference each recorded step is checked against."""
    target = np.stack([np.sin(y + 1.0), np.cos(2.0 * y), 0.1 * y], axis=-1)
    return 0.4 * x * (1.0 + t[:, None] / T) - 0.3 * np.where((y < K)[:, None], target, 0.0)


def score_fn(x: jax.Array, sigma: jax.Array, y: jax.Array) -> jax.Array:
    """A score of (x, sigma, y): -eps / sigma of the predictor above, t read as sigma."""
    return -eps_fn(x, sigma, y) / sigma[:, None]


def schedule() -> diffusion.DiffusionSchedule:
    return diffusion.make_schedule(diffusion.linear_betas(T, beta_end=0.3, rescale=False))


def x_T() -> jax.Array:
    return jax.random.normal(jax.random.key(0), (N, D))


def fixed(y: jax.Array):
    return lambda x, t: eps_fn(x, t, y)


CHAINS = {
    "ddpm": lambda eps: samplers.ddpm_sample(jax.random.key(1), eps, x_T(), schedule(), variance="posterior"),
    "ddim": lambda eps: samplers.ddim_sample(jax.random.key(2), eps, x_T(), schedule(), num_steps=5, eta=0.5),
    "langevin": lambda score: samplers.annealed_langevin(
        jax.random.key(3),
        score,
        x_T(),
        jnp.array([2.0, 1.0, 0.5]),
        step_size=0.01,
        steps_per_sigma=3,
        final_denoise=True,
    ),
}
FUNCTIONS = {"ddpm": eps_fn, "ddim": eps_fn, "langevin": score_fn}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_scale_zero_is_the_unconditional_chain_and_one_the_conditional_chain_exactly(chain):
    run, fn = CHAINS[chain], FUNCTIONS[chain]
    # The scale is traced (one compilation for both), so no shortcut on a Python 0 or 1 can be
    # what makes the chains equal: the combine itself is exact.
    guided = jax.jit(lambda s: run(samplers.classifier_free_guidance(fn, LABELS, NULL, guidance_scale=s)))
    plain = jax.jit(lambda y: run(lambda x, t: fn(x, t, y)))
    unconditional, conditional = plain(NULL), plain(LABELS)
    np.testing.assert_array_equal(guided(0.0), unconditional)
    np.testing.assert_array_equal(guided(1.0), conditional)
    assert not np.allclose(unconditional, conditional, atol=1e-3)  # the label matters


def test_guidance_combine_is_exact_at_zero_and_one_and_ho_salimans_in_between():
    cond, uncond = jax.random.normal(jax.random.key(4), (2, N, D)) * 1e3
    np.testing.assert_array_equal(samplers.guidance_combine(cond, uncond, 0.0), uncond)
    np.testing.assert_array_equal(samplers.guidance_combine(cond, uncond, 1.0), cond)
    w = 2.0
    np.testing.assert_allclose(
        samplers.guidance_combine(cond, uncond, 1.0 + w), (1 + w) * cond - w * uncond, rtol=1e-6
    )


@pytest.mark.parametrize("chain", ["ddpm", "ddim"])
def test_guided_eps_is_one_plus_w_conditional_minus_w_unconditional_at_every_step(chain):
    """w = 2 (scale 3): every (x_t, t) the scanned chain visits is recorded with the network's
    inputs and the guided output, then checked against the float64 formula at that very point."""
    w = 2.0
    calls, outputs = [], []

    def recorded_eps(x, t, y):
        jax.debug.callback(lambda *a: calls.append([np.asarray(v) for v in a]), x, t, y, ordered=True)
        return eps_fn(x, t, y)

    guided = samplers.classifier_free_guidance(recorded_eps, LABELS, NULL, guidance_scale=1.0 + w)

    def recorded_guided(x, t):
        out = guided(x, t)
        jax.debug.callback(lambda *a: outputs.append([np.asarray(v) for v in a]), x, t, out, ordered=True)
        return out

    final = CHAINS[chain](recorded_guided)
    jax.effects_barrier()
    steps = T if chain == "ddpm" else 5
    assert len(calls) == len(outputs) == steps  # one network call per step, on 2N rows
    expected_t = np.arange(T - 1, -1, -1) if chain == "ddpm" else samplers.ddim_timesteps(T, 5)
    for step, ((x2, t2, y2), (x, t, out)) in enumerate(zip(calls, outputs, strict=True)):
        np.testing.assert_array_equal(x2, np.concatenate([x, x]))
        np.testing.assert_array_equal(t2, np.concatenate([t, t]))
        np.testing.assert_array_equal(y2, np.concatenate([LABELS, NULL]))
        assert np.all(t == expected_t[step])
        x64, t64 = x.astype(np.float64), t.astype(np.float64)
        formula = (1 + w) * eps_numpy(x64, t64, np.asarray(LABELS)) - w * eps_numpy(
            x64, t64, np.asarray(NULL)
        )
        np.testing.assert_allclose(out, formula, rtol=1e-5, atol=1e-5)
    # The chain visits x_T first and then the states the recorded guided eps led to.
    np.testing.assert_array_equal(outputs[0][0], x_T())
    assert np.all(np.isfinite(final))


def test_shapes_are_checked_with_one_line_messages():
    with pytest.raises(AssertionError, match="same shape"):
        samplers.classifier_free_guidance(eps_fn, LABELS, NULL[:2], guidance_scale=2.0)
    guided = samplers.classifier_free_guidance(eps_fn, LABELS, NULL, guidance_scale=2.0)
    with pytest.raises(AssertionError, match="one row per cond row"):
        guided(jnp.zeros((N + 1, D)), jnp.zeros((N + 1,)))
    with pytest.raises(AssertionError, match="guidance_scale must be a scalar"):
        samplers.guidance_combine(jnp.zeros((N, D)), jnp.zeros((N, D)), jnp.ones(2))
