"""``GenerativeModel.convolutional`` is what the family's losses really run.

The flag replaces ``step_loop=auto``'s search of the train step's jaxpr for
``conv_general_dilated``, so this test performs that search once per config and
checks the family's declaration against it: the same program the step traces
(``advance_model_state``, then every player's loss), shapes only, nothing compiled.
"""

from __future__ import annotations

import functools
import importlib
import json

import jax
import jax.numpy as jnp
import pytest

from genjax import models
from genjax.data import load_dataset

FAMILIES = (
    "autoencoder",
    "autoregressive",
    "ddpm",
    "ebm",
    "flow",
    "gan",
    "hvae",
    "kde",
    "pca",
    "score",
    "vae",
    "vqvae",
)
# Families with one kind of network only: dense (MLP energies, linear models, kernels) or conv.
# The autoregressive family's masked layers run as shifted slices and matmuls (issue 18), so
# none of its default programs holds an XLA convolution; the test below covers the other answer.
ONLY = {
    "autoencoder": False,
    "autoregressive": False,
    "ebm": False,
    "hvae": False,
    "kde": False,
    "pca": False,
    "vqvae": True,
}

# Per family: the smoke config and one variant of every architecture (conv and not) on offline data.
REPRESENTATIVE = {
    "autoencoder": ("smoke", "digits_sparse_kl", "digits_denoising", "digits_contractive"),
    "hvae": ("smoke", "digits_ladder", "binarized_mnist_iwae"),
    "kde": ("smoke", "digits", "two_moons"),
    "pca": ("smoke", "digits", "binarized_mnist", "toy2d"),
    "vqvae": ("smoke", "digits_ema_restart", "binarized_mnist"),
    "vae": (
        "smoke",
        "digits_conv",
        "digits_discretized",
        "digits_infovae",
        "smoke_conditional",
        "digits_conditional",
    ),
    "ddpm": ("smoke", "linear_digits", "digits_conditional"),
    "score": ("smoke", "ncsn_digits", "ssm_digits", "digits_conditional"),
    "gan": (
        "smoke",
        "wgan_gp_digits",
        "non_saturating_8gaussians",
        "smoke_conditional",
        "digits_conditional",
    ),
    "ebm": ("smoke", "cd_replay_digits", "nce_digits"),
    "flow": (
        "smoke",
        "realnvp_digits",
        "glow_digits",
        "glow_two_moons",
        "nice_digits",
        "maf_digits",
        "digits_conditional",
        "glow_digits_conditional",
    ),
    "autoregressive": (
        "smoke",
        "fvsbn_digits",
        "nade_digits",
        "made_digits",
        "made_ensemble_toy_binary_3x3",
        "pixelcnn_digits",
        "gated_pixelcnn_digits",
        "wavenet_digits",
        "lstm_markov",
        "transformer_digits",
        "digits_conditional",
        "made_digits_conditional",
    ),
}


def config_of(family: str, variant: str):
    return importlib.import_module(f"experiments.configs.{family}").get_config(variant)


@functools.cache
def _spec(data_json: str):
    return load_dataset(json.loads(data_json)).spec


def spec_of(config):
    return _spec(json.dumps(config.data.to_dict(), sort_keys=True, default=str))


def step_program(model: models.GenerativeModel, spec) -> str:
    """The jaxpr text of one train step's model work: the chains' advance, every loss, the buffers."""
    batch = {"x": jax.ShapeDtypeStruct((2, *spec.element_shape), jnp.float32)}
    if spec.num_classes:
        batch["label"] = jax.ShapeDtypeStruct((2,), jnp.int32)
    key = jax.random.key(0)
    params = jax.eval_shape(model.init, key, batch)
    state = None if model.init_model_state is None else jax.eval_shape(model.init_model_state, key, batch)

    def losses(params, state, batch, key):
        if model.advance_model_state is not None:
            _, batch = model.advance_model_state(params, state, batch, key)
        values = [loss(params, batch, key)[0] for loss in model.losses.values()]
        if model.update_buffers is not None:
            values.append(model.update_buffers(params, batch, key))
        return values

    return str(jax.make_jaxpr(losses)(params, state, batch, key))


def check_flag(family: str, variant: str) -> bool:
    """Asserts the declared flag matches the traced program; returns the flag."""
    config = config_of(family, variant)
    spec = spec_of(config)
    model = models.build(config, spec)
    runs_convolutions = "conv_general_dilated" in step_program(model, spec)
    assert model.convolutional == runs_convolutions, (
        f"{family}:{variant} declares convolutional={model.convolutional}, "
        f"its losses {'do' if runs_convolutions else 'do not'} run conv_general_dilated"
    )
    return model.convolutional


@pytest.mark.parametrize("family", FAMILIES)
def test_representative_configs_declare_what_they_run(family):
    flags = {variant: check_flag(family, variant) for variant in REPRESENTATIVE[family]}
    # Both answers are covered where the family has both.
    assert set(flags.values()) == ({ONLY[family]} if family in ONLY else {False, True}), flags


def test_masked_layers_declare_convolutions_when_they_run_them(monkeypatch):
    from genjax.models.networks import masked

    monkeypatch.setattr(masked, "TAP_FORM", "conv")  # one conv2d per tap block
    assert check_flag("autoregressive", "pixelcnn_digits")
