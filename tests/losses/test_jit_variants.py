"""Every public loss gives the same result with and without ``jax.jit`` (``chex.variants``), same rng.

Tracer bugs only show under ``jit``: Python control flow on a value that is concrete
eagerly (``if sigma ...``), an option read as a Python number, a shape computed from
an array. Each case closes over the callables and the options that are static by
contract (``num_samples``, ``kind``, ``timesteps``, ...) and passes everything a
user may trace (keys, data, ``beta``, ``sigma``, ``log_normalizer``, the schedule)
as an argument, so under ``with_jit`` those are tracers. The reference is the eager
call; ``with_jit`` must match it to float tolerance (XLA may fuse differently), and
``without_jit`` runs the eager path through chex's own wrapper.

``chex.variants`` needs a ``chex.TestCase`` (absltest), which pytest collects like
any ``unittest.TestCase``: one test per case and variant, e.g.
``LossJitVariants::test_matches_eager_elbo_with_jit``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import optax
from absl.testing import parameterized

from genjax import diffusion, distributions, losses

B, D, L = 3, 2, 2  # batch, data dims, latent dims: compile time dominates, so tiny
RTOL, ATOL = 1e-5, 1e-6
Case = Callable[[], tuple[Callable, tuple]]


def _key(i: int) -> jax.Array:
    return jax.random.key(i)


def _data(i: int = 0, shape: tuple[int, ...] = (B, D)) -> jax.Array:
    return jax.random.normal(_key(100 + i), shape)


W = jnp.array([[1.0, 0.3], [-0.2, 0.8]])  # [D, D], also [D, L]


def score_fn(x: jax.Array, sigma: jax.Array | None) -> jax.Array:
    """A linear score `[B, D]`; the ``sigma is None`` branch is static, as in the networks."""
    score = -x @ W
    return score if sigma is None else score / (1.0 + sigma[:, None] ** 2)


def encode(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return x @ W, jnp.tanh(x @ W.T)


def decode_log_prob(z: jax.Array, x: jax.Array) -> jax.Array:
    return distributions.bernoulli_log_prob((x > 0).astype(x.dtype), z @ W)


def critic_fn(x: jax.Array) -> jax.Array:
    return jnp.tanh(x @ W[:, 0]) + 0.1 * jnp.sum(x**2, axis=1)


def energy_fn(x: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum(x**2, axis=1) + x @ W[0]


def eps_fn(x: jax.Array, t: jax.Array) -> jax.Array:
    return 0.3 * x * (1.0 + t[:, None].astype(x.dtype) / 4.0)


def _schedule() -> diffusion.DiffusionSchedule:
    return diffusion.make_schedule(diffusion.linear_betas(5, beta_end=0.2, rescale=False))


def _levels(num_levels: int = 4) -> jax.Array:
    """`[B, D]` on the grid of ``num_levels`` values in [-1, 1]."""
    k = jax.random.randint(_key(7), (B, D), 0, num_levels)
    return (2.0 * k / (num_levels - 1) - 1.0).astype(jnp.float32)


def _unrolled() -> tuple[Callable, tuple]:
    optimizer = optax.sgd(0.1)
    real = _data(1)

    def fn(fake: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
        def cost(fake: jax.Array) -> jax.Array:
            critic = lambda d, x: jnp.tanh(x @ d["w"])  # noqa: E731
            generator_cost = lambda d: losses.generator_loss(critic(d, fake), kind="non_saturating")  # noqa: E731
            discriminator_cost = lambda d: losses.discriminator_loss(  # noqa: E731
                critic(d, real), critic(d, fake), kind="minimax"
            )
            return losses.unrolled_generator_loss(
                generator_cost,
                discriminator_cost,
                {"w": w},
                init_fn=optimizer.init,
                update_fn=optimizer.update,
                num_steps=2,
            )

        # The value and the generator's gradient through the two unrolled steps.
        return jax.value_and_grad(cost)(fake)

    return fn, (_data(2), W[:, 0])


# case id -> (the public function it covers, builder of (fn, args)).


def _hierarchy(x: jax.Array):
    """A two-layer chain q(z1 | x) q(z2 | z1) and its generative terms, closing over ``x``."""
    layers = (lambda _: (x @ W, jnp.tanh(x) * 0.1), lambda z1: (0.5 * z1, -jnp.ones_like(z1)))

    def generative_log_probs(zs, x):
        z1, z2 = zs
        prior_z1 = distributions.normal_log_prob(z1, 0.5 * z2, jnp.zeros_like(z1))
        return decode_log_prob(z1, x), (prior_z1, distributions.standard_normal_log_prob(z2))

    return layers, generative_log_probs


def _hierarchical_case(bound: Callable, **options) -> tuple[Callable, tuple]:
    return (
        lambda rng, x: bound(rng, *_hierarchy(x), x, **options),
        (_key(12), _data(0)),
    )


CASES: dict[str, tuple[str, Case]] = {
    "elbo": (
        "elbo",
        lambda: (
            lambda rng, x, beta: losses.elbo(rng, encode, decode_log_prob, x, beta=beta),
            (_key(0), _data(), 0.5),
        ),
    ),
    "elbo_three_samples": (
        "elbo",
        lambda: (
            lambda rng, x: losses.elbo(rng, encode, decode_log_prob, x, num_samples=3),
            (_key(0), _data()),
        ),
    ),
    "iwae_bound_chunked": (
        "iwae_bound",
        lambda: (
            lambda rng, x: losses.iwae_bound(rng, encode, decode_log_prob, x, num_samples=4, chunk_size=2),
            (_key(1), _data()),
        ),
    ),
    "gaussian_kl": ("gaussian_kl", lambda: (losses.gaussian_kl, (_data(0), _data(1)))),
    "reparameterize": (
        "reparameterize",
        lambda: (
            lambda rng, m, v: losses.reparameterize(rng, m, v, num_samples=2),
            (_key(2), _data(0), _data(1)),
        ),
    ),
    "exact_score_matching": (
        "exact_score_matching",
        lambda: (lambda x, s: losses.exact_score_matching(score_fn, x, sigma=s), (_data(), 0.7)),
    ),
    "sliced_score_matching_rademacher_vr": (
        "sliced_score_matching",
        lambda: (
            lambda rng, x: losses.sliced_score_matching(
                rng, score_fn, x, num_projections=2, variance_reduced=True, projection="rademacher"
            ),
            (_key(3), _data()),
        ),
    ),
    "sliced_score_matching_gaussian": (
        "sliced_score_matching",
        lambda: (
            lambda rng, x, s: losses.sliced_score_matching(rng, score_fn, x, num_projections=2, sigma=s),
            (_key(3), _data(), jnp.array([0.5, 1.0, 2.0])),
        ),
    ),
    "sliced_score_matching_from_projections": (
        "sliced_score_matching_from_projections",
        lambda: (
            lambda x, v: losses.sliced_score_matching_from_projections(score_fn, x, v),
            (_data(), _data(1, (2, B, D))),
        ),
    ),
    "dsm_target": (
        "dsm_target",
        lambda: (losses.dsm_target, (_data(0), _data(1), jnp.array([0.5, 1.0, 2.0]))),
    ),
    "denoising_score_matching_ladder": (
        "denoising_score_matching",
        lambda: (
            lambda rng, x, sigmas: losses.denoising_score_matching(rng, score_fn, x, sigmas),
            (_key(4), _data(), jnp.array([2.0, 1.0, 0.5])),
        ),
    ),
    "denoising_score_matching_one_sigma": (
        "denoising_score_matching",
        lambda: (
            lambda rng, x, s: losses.denoising_score_matching(rng, score_fn, x, s, weighting=0.0),
            (_key(4), _data(), 0.3),
        ),
    ),
    "discriminator_loss_every_kind": (
        "discriminator_loss",
        lambda: (
            lambda r, f: {k: losses.discriminator_loss(r, f, kind=k) for k in losses.gan.KINDS},
            (_data(0, (B,)), _data(1, (B + 1, 1))),
        ),
    ),
    "generator_loss_every_kind": (
        "generator_loss",
        lambda: (
            lambda f: {k: losses.generator_loss(f, kind=k) for k in losses.gan.KINDS},
            (_data(1, (B, 1)),),
        ),
    ),
    "gradient_penalty": (
        "gradient_penalty",
        lambda: (
            lambda rng, r, f, target: losses.gradient_penalty(rng, critic_fn, r, f, target_norm=target),
            (_key(5), _data(0), _data(1), 0.5),
        ),
    ),
    "r1_penalty": ("r1_penalty", lambda: (lambda r: losses.r1_penalty(critic_fn, r), (_data(),))),
    "unrolled_generator_loss": ("unrolled_generator_loss", _unrolled),
    "fgan_bound_every_divergence": (
        "fgan_bound",
        lambda: (
            lambda r, f: {d: losses.fgan_bound(r, f, divergence=d) for d in losses.F_DIVERGENCES},
            (_data(0, (B,)), _data(1, (B + 1,))),
        ),
    ),
    "fgan_discriminator_loss": (
        "fgan_discriminator_loss",
        lambda: (
            lambda r, f: losses.fgan_discriminator_loss(r, f, divergence="jensen_shannon"),
            (_data(0, (B,)), _data(1, (B,))),
        ),
    ),
    "fgan_generator_loss_both_kinds": (
        "fgan_generator_loss",
        lambda: (
            lambda f: {
                kind: losses.fgan_generator_loss(f, divergence="reverse_kl", kind=kind)
                for kind in ("saddle", "alternative")
            },
            (_data(1, (B, 1)),),
        ),
    ),
    "contrastive_divergence": (
        "contrastive_divergence",
        lambda: (
            lambda xd, xm: losses.contrastive_divergence(energy_fn, xd, xm, energy_l2=0.1),
            (_data(0), _data(1, (B + 2, D))),
        ),
    ),
    "nce_loss": (
        "nce_loss",
        lambda: (
            lambda xd, xn, c: losses.nce_loss(
                lambda x: -energy_fn(x), distributions.standard_normal_log_prob, xd, xn, c
            ),
            (_data(0), _data(1, (2 * B, D)), 0.4),
        ),
    ),
    "flow_log_prob": ("flow_log_prob", lambda: (losses.flow_log_prob, (_data(0), _data(1, (B,))))),
    "flow_log_prob_logistic_base": (
        "flow_log_prob",
        lambda: (
            lambda z, ld: losses.flow_log_prob(z, ld, base_log_prob=distributions.standard_logistic_log_prob),
            (_data(0), _data(1, (B,))),
        ),
    ),
    "uniform_dequantize": (
        "uniform_dequantize",
        lambda: (
            lambda rng, x: losses.uniform_dequantize(rng, x, num_levels=4),
            (_key(6), jax.random.randint(_key(8), (B, D), 0, 4)),
        ),
    ),
    "dequantized_log_prob": (
        "dequantized_log_prob",
        lambda: (lambda lp: losses.dequantized_log_prob(lp, num_dims=D, num_levels=4), (_data(0, (B,)),)),
    ),
    "ddpm_loss": (
        "ddpm_loss",
        lambda: (lambda rng, x0, s: losses.ddpm_loss(rng, eps_fn, x0, s), (_key(9), _levels(), _schedule())),
    ),
    "ddpm_bound_terms": (
        "ddpm_bound_terms",
        lambda: (
            lambda rng, x0, s: losses.ddpm_bound_terms(
                rng, eps_fn, x0, s, num_levels=4, variance="posterior", clip_denoised=False
            ),
            (_key(10), _levels(), _schedule()),
        ),
    ),
    "ddpm_variational_bound_full": (
        "ddpm_variational_bound",
        lambda: (
            lambda rng, x0, s: losses.ddpm_variational_bound(rng, eps_fn, x0, s, num_levels=4),
            (_key(11), _levels(), _schedule()),
        ),
    ),
    "ddpm_variational_bound_stratified": (
        "ddpm_variational_bound",
        lambda: (
            lambda rng, x0, s: losses.ddpm_variational_bound(rng, eps_fn, x0, s, num_levels=4, timesteps=3),
            (_key(11), _levels(), _schedule()),
        ),
    ),
    "contractive_penalty_exact": (
        "contractive_penalty",
        lambda: (lambda x: losses.contractive_penalty(None, lambda v: jnp.tanh(v @ W), x), (_data(0),)),
    ),
    "contractive_penalty_projections": (
        "contractive_penalty",
        lambda: (
            lambda rng, x: losses.contractive_penalty(rng, lambda v: jnp.tanh(v @ W), x, num_projections=3),
            (_key(13), _data(0)),
        ),
    ),
    "drop_labels": (
        "drop_labels",
        lambda: (
            lambda rng, labels: losses.drop_labels(rng, labels, rate=0.3, null_label=4),
            (_key(15), jnp.arange(8, dtype=jnp.int32) % 4),
        ),
    ),
    "corrupt": (
        "corrupt",
        lambda: (lambda rng, x: losses.corrupt(rng, x, kind="masking", level=0.5), (_key(14), _data(0))),
    ),
    "sparsity_penalty": (
        "sparsity_penalty",
        lambda: (
            lambda codes: losses.sparsity_penalty(codes, kind="kl", target_rate=0.1),
            (jax.nn.sigmoid(_data(0)),),
        ),
    ),
    "elbo_from_log_weights": ("elbo_from_log_weights", lambda: (losses.elbo_from_log_weights, (_data(0),))),
    "iwae_from_log_weights": ("iwae_from_log_weights", lambda: (losses.iwae_from_log_weights, (_data(0),))),
    "precision_weighted_merge": (
        "precision_weighted_merge",
        lambda: (losses.precision_weighted_merge, (_data(0), _data(1), _data(2), _data(3))),
    ),
    "hierarchical_terms": (
        "hierarchical_terms",
        lambda: _hierarchical_case(losses.hierarchical_terms, num_samples=2),
    ),
    "hierarchical_elbo": ("hierarchical_elbo", lambda: _hierarchical_case(losses.hierarchical_elbo)),
    "hierarchical_iwae_bound": (
        "hierarchical_iwae_bound",
        lambda: _hierarchical_case(losses.hierarchical_iwae_bound, num_samples=4, chunk_size=2),
    ),
    "info_vae_objective": (
        "info_vae_objective",
        lambda: (
            lambda rng, x: losses.info_vae_objective(
                rng, encode, decode_log_prob, x, alpha=0.5, lambda_=10.0
            ),
            (_key(15), _data(0)),
        ),
    ),
    "mmd_penalty": ("mmd_penalty", lambda: (losses.mmd_penalty, (_data(0), _data(1, (4, D))))),
    "vector_quantize": (
        "vector_quantize",
        lambda: (
            lambda z, codebook: losses.vector_quantize(z, codebook, commitment_cost=0.25),
            (_data(0), _data(1, (5, D))),
        ),
    ),
    "ema_codebook_init": ("ema_codebook_init", lambda: (losses.ema_codebook_init, (_data(1, (5, D)),))),
    "ema_codebook_update": (
        "ema_codebook_update",
        lambda: (
            lambda state, z: losses.ema_codebook_update(
                state, z, jnp.array([0, 3, 3]), decay=0.9, epsilon=1e-5
            ),
            (losses.ema_codebook_init(_data(1, (5, D))), _data(0)),
        ),
    ),
}


class LossJitVariants(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(case, case) for case in CASES])
    def test_matches_eager(self, case):
        fn, args = CASES[case][1]()
        expected = fn(*args)
        chex.assert_tree_all_finite(expected)
        chex.assert_trees_all_close(self.variant(fn)(*args), expected, rtol=RTOL, atol=ATOL)


def test_every_public_loss_has_a_variants_case():
    public = {
        name
        for name in losses.__all__
        if inspect.isfunction(getattr(losses, name)) and not name.startswith("_")
    }
    assert public == {function for function, _ in CASES.values()}, public ^ {f for f, _ in CASES.values()}
