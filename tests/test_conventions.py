"""The frozen API conventions of docs/conventions.md, checked on every public function of the pure modules.

Walks `genjax.losses`, `genjax.samplers`, `genjax.metrics`, `genjax.distributions`,
`genjax.diffusion` and `genjax.bijections`: a new public function that breaks a
rule fails here, not in a user's code.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import bijections, diffusion, distributions, losses, metrics, samplers

PURE_MODULES = (losses, samplers, metrics, distributions, diffusion, bijections)
# Users call these by keyword: their leading parameter names are API.
FROZEN = {
    (losses, "elbo"): ("rng", "encode", "decode_log_prob", "x", "num_samples"),
    (losses, "iwae_bound"): ("rng", "encode", "decode_log_prob", "x", "num_samples"),
    (losses, "gaussian_kl"): ("mean", "log_var"),
    (losses, "exact_score_matching"): ("score_fn", "x"),
    (losses, "sliced_score_matching"): ("rng", "score_fn", "x", "num_projections"),
    (losses, "denoising_score_matching"): ("rng", "score_fn", "x", "sigmas"),
    (losses, "discriminator_loss"): ("real_logits", "fake_logits", "kind"),
    (losses, "generator_loss"): ("fake_logits", "kind"),
    (losses, "gradient_penalty"): ("rng", "critic_fn", "real", "fake"),
    (samplers, "langevin"): ("rng", "grad_log_prob", "x0", "step_size", "num_steps"),
    (samplers, "mala"): ("rng", "log_prob", "x0", "step_size", "num_steps"),
    (samplers, "annealed_langevin"): ("rng", "score_fn", "x0", "sigmas", "step_size", "steps_per_sigma"),
    (metrics, "mmd"): ("x", "y", "kernel"),
    (metrics, "frechet_distance"): ("feats_a", "feats_b"),
    (metrics, "frechet_distance_from_stats"): ("mu1", "sigma1", "mu2", "sigma2"),
    (metrics, "kernel_inception_distance"): ("rng", "feats_a", "feats_b", "num_subsets", "subset_size"),
    (metrics, "inception_score"): ("probs", "num_splits"),
    (metrics, "modified_inception_score"): ("probs", "num_splits"),
    (metrics, "mode_score"): ("probs", "real_probs"),
    (metrics, "am_score"): ("probs", "train_probs"),
    (metrics, "precision_recall"): ("real_feats", "fake_feats", "k"),
    (metrics, "density_coverage"): ("real_feats", "fake_feats", "k"),
    (metrics, "number_of_different_bins"): ("rng", "train_feats", "fake_feats", "num_bins", "alpha"),
    (metrics, "classifier_two_sample_test"): ("rng", "real", "fake"),
    (metrics, "birthday_paradox_support"): ("rng", "samples", "batch_size", "num_pairs", "threshold"),
    (metrics, "parzen_log_likelihood"): ("samples", "x_eval", "bandwidth"),
    (metrics, "nearest_neighbour_distances"): ("train", "samples"),
    (metrics, "inversion_reconstruction_error"): ("rng", "generator_fn", "x", "num_steps"),
    (metrics, "bootstrap"): ("rng", "metric_fn", "num_resamples"),
    (metrics, "gaussian_kde_log_prob"): ("centres", "x", "bandwidth", "mask"),
    (losses, "info_vae_objective"): (
        "rng",
        "encode",
        "decode_log_prob",
        "x",
        "alpha",
        "lambda_",
        "num_samples",
    ),
    (losses, "mmd_penalty"): ("x", "y", "kernel", "scale"),
    (losses, "vector_quantize"): ("z_e", "codebook", "commitment_cost"),
    (losses, "ema_codebook_update"): ("state", "z_e", "indices", "decay", "epsilon"),
    (losses, "contractive_penalty"): ("rng", "encode", "x", "num_projections"),
    (losses, "sparsity_penalty"): ("codes", "kind", "target_rate", "mask"),
    (losses, "corrupt"): ("rng", "x", "kind", "level"),
    (losses, "drop_labels"): ("rng", "labels", "rate", "null_label"),
    (samplers, "guidance_combine"): ("eps_cond", "eps_uncond", "guidance_scale"),
    (samplers, "classifier_free_guidance"): ("eps_fn", "cond", "null_cond", "guidance_scale"),
    (samplers, "tempered_smc"): (
        "rng",
        "log_likelihood",
        "log_prior",
        "x0",
        "betas",
        "step_size",
        "steps_per_beta",
        "resample_threshold",
    ),
    (samplers, "systematic_resample"): ("rng", "log_weights", "num"),
    (bijections, "rational_quadratic_spline"): (
        "x",
        "unnormalized_widths",
        "unnormalized_heights",
        "unnormalized_derivatives",
        "inverse",
        "tail_bound",
        "min_bin_width",
        "min_bin_height",
        "min_derivative",
    ),
    (losses, "unrolled_generator_loss"): (
        "generator_cost",
        "discriminator_cost",
        "discriminator_params",
        "init_fn",
        "update_fn",
        "num_steps",
        "opt_state",
    ),
    (distributions, "box_muller"): ("rng", "shape"),
    (distributions, "inverse_cdf_sample"): ("rng", "inverse_cdf", "shape"),
    (distributions, "gumbel_max_sample"): ("rng", "logits", "num_samples"),
    (distributions, "rejection_sample"): (
        "rng",
        "log_target",
        "proposal_sample",
        "proposal_log_prob",
        "log_bound",
        "num_samples",
        "max_rounds",
    ),
}
# Options that select behaviour by name are keyword-only even without a default.
KEYWORD_ONLY_NAMES = {"kind", "divergence", "variance"}
# Only these are log-likelihoods (or bounds on them), in nats, higher is better.
LOG_LIKELIHOOD_SUFFIXES = ("_log_prob", "_bound")


def public_functions():
    for module in PURE_MODULES:
        for name in getattr(module, "__all__", dir(module)):
            value = getattr(module, name)
            if inspect.isfunction(value) and not name.startswith("_"):
                yield module.__name__, name, value


FUNCTIONS = sorted(public_functions(), key=lambda item: item[:2])
IDS = [f"{module}.{name}" for module, name, _ in FUNCTIONS]


def test_the_walk_covers_every_pure_module():
    assert {module for module, _, _ in FUNCTIONS} == {m.__name__ for m in PURE_MODULES}
    assert len(FUNCTIONS) >= 60, len(FUNCTIONS)


@pytest.mark.parametrize("module, name, function", FUNCTIONS, ids=IDS)
def test_signature_follows_the_conventions(module, name, function):
    params = list(inspect.signature(function).parameters.values())
    names = [p.name for p in params]
    assert "key" not in names, f"{module}.{name}: the PRNG key is named rng"
    if "rng" in names:
        assert names[0] == "rng", f"{module}.{name}: rng must come first, got {names}"
    for p in params:
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            assert p.default is inspect.Parameter.empty, (
                f"{module}.{name}: option {p.name} must be keyword-only"
            )
            assert p.name not in KEYWORD_ONLY_NAMES, f"{module}.{name}: {p.name} must be keyword-only"


@pytest.mark.parametrize("module, name, function", FUNCTIONS, ids=IDS)
def test_docstring_states_the_result_shape(module, name, function):
    doc = inspect.getdoc(function) or ""
    assert doc, f"{module}.{name} has no docstring"
    assert "[" in doc or "scalar" in doc.lower(), f"{module}.{name}: say the shape ([B], [N, ...] or scalar)"


@pytest.mark.parametrize("key", sorted(FROZEN, key=lambda k: (k[0].__name__, k[1])), ids=lambda k: k[1])
def test_frozen_parameter_names(key):
    module, name = key
    names = tuple(inspect.signature(getattr(module, name)).parameters)
    assert all(n in names for n in FROZEN[key]), (name, names)
    positional = [n for n in FROZEN[key] if n in names]
    assert positional == [n for n in names if n in FROZEN[key]], f"{name}: order of {FROZEN[key]}"


def test_likelihood_names_are_only_log_likelihoods():
    for _, name, _ in FUNCTIONS:
        if name.endswith("_loss"):
            assert not name.endswith(LOG_LIKELIHOOD_SUFFIXES), name


@pytest.mark.slow
def test_a_bound_on_a_discrete_log_likelihood_is_never_positive():
    """ddpm_variational_bound and iwae_bound/elbo on binary data bound log P(x) <= 0 from below."""
    x_binary = jnp.asarray(np.random.default_rng(0).integers(0, 2, (4, 3)), jnp.float32)
    encode = lambda x: (jnp.zeros((x.shape[0], 2)), jnp.zeros((x.shape[0], 2)))
    decode = lambda z, x: distributions.bernoulli_log_prob(x, jnp.zeros_like(x) + z[..., :1])
    for bound in (
        losses.elbo(jax.random.key(0), encode, decode, x_binary),
        losses.iwae_bound(jax.random.key(0), encode, decode, x_binary, num_samples=8),
    ):
        assert bound.shape == (4,) and bool(jnp.all(bound <= 0))
    schedule = diffusion.make_schedule(diffusion.linear_betas(10, rescale=False))
    x_levels = jnp.asarray(np.random.default_rng(1).integers(0, 4, (3, 2)) / 1.5 - 1.0, jnp.float32)
    ddpm = losses.ddpm_variational_bound(
        jax.random.key(2), lambda x, t: jnp.zeros_like(x), x_levels, schedule, num_levels=4
    )
    assert ddpm.shape == (3,) and bool(jnp.all(ddpm <= 0)), ddpm
