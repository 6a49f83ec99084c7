"""Wrong shapes into the pure modules fail at once, with one line that names the contract.

The checks are chex shape assertions: they read static shapes only, so they run
while JAX traces (once per compilation, never inside the compiled step) and raise
``AssertionError``. Each case below feeds a shape that would otherwise broadcast
into a wrong number, or fail later with a message about an internal array. The
calls run under ``jax.eval_shape``: tracing only, nothing compiles, so the failure
comes from trace time and the cases cost milliseconds.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import bijections, diffusion, distributions, losses, metrics, samplers

B, D = 4, 3
X = jnp.zeros((B, D))
KEY = jax.random.key(0)
SCHEDULE = diffusion.make_schedule(diffusion.linear_betas(4, beta_end=0.2, rescale=False))
ENCODE = lambda x: (x[:, :2], x[:, :2])  # [B, L=2] each
DECODE = lambda z, x: jnp.sum(x, axis=1)  # [B]


def _unrolled_with_swapped_update():
    sgd = optax.sgd(0.1)
    return losses.unrolled_generator_loss(
        lambda d: jnp.sum(d["w"] ** 2),
        lambda d: jnp.sum(d["w"]),
        {"w": jnp.ones(2)},
        init_fn=sgd.init,
        update_fn=lambda g, s, p: tuple(reversed(sgd.update(g, s, p))),  # (state, updates)
        num_steps=1,
    )


# id -> (the bad call, a fragment of its message)
CASES = {
    "gan_logits_with_classes": (
        lambda: losses.generator_loss(jnp.zeros((B, 3)), kind="hinge"),
        "fake_logits must have shape [B] or [B, 1]",
    ),
    "gradient_penalty_critic_not_per_example": (
        lambda: losses.gradient_penalty(KEY, lambda x: jnp.sum(x), X, X),
        "critic_fn output must have shape [B] or [B, 1]",
    ),
    "gradient_penalty_fake_of_another_shape": (
        lambda: losses.gradient_penalty(KEY, lambda x: x[:, 0], X, X[:2]),
        "real and fake must have the same shape",
    ),
    "unrolled_update_fn_swapped": (_unrolled_with_swapped_update, "update_fn must return (updates"),
    "elbo_per_pixel_likelihood": (
        lambda: losses.elbo(KEY, ENCODE, lambda z, x: x, X),
        "decode_log_prob(z, x) must return [B]",
    ),
    "elbo_encoder_shapes": (
        lambda: losses.elbo(KEY, lambda x: (x[:, :2], x[:, :1]), DECODE, X),
        "encode(x) must return (mean, log_var), each [B, L]",
    ),
    "score_fn_returns_an_energy": (
        lambda: losses.exact_score_matching(lambda x, s: jnp.sum(x, axis=1), X),
        "score_fn(x, sigma) must return an array shaped like x",
    ),
    "score_sigma_of_another_batch": (
        lambda: losses.exact_score_matching(lambda x, s: -x, X, sigma=jnp.ones(B + 1)),
        "sigma must be a scalar or [B]",
    ),
    "dsm_sigmas_matrix": (
        lambda: losses.denoising_score_matching(KEY, lambda x, s: -x, X, jnp.ones((2, 2))),
        "sigmas must be a scalar or [L]",
    ),
    "cd_energy_column": (
        lambda: losses.contrastive_divergence(lambda x: jnp.sum(x, axis=1, keepdims=True), X, X),
        "energy_fn(x) must return [N]",
    ),
    "cd_model_samples_of_another_event_shape": (
        lambda: losses.contrastive_divergence(lambda x: jnp.sum(x, axis=1), X, X[:, :2]),
        "x_model must be [N', ...] with x_data's event shape",
    ),
    "nce_log_normalizer_vector": (
        lambda: losses.nce_loss(lambda x: x[:, 0], lambda x: x[:, 0], X, X, jnp.zeros(1)),
        "log_normalizer must be a scalar",
    ),
    "flow_log_det_column": (
        lambda: losses.flow_log_prob(X, jnp.zeros((B, 1))),
        "log_det must be [B], one per example of z",
    ),
    "ddpm_eps_fn_shape": (
        lambda: losses.ddpm_loss(KEY, lambda x, t: x[:, :1], X, SCHEDULE),
        "eps_fn(x_t, t) must return an array shaped like x_t",
    ),
    "langevin_grad_is_a_value": (
        lambda: samplers.langevin(KEY, lambda x: jnp.sum(x, axis=1), X, step_size=0.1, num_steps=1),
        "grad_log_prob(x) must return an array shaped like x",
    ),
    "langevin_per_chain_step_size": (
        lambda: samplers.langevin(KEY, lambda x: -x, X, step_size=jnp.ones(B), num_steps=1),
        "step_size must be a scalar",
    ),
    "mala_log_prob_column": (
        lambda: samplers.mala(
            KEY, lambda x: -jnp.sum(x**2, axis=1, keepdims=True), X, step_size=0.1, num_steps=1
        ),
        "log_prob(x) must return [N], one per chain",
    ),
    "annealed_sigmas_matrix": (
        lambda: samplers.annealed_langevin(
            KEY, lambda x, s: -x, X, jnp.ones((2, 2)), step_size=0.1, steps_per_sigma=1
        ),
        "sigmas must have shape [L] with L >= 1",
    ),
    "autoregressive_params_without_param_axis": (
        lambda: samplers.sample_autoregressive(KEY, lambda x: x, samplers.bernoulli_logit_sampler, X),
        "params_fn must return [N, D, P]",
    ),
    "replay_update_of_another_event_shape": (
        lambda: samplers.replay_buffer_update(samplers.replay_buffer_init(X), jnp.arange(2), X[:2, :2]),
        "new_samples must be [batch, ...], one stored state per index",
    ),
    "ddim_eps_fn_shape": (
        lambda: samplers.ddim_sample(KEY, lambda x, t: x[:, :1], X, SCHEDULE, num_steps=2),
        "eps_fn(x_t, t) must return an array shaped like x_t",
    ),
    "mmd_features": (
        lambda: metrics.mmd(X, jnp.zeros((B, D + 1))),
        "x and y must have the same number of features",
    ),
    "mode_coverage_centers": (
        lambda: metrics.mode_coverage(np.zeros((B, D)), np.zeros((2, D + 1)), 0.1),  # numpy: host-side
        "centers must be [K, D], D as the samples",
    ),
    "categorical_logits": (
        lambda: distributions.categorical_log_prob(jnp.zeros((B, D), jnp.int32), jnp.zeros((B, 5))),
        "logits must be [*x.shape, K]",
    ),
    "mixture_blocks": (
        lambda: distributions.gaussian_mixture_log_prob(
            X, jnp.zeros((B, 2)), jnp.zeros((B, 3)), jnp.zeros((B, 3))
        ),
        "must share one shape [..., K]",
    ),
    "q_sample_scalar_t": (
        lambda: diffusion.q_sample(X, jnp.int32(1), X, SCHEDULE),
        "t must be [N], one timestep per example of x0",
    ),
    "logit_transform_scalar": (
        lambda: bijections.logit_transform(jnp.float32(0.5)),
        "y must be a batch [N, ...]",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_shape_raises_one_line_naming_the_contract(case):
    call, fragment = CASES[case]
    with pytest.raises(AssertionError) as error:
        jax.eval_shape(call)
    message = str(error.value)
    assert fragment in message, message
    assert "\n" not in message, message


def test_checks_run_while_tracing():
    """Under jit the same checks fire at trace time, before anything is compiled or run."""
    traced = []

    def score_fn(x, sigma):
        traced.append(x)
        return jnp.sum(x, axis=1)

    with pytest.raises(AssertionError, match="score_fn"):
        jax.jit(lambda x: losses.exact_score_matching(score_fn, x)).lower(X)
    assert isinstance(traced[0], jax.core.Tracer)  # the failure came from tracing, not from a run


GOOD_CALLS = {
    "elbo": lambda: losses.elbo(KEY, ENCODE, lambda z, x: jnp.sum(x, axis=1) + jnp.sum(z, axis=1), X),
    "denoising_score_matching": lambda: losses.denoising_score_matching(KEY, lambda x, s: -x, X, jnp.ones(2)),
    "ddpm_loss": lambda: losses.ddpm_loss(KEY, lambda x, t: 0.5 * x, X, SCHEDULE),
    "mala": lambda: samplers.mala(KEY, lambda x: -jnp.sum(x**2, axis=1), X, step_size=0.1, num_steps=2),
    "ddim_sample": lambda: samplers.ddim_sample(KEY, lambda x, t: 0.5 * x, X, SCHEDULE, num_steps=2),
    "mmd": lambda: metrics.mmd(X, X + 1.0),
}


@pytest.mark.parametrize("name", sorted(GOOD_CALLS))
def test_checks_leave_the_traced_program_unchanged(name):
    """The assertions cost nothing at run time: the jaxpr is the same with chex's asserts off."""
    with_checks = str(jax.make_jaxpr(GOOD_CALLS[name])())
    chex.disable_asserts()
    try:
        without_checks = str(jax.make_jaxpr(GOOD_CALLS[name])())
    finally:
        chex.enable_asserts()
    assert with_checks == without_checks
