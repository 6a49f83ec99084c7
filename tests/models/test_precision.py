"""Mixed precision (``train.compute_dtype``): bf16 steps track float32 ones, exactness survives.

Tolerances (one jitted train step, SGD with momentum at lr 0.1, from perturbed float32
parameters, batch 32 of 8x8 digits; bfloat16 keeps 8 significant bits, ~0.4%):

* loss: relative error at most 0.5% (measured: VAE MLP 8e-5, VAE conv 2e-4, DDPM U-Net 6e-4);
* the update (lr x gradient) over all parameters: relative L2 error at most 10% and cosine
  similarity at least 0.99 (measured: VAE MLP 3.1% / 0.9995, VAE conv 4.6% / 0.9990,
  DDPM U-Net 1.7% / 0.9999).

Mixed precision covers the training losses only; log_prob, eval_metrics and sample run
the float32 model (see `genjax.models.precision`).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import autoregressive, ddpm, ebm, flow, gan, score, vae
from genjax import models
from genjax.data import load_dataset
from genjax.errors import ConfigError
from genjax.models import precision
from genjax.spec import DataSpec
from genjax.train.step import init_train_state, make_single_step

DIGITS = DataSpec(name="digits", element_shape=(8, 8, 1), num_levels=17)
BATCH = 32
LEARNING_RATE = 0.1
LOSS_RTOL = 0.005
UPDATE_RTOL = 0.10
UPDATE_MIN_COSINE = 0.99


def with_dtype(config, name: str):
    with config.unlocked():
        config.train.compute_dtype = name
    return config


def pair(config, spec):
    """(float32 model, bfloat16 model) of one config."""
    f32 = models.build(with_dtype(config.copy_and_resolve_references(), "float32"), spec)
    bf16 = models.build(with_dtype(config.copy_and_resolve_references(), "bfloat16"), spec)
    return f32, bf16


def digits_batch(*, binary: bool) -> dict:
    u = jax.random.uniform(jax.random.key(1), (BATCH, *DIGITS.element_shape))
    return {"x": (u < 0.4).astype(jnp.float32) if binary else jnp.round(16 * u) / 16}


def perturbed(params, scale: float = 0.05):
    """Init plus noise: zero-initialised layers (the U-Net's output conv) would block every gradient."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(7), len(leaves))
    noisy = [p + scale * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys, strict=True)]
    return jax.tree.unflatten(treedef, noisy)


def one_step(model, batch):
    """State before and after one jitted train step (SGD with momentum, so opt_state holds a trace)."""
    optimizers = {player: optax.sgd(LEARNING_RATE, momentum=0.9) for player in model.players}
    state = init_train_state(model, optimizers, batch, seed=0, ema=False)
    state = state.replace(params=perturbed(state.params))
    step = jax.jit(
        make_single_step(model, optimizers, seed=0, updates_per_step=dict.fromkeys(model.players, 1))
    )
    new_state, metrics = step(state, batch)
    return state, new_state, metrics


def flat_update(before, after) -> np.ndarray:
    diffs = jax.tree.map(lambda a, b: np.asarray(b, np.float64) - np.asarray(a, np.float64), before, after)
    return np.concatenate([d.ravel() for d in jax.tree.leaves(diffs)])


def narrow_ops(fn, *args) -> int:
    """How many dot_general / conv_general_dilated of ``fn``'s program produce bfloat16."""
    text = str(jax.make_jaxpr(fn)(*args))
    return len(re.findall(r"bf16\[[^\]]*\] = (?:dot_general|conv_general_dilated)", text))


def check_bf16_step_tracks_float32(config, spec, batch):
    f32, bf16 = pair(config, spec)
    before, after_f32, metrics_f32 = one_step(f32, batch)
    _, after_bf16, metrics_bf16 = one_step(bf16, batch)
    # bfloat16 really ran: the loss's matmuls and convolutions produce bfloat16 (none in float32 mode).
    (player,) = bf16.players
    args = (before.params, batch, jax.random.key(0))
    assert narrow_ops(bf16.losses[player], *args) > 0
    assert narrow_ops(f32.losses[player], *args) == 0
    # Parameters and optimizer state stay float32; the loss comes back float32.
    for tree in (after_bf16.params, after_bf16.opt_state):
        assert {leaf.dtype for leaf in jax.tree.leaves(tree)} == {jnp.dtype(jnp.float32)}
    assert metrics_bf16["loss"].dtype == jnp.float32
    loss_f32, loss_bf16 = float(metrics_f32["loss"]), float(metrics_bf16["loss"])
    assert loss_bf16 != loss_f32  # not the float32 program in disguise
    assert abs(loss_bf16 - loss_f32) <= LOSS_RTOL * abs(loss_f32)
    update_f32 = flat_update(before.params, after_f32.params)
    update_bf16 = flat_update(before.params, after_bf16.params)
    norm = np.linalg.norm(update_f32)
    assert norm > 0
    assert np.linalg.norm(update_bf16 - update_f32) <= UPDATE_RTOL * norm
    assert update_bf16 @ update_f32 / (np.linalg.norm(update_bf16) * norm) >= UPDATE_MIN_COSINE


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["smoke", "digits_conv"])
def test_vae_bf16_step_tracks_float32(variant):
    check_bf16_step_tracks_float32(vae.get_config(variant), DIGITS, digits_batch(binary=True))


@pytest.mark.slow
def test_ddpm_unet_bf16_step_tracks_float32():
    config = ddpm.get_config("linear_digits")
    assert config.model.architecture == "unet"
    check_bf16_step_tracks_float32(config, DIGITS, digits_batch(binary=False))


@pytest.mark.parametrize(
    "module", [gan, score, ddpm, autoregressive], ids=lambda m: m.__name__.split(".")[-1]
)
def test_other_families_smoke_losses_run_bf16_close_to_float32(module):
    """The smoke (MLP) configs of the other bf16 families: every player's loss computes in bf16."""
    config = module.get_config("smoke")
    spec = load_dataset(config.data).spec
    f32, bf16 = pair(config, spec)
    x = jax.random.uniform(jax.random.key(1), (BATCH, *spec.element_shape))
    batch = {"x": jnp.round(x) if spec.num_levels == 2 or config.data.binarize != "none" else x}
    params = perturbed(f32.init(jax.random.key(0), batch))
    for player in f32.players:
        args = (params, batch, jax.random.key(2))
        assert narrow_ops(bf16.losses[player], *args) > 0 and narrow_ops(f32.losses[player], *args) == 0
        value_f32, value_bf16 = (jax.jit(m.losses[player])(*args)[0] for m in (f32, bf16))
        assert value_bf16.dtype == jnp.float32
        np.testing.assert_allclose(value_bf16, value_f32, rtol=0.02, atol=0.02, err_msg=player)


def test_float32_policy_is_the_identity():
    policy = precision.policy(vae.get_config("smoke"), family="vae", architecture="mlp", supported=())
    assert policy == precision.FLOAT32 and not policy.mixed
    tree = {"w": jnp.ones(3), "ids": jnp.arange(3)}
    assert policy.cast(tree) is tree and policy.output(tree) is tree
    marker = object()
    assert policy.apply(lambda *args, **kwargs: (args, kwargs), tree, 1, k=marker) == (
        (tree, 1),
        {"k": marker},
    )


@pytest.mark.parametrize(("module", "variant"), [(vae, "digits_conv"), (ddpm, "linear_digits")])
def test_float32_program_is_unchanged_by_the_field(module, variant):
    """compute_dtype="float32" traces the very program of a config without the field: no bf16 anywhere."""
    explicit = models.build(with_dtype(module.get_config(variant), "float32"), DIGITS)
    config = module.get_config(variant)
    if "compute_dtype" in config.train:
        with config.unlocked():
            del config.train["compute_dtype"]
    default = models.build(config, DIGITS)
    batch = digits_batch(binary=variant.startswith("digits"))
    params = jax.eval_shape(explicit.init, jax.random.key(0), batch)  # shapes only: nothing runs
    (player,) = explicit.players
    programs = [
        str(jax.make_jaxpr(m.losses[player])(params, batch, jax.random.key(1))) for m in (explicit, default)
    ]
    assert programs[0] == programs[1]
    assert "bf16" not in programs[0]


def test_bf16_casts_params_and_floats_only_and_outputs_return_to_float32():
    policy = precision.Precision(jnp.bfloat16)
    cast = policy.cast({"w": jnp.ones(3), "ids": jnp.arange(3), "none": None})
    assert cast["w"].dtype == jnp.bfloat16 and cast["ids"].dtype == jnp.int32 and cast["none"] is None
    out = policy.apply(lambda p, x: {"y": p["w"] * x, "n": jnp.arange(2)}, {"w": jnp.ones(3)}, jnp.ones(3))
    assert out["y"].dtype == jnp.float32 and out["n"].dtype == jnp.int32
    # The cast is differentiable and its transpose brings the cotangent back to float32.
    grad = jax.grad(lambda w: jnp.sum(policy.apply(lambda p, x: p * x, w, jnp.ones(3))))(jnp.ones(3))
    assert grad.dtype == jnp.float32


@pytest.mark.parametrize(
    "architecture",
    [
        "made",
        pytest.param("pixelcnn", marks=pytest.mark.slow),
        pytest.param("transformer", marks=pytest.mark.slow),
    ],
)
def test_autoregressive_bf16_training_likelihood_is_exactly_normalised(architecture):
    """On all 512 binary 3x3 images: the bf16 training NLL is a normalised law; log_prob is float32's."""
    config = autoregressive.get_config(f"{architecture}_toy_binary_3x3")
    dataset = load_dataset(config.data)
    outcomes = jnp.asarray(dataset.outcomes(), jnp.float32)
    assert outcomes.shape[0] == 512
    f32, bf16 = pair(config, dataset.spec)
    params = perturbed(f32.init(jax.random.key(0), {"x": outcomes[:2]}), scale=0.2)
    key = jax.random.key(3)

    def per_example_nll(model):
        one = lambda x: model.losses["model"](params, {"x": x[None]}, key)[0]
        return jax.jit(jax.vmap(one))(outcomes)

    nll_f32, nll_bf16 = per_example_nll(f32), per_example_nll(bf16)
    assert nll_bf16.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(nll_bf16 - nll_f32))) > 0  # the network did run bfloat16
    # The output distribution is normalised in float32 whatever the bf16 logits: sum p(x) = 1.
    assert abs(float(jax.nn.logsumexp(-nll_bf16))) < 1e-5
    assert abs(float(jax.nn.logsumexp(-nll_f32))) < 1e-5
    # Evaluation scores the float32 model: bit-identical to a float32 build.
    log_prob = lambda model: jax.jit(lambda x: model.log_prob(params, {"x": x}, key))(outcomes)
    np.testing.assert_array_equal(log_prob(bf16), log_prob(f32))


@pytest.mark.parametrize(("module", "variant", "family"), [(flow, "smoke", "flow"), (ebm, "smoke", "ebm")])
def test_bf16_on_a_float32_only_family_is_one_config_error(module, variant, family):
    config = with_dtype(module.get_config(variant), "bfloat16")
    spec = (
        DIGITS if family == "flow" else DataSpec(name="toy2d:8gaussians", element_shape=(2,), num_levels=None)
    )
    with pytest.raises(
        ConfigError, match=rf"^train\.compute_dtype: bfloat16 is not supported by the {family}"
    ) as error:
        models.build(config, spec)
    assert "allowed: float32" in str(error.value) and "\n" not in str(error.value)


def test_unknown_compute_dtype_names_the_field():
    with pytest.raises(ConfigError, match=r"train\.compute_dtype: got 'float16'; allowed: float32, bfloat16"):
        models.build(with_dtype(vae.get_config("smoke"), "float16"), DIGITS)
