"""Every public sampler gives the same draws with and without ``jax.jit`` (``chex.variants``), same rng.

As in tests/losses/test_jit_variants.py: the callables and the options static by
contract (``num_steps``, ``batch_size``, ``context_rows``, ...) are closed over;
everything a user may trace is an argument, so under ``with_jit`` it is a tracer:
keys, chains, ``step_size``, ``noise_scale``, ``grad_clip``, ``sigmas``, ``eta``,
``reinit_prob``, the schedule, a per-sample ``ordering``, a recurrent state. The
loops are ``lax.scan``/``fori_loop`` eagerly too, so what ``with_jit`` adds is the
tracing of those options (a ``float(step_size)`` or an ``if eta`` would fail there).
The reference is the eager call; ``with_jit`` must match it to float tolerance.
"""

from __future__ import annotations

import inspect

import chex
import jax
import jax.numpy as jnp
from absl.testing import parameterized

from genjax import diffusion, samplers

N, D = 3, 2  # chains, dims: compile time dominates, so tiny
RTOL, ATOL = 1e-5, 1e-6
# Host-side helpers of static Python numbers (numpy inside); nothing in them can be traced.
HOST_SIDE = {"ddim_timesteps", "geometric_betas", "geometric_sigmas"}
W = jnp.array([[1.0, 0.3], [-0.2, 0.8]])  # [D, D]


def _key(i: int) -> jax.Array:
    return jax.random.key(i)


def _x(i: int = 0, shape: tuple[int, ...] = (N, D)) -> jax.Array:
    return jax.random.normal(_key(100 + i), shape)


def log_prob(x: jax.Array) -> jax.Array:
    return -0.5 * jnp.sum((x @ W) ** 2, axis=1)


def grad_log_prob(x: jax.Array) -> jax.Array:
    return -(x @ W) @ W.T


def score_fn(x: jax.Array, sigma: jax.Array) -> jax.Array:
    return -x / (1.0 + sigma[:, None] ** 2)


def eps_fn(x: jax.Array, t: jax.Array) -> jax.Array:
    return 0.3 * x * (1.0 + t[:, None].astype(x.dtype) / 4.0)


def logits_fn(x: jax.Array) -> jax.Array:
    """`[N, D] -> [N, D]` autoregressive logits (dimension d sees x_<d only)."""
    return jnp.cumsum(x, axis=1) - x + 0.5


def image_params_fn(window: jax.Array) -> jax.Array:
    """`[N, h, W, C] -> [N, h, W, C, 1]` logits from the pixels above (a toy causal model)."""
    above = jnp.concatenate([jnp.zeros_like(window[:, :1]), window[:, :-1]], axis=1)
    return (above - 0.5)[..., None]


def _schedule() -> diffusion.DiffusionSchedule:
    return diffusion.make_schedule(diffusion.linear_betas(4, beta_end=0.2, rescale=False))


def _incremental():
    def step_fn(state, previous, t):  # an RNN-like running sum: state [N], logits [N, 1]
        state = state + previous
        return state, (state - 0.5 * t.astype(state.dtype))[:, None]

    return (
        lambda rng, state: samplers.sample_autoregressive_incremental(
            rng, step_fn, samplers.bernoulli_logit_sampler, state, jnp.zeros((N, 4))
        ),
        (_key(9), jnp.full((N,), 0.2)),
    )


def _replay_round_trips():
    """Distinct indices (batch 3 <= 4 chains) and draws with replacement (batch 6), each written back."""

    def fn(rng, samples, fresh, reinit_prob):
        buffer = samplers.replay_buffer_init(samples)
        out = {}
        for batch_size in (3, 6):
            x, indices = samplers.replay_buffer_sample(
                rng, buffer, batch_size, fresh[:batch_size], reinit_prob=reinit_prob
            )
            out[batch_size] = (x, indices, samplers.replay_buffer_update(buffer, indices, x + 1.0).samples)
        return out

    return fn, (_key(7), _x(0, (4, D)), _x(1, (6, D)), 0.5)


# case id -> (the public functions it covers, builder of (fn, args)).
def _tempered_smc_then_resample(rng, x0, betas, eps):
    """Traced betas and step size; the weights then feed the resampler and the ESS."""
    flat_prior = lambda x: jnp.zeros(x.shape[0])  # noqa: E731
    result = samplers.tempered_smc(rng, log_prob, flat_prior, x0, betas, step_size=eps, steps_per_beta=2)
    ancestors = samplers.systematic_resample(rng, result.log_weights, 5)
    return result, ancestors, samplers.effective_sample_size(result.log_weights)


CASES = {
    "tempered_smc_then_resample": (
        {"tempered_smc", "systematic_resample", "effective_sample_size"},
        lambda: (_tempered_smc_then_resample, (_key(9), _x(), jnp.array([0.3, 1.0]), 0.2)),
    ),
    "langevin_every_option": (
        {"langevin"},
        lambda: (
            lambda rng, x0, eps, noise, clip: samplers.langevin(
                rng, grad_log_prob, x0, step_size=eps, num_steps=3, noise_scale=noise, grad_clip=clip
            ),
            (_key(0), _x(), 0.1, 0.05, 0.5),
        ),
    ),
    "mala_with_acceptance": (
        {"mala"},
        lambda: (
            lambda rng, x0, eps: samplers.mala(
                rng, log_prob, x0, step_size=eps, num_steps=3, return_acceptance=True
            ),
            (_key(1), _x(), 0.2),
        ),
    ),
    "annealed_langevin_denoised": (
        {"annealed_langevin"},
        lambda: (
            lambda rng, x0, sigmas, eps, noise: samplers.annealed_langevin(
                rng,
                score_fn,
                x0,
                sigmas,
                step_size=eps,
                steps_per_sigma=2,
                final_denoise=True,
                noise_scale=noise,
            ),
            (_key(2), _x(), jnp.array([1.0, 0.5, 0.1]), 0.01, 0.1),
        ),
    ),
    "ddpm_sample_posterior": (
        {"ddpm_sample"},
        lambda: (
            lambda rng, x_T, s: samplers.ddpm_sample(rng, eps_fn, x_T, s, variance="posterior"),
            (_key(3), _x(), _schedule()),
        ),
    ),
    "ddim_sample_stochastic": (
        {"ddim_sample"},
        lambda: (
            lambda rng, x_T, s, eta: samplers.ddim_sample(rng, eps_fn, x_T, s, num_steps=3, eta=eta),
            (_key(4), _x(), _schedule(), 0.5),
        ),
    ),
    "ddim_sample_guided": (
        {"classifier_free_guidance", "guidance_combine"},
        lambda: (
            lambda rng, x_T, s, scale: samplers.ddim_sample(
                rng,
                samplers.classifier_free_guidance(
                    lambda x, t, y: eps_fn(x, t) + 0.1 * y[:, None],
                    jnp.arange(N) % 2,
                    jnp.full(N, 2),
                    guidance_scale=scale,
                ),
                x_T,
                s,
                num_steps=3,
                eta=0.5,
            ),
            (_key(9), _x(), _schedule(), 2.5),
        ),
    ),
    "replay_buffer_round_trips": (
        {"replay_buffer_init", "replay_buffer_sample", "replay_buffer_update"},
        _replay_round_trips,
    ),
    "sample_autoregressive_per_sample_ordering": (
        {"sample_autoregressive", "bernoulli_logit_sampler"},
        lambda: (
            lambda rng, initial, ordering: samplers.sample_autoregressive(
                rng,
                lambda x: logits_fn(x)[..., None],
                samplers.bernoulli_logit_sampler,
                initial,
                ordering=ordering,
            ),
            (_key(5), jnp.zeros((N, D)), jnp.array([[0, 1], [1, 0], [0, 1]])),
        ),
    ),
    "sample_binary_autoregressive": (
        {"sample_binary_autoregressive"},
        lambda: (lambda rng: samplers.sample_binary_autoregressive(rng, logits_fn, N, D), (_key(6),)),
    ),
    "sample_image_autoregressive_window": (
        {"sample_image_autoregressive"},
        lambda: (
            lambda rng, initial: samplers.sample_image_autoregressive(
                rng, image_params_fn, samplers.bernoulli_logit_sampler, initial, context_rows=1
            ),
            (_key(8), jnp.zeros((N, 3, 2, 1))),
        ),
    ),
    "sample_autoregressive_incremental": ({"sample_autoregressive_incremental"}, _incremental),
}


class SamplerJitVariants(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(case, case) for case in CASES])
    def test_matches_eager(self, case):
        fn, args = CASES[case][1]()
        expected = fn(*args)
        chex.assert_tree_all_finite(expected)
        chex.assert_trees_all_close(self.variant(fn)(*args), expected, rtol=RTOL, atol=ATOL)


def test_every_public_sampler_has_a_variants_case():
    public = {
        name
        for name in samplers.__all__
        if inspect.isfunction(getattr(samplers, name)) and not name.startswith("_")
    }
    covered = set().union(*(functions for functions, _ in CASES.values()))
    assert public - HOST_SIDE == covered, (public - HOST_SIDE) ^ covered
