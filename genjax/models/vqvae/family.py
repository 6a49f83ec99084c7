"""The ``vqvae`` family: a VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017) and its learned prior.

A conv encoder maps x `[H, W, C]` to a grid `[h, w, D]` of vectors, each replaced
by its nearest of K codes (`genjax.losses.vector_quantize`, straight-through); a
conv decoder gives p(x | z_q) (Bernoulli for binary data, discretized logistic
over the data's levels, or Gaussian: the VAE family's likelihoods).

Players, in update order:

* ``"model"``: encoder, decoder and (``model.codebook_update="loss"``) the codebook,
  minimising -log p(x | z_q) + Σ_grid (codebook loss + commitment loss), per example.
* ``"prior"``: the autoregressive family's `PixelCNN`, reused as a categorical model
  over the K codes of the grid in raster order, minimising -log p_prior(indices(x))
  with the indices of the model's current encoder under stop_gradient. Both train
  jointly; the prior chases a moving target early on (docs/decisions.md).

Buffers (``params["vq"]``, updated by ``update_buffers`` after both players):
with ``model.codebook_update="ema"`` the codebook and its EMA statistics
(``codebook``, ``cluster_size``, ``embed_sum``; decay ``model.ema_decay``, Laplace
``model.ema_epsilon``); with ``model.restart_dead_codes_after = T > 0`` the steps
each code has gone unused (``unused_steps``), a code unused for T steps being
re-initialised to a random encoder output of the current batch.

``log_prob`` is log p(x | z_q(x)) + log p_prior(indices(x)): the ELBO of the
deterministic one-hot posterior q(z | x) = δ(z = indices(x)), whose entropy is 0,
so a lower bound on log p(x) = log Σ_z p_prior(z) p(x | z). ``sample`` draws a code
grid from the prior ancestrally and decodes it (decoder means).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields, losses, samplers
from genjax.errors import ConfigError
from genjax.losses.vq import nearest_code
from genjax.models import precision
from genjax.models.autoregressive.pixelcnn import PixelCNN
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.networks.layers import rbg_key
from genjax.models.vae.family import decoder_mean, likelihood_log_prob_fn
from genjax.models.vqvae.codebook import restart_dead_codes
from genjax.models.vqvae.networks import VQVAENetworks
from genjax.spec import DataSpec

Array = jax.Array
LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic")
CODEBOOK_UPDATES = ("loss", "ema")


class VQVAEParts(NamedTuple):
    """The bundle plus the code-level functions the benchmark and the colab use.

    Attributes:
      model: the `GenerativeModel`.
      num_codes: K.
      grid_shape: `(h, w)` of the code grid.
      encode_indices: ``(params, x [B, H, W, C]) -> [B, h, w]`` int32 codes.
      decode_indices: ``(params, indices [B, h, w]) -> [B, H, W, C]`` decoder means.
      prior_log_prob: ``(params, indices [B, h, w]) -> [B]`` nats under the prior.
      reconstruction_log_prob: ``(params, indices [B, h, w], x) -> [B]`` nats, log p(x | z_q = codes).
    """

    model: GenerativeModel
    num_codes: int
    grid_shape: tuple[int, int]
    encode_indices: Callable[[Params, Array], Array]
    decode_indices: Callable[[Params, Array], Array]
    prior_log_prob: Callable[[Params, Array], Array]
    reconstruction_log_prob: Callable[[Params, Array, Array], Array]


def validate(config: ml_collections.ConfigDict, spec: DataSpec) -> int | None:
    """Checks ``config.model``; returns the levels the decoder models (2 after binarization)."""
    m = config.model
    likelihood = fields.choice(m, "likelihood", LIKELIHOODS)
    update = fields.choice(m, "codebook_update", CODEBOOK_UPDATES)
    features = fields.widths(m, "conv_features")
    for field in ("embedding_dim", "num_codes", "prior_features", "prior_layers", "prior_first_kernel"):
        fields.number(m, field, integer=True, positive=True)
    fields.number(m, "prior_output_features", integer=True)
    fields.number(m, "commitment_cost")
    fields.number(m, "restart_dead_codes_after", integer=True)
    if m.num_codes < 2:
        raise ConfigError(f"model.num_codes: got {m.num_codes}; must be at least 2")
    if m.prior_first_kernel % 2 == 0:
        raise ConfigError(f"model.prior_first_kernel: got {m.prior_first_kernel}; must be odd")
    if update == "ema":
        if not 0.0 <= fields.fraction(m, "ema_decay") < 1.0:
            raise ConfigError(f"model.ema_decay: got {m.ema_decay}; must be in [0, 1)")
        fields.number(m, "ema_epsilon", positive=True)
    shape = spec.element_shape
    factor = 2 ** len(features)
    if len(shape) != 3 or shape[0] % factor or shape[1] % factor:
        raise ConfigError(
            f"model.conv_features: the encoder needs images [H, W, C] with H and W divisible by {factor} "
            f"(2**len(model.conv_features)); data has shape {shape}"
        )
    levels = 2 if config.data.get("binarize", "none") != "none" else spec.num_levels
    if likelihood == "bernoulli" and levels != 2:
        raise ConfigError(
            f"model.likelihood: bernoulli needs binary data; {spec.name or 'the data'} has {levels} levels "
            "(binarize it or use discretized_logistic)"
        )
    if likelihood == "discretized_logistic" and not levels:
        raise ConfigError("model.likelihood: discretized_logistic needs discrete data (with num_levels)")
    if config.data.get("dequantize", False):
        raise ConfigError("data.dequantize: the VQ-VAE scores the discrete values; set it to False")
    return levels


def build_parts(config: ml_collections.ConfigDict, spec: DataSpec) -> VQVAEParts:
    """Builds the bundle and its code-level functions from ``config.model`` and the data spec."""
    levels = validate(config, spec)
    m = config.model
    shape = tuple(spec.element_shape)
    num_codes, dim = m.num_codes, m.embedding_dim
    factor = 2 ** len(m.conv_features)
    grid = (shape[0] // factor, shape[1] // factor)
    ema = m.codebook_update == "ema"
    restart_after = m.restart_dead_codes_after
    train_precision = precision.policy(config, family="vqvae", architecture="conv", supported=("conv",))
    networks = VQVAENetworks(shape, dim, tuple(m.conv_features), m.activation)
    prior = PixelCNN(
        num_params=num_codes,
        features=m.prior_features,
        num_blocks=m.prior_layers,
        first_kernel=m.prior_first_kernel,
        output_features=m.prior_output_features,
    )
    likelihood_log_prob = likelihood_log_prob_fn(m.likelihood, levels)

    def codebook(params: Params) -> Array:
        return params["vq"]["codebook"] if ema else params["model"]["codebook"]

    def encode(params: Params, x: Array, policy: precision.Precision = precision.FLOAT32) -> Array:
        return policy.apply(networks.apply, params["model"]["networks"], x, method=VQVAENetworks.encode)

    def decode_log_prob(params: Params, z_q: Array, x: Array, policy=precision.FLOAT32) -> Array:
        variables = params["model"]["networks"]
        location = policy.apply(networks.apply, variables, z_q, method=VQVAENetworks.decode)
        return likelihood_log_prob(x, location, variables["params"]["log_scale"])

    def encode_indices(params: Params, x: Array) -> Array:
        z_e = encode(params, x)
        flat = nearest_code(z_e.reshape(-1, dim), codebook(params))
        return flat.reshape(z_e.shape[:-1])

    def decode_indices(params: Params, indices: Array) -> Array:
        location = networks.apply(
            params["model"]["networks"], codebook(params)[indices], method=VQVAENetworks.decode
        )
        return decoder_mean(m.likelihood, location, num_levels=levels)

    def prior_inputs(indices: Array) -> Array:
        """Code ids `[B, h, w]` (int or float) -> the PixelCNN's one-channel input in [-1, 1]."""
        return (2.0 * indices.astype(jnp.float32) / (num_codes - 1) - 1.0)[..., None]

    def prior_log_prob(params: Params, indices: Array, policy=precision.FLOAT32) -> Array:
        logits = policy.apply(prior.apply, params["prior"], prior_inputs(indices))[..., 0, :]
        log_probs = jnp.take_along_axis(jax.nn.log_softmax(logits), indices[..., None], axis=-1)
        return jnp.sum(log_probs, axis=(1, 2, 3))

    def init(rng: Array, batch: Batch) -> Params:
        network_key, code_key, noise_key, prior_key = jax.random.split(rng, 4)
        x = batch["x"]
        # rbg keys: XLA:CPU compiles threefry draws for conv kernels slowly (layers.rbg_key).
        variables = networks.init(rbg_key(network_key), x)
        # Codes start at random encoder outputs of the first batch (plus a little noise, so
        # that repeated draws differ): every code begins where the encoder puts vectors.
        z_e = networks.apply(variables, x, method=VQVAENetworks.encode).reshape(-1, dim)
        drawn = jax.random.choice(code_key, z_e.shape[0], (num_codes,), replace=z_e.shape[0] < num_codes)
        noise = jax.random.normal(noise_key, (num_codes, dim)) * (0.01 * jnp.std(z_e) + 1e-3)
        initial_codebook = z_e[drawn] + noise
        grid_batch = jnp.zeros((x.shape[0], *grid), jnp.int32)
        prior_params = prior.init(rbg_key(prior_key), prior_inputs(grid_batch))
        params = {"model": {"networks": variables}, "prior": prior_params}
        buffers = {}
        if ema:
            state = losses.ema_codebook_init(initial_codebook)
            buffers.update(state._asdict())
        else:
            params["model"]["codebook"] = initial_codebook
        if restart_after > 0:
            # A float count: the loop's parameter EMA (train.ema_decay) copies buffers as they are.
            buffers["unused_steps"] = jnp.zeros(num_codes, jnp.float32)
        if buffers:
            params["vq"] = buffers
        return params

    def model_loss(params: Params, batch: Batch, rng: Array):
        x = batch["x"]
        z_e = encode(params, x, train_precision)
        vq = losses.vector_quantize(z_e, codebook(params), commitment_cost=m.commitment_cost)
        reconstruction = decode_log_prob(params, vq.quantized, x, train_precision)
        codebook_loss = jnp.sum(vq.codebook_loss, axis=(1, 2))
        commitment_loss = jnp.sum(vq.commitment_loss, axis=(1, 2))
        # With an EMA codebook the codes are buffers: no loss moves them.
        per_example = -reconstruction + commitment_loss + (0.0 if ema else codebook_loss)
        counts = jnp.bincount(vq.indices.reshape(-1), length=num_codes)
        p = counts / jnp.sum(counts)
        batch_perplexity = jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))
        return masked_mean(per_example, batch), {
            "reconstruction_nll": masked_mean(-reconstruction, batch),
            "codebook_loss": masked_mean(codebook_loss, batch),
            "commitment_loss": masked_mean(commitment_loss, batch),
            "batch_perplexity": batch_perplexity,
        }

    def prior_loss(params: Params, batch: Batch, rng: Array):
        indices = jax.lax.stop_gradient(encode_indices(params, batch["x"]))
        nll = masked_mean(-prior_log_prob(params, indices, train_precision), batch)
        return nll, {"nll": nll, "bits_per_code": nll / (math.log(2.0) * grid[0] * grid[1])}

    def update_buffers(params: Params, batch: Batch, rng: Array):
        z_e = encode(params, batch["x"]).reshape(-1, dim)
        indices = nearest_code(z_e, codebook(params))
        counts = jnp.bincount(indices, length=num_codes)
        params = {**params, "vq": dict(params["vq"])}
        buffers = params["vq"]
        if ema:
            state = losses.VQEMAState(buffers["cluster_size"], buffers["embed_sum"], buffers["codebook"])
            state = losses.ema_codebook_update(state, z_e, indices, decay=m.ema_decay, epsilon=m.ema_epsilon)
            buffers.update(state._asdict())
        metrics = {"codes_used_in_batch": jnp.sum(counts > 0).astype(jnp.float32)}
        if restart_after > 0:
            unused = jnp.where(counts > 0, 0.0, buffers["unused_steps"] + 1.0)
            dead = unused >= restart_after
            restarted = restart_dead_codes(rng, codebook(params), dead, z_e)
            buffers["unused_steps"] = jnp.where(dead, 0.0, unused)
            if ema:
                # A restarted code counts as one vector at its new position, as at initialisation.
                buffers["codebook"] = restarted
                buffers["embed_sum"] = jnp.where(dead[:, None], restarted, buffers["embed_sum"])
                buffers["cluster_size"] = jnp.where(dead, 1.0, buffers["cluster_size"])
            else:
                params["model"] = {**params["model"], "codebook": restarted}
            metrics["codes_restarted"] = jnp.sum(dead).astype(jnp.float32)
        return params, metrics

    def log_prob(params: Params, batch: Batch, rng: Array) -> Array:
        x = batch["x"]
        indices = encode_indices(params, x)
        reconstruction = decode_log_prob(params, codebook(params)[indices], x)
        return reconstruction + prior_log_prob(params, indices)

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        x = batch["x"]
        indices = encode_indices(params, x)
        reconstruction = decode_log_prob(params, codebook(params)[indices], x)
        squared_error = jnp.sum((decode_indices(params, indices) - x) ** 2, axis=tuple(range(1, x.ndim)))
        return {
            "reconstruction_log_prob": reconstruction,
            "prior_log_prob": prior_log_prob(params, indices),
            "reconstruction_squared_error": squared_error,
        }

    def sample(params: Params, rng: Array, num_samples: int) -> Array:
        """Decoder means at a code grid drawn ancestrally from the prior."""

        def window_logits(window: Array) -> Array:
            return prior.apply(params["prior"], prior_inputs(window[..., 0]))

        def draw(key: Array, logits: Array) -> Array:
            return jax.random.categorical(key, logits, axis=-1).astype(jnp.float32)

        initial = jnp.zeros((num_samples, *grid, 1), jnp.float32)
        codes = samplers.sample_image_autoregressive(
            rng, window_logits, draw, initial, context_rows=prior.context_rows
        )
        return decode_indices(params, codes[..., 0].astype(jnp.int32))

    model = GenerativeModel(
        init=init,
        losses={"model": model_loss, "prior": prior_loss},
        sample=sample,
        log_prob=log_prob,
        element_shape=shape,
        eval_metrics=eval_metrics,
        update_buffers=update_buffers if (ema or restart_after > 0) else None,
        convolutional=True,
    )

    def reconstruction_log_prob(params: Params, indices: Array, x: Array) -> Array:
        return decode_log_prob(params, codebook(params)[indices], x)

    return VQVAEParts(
        model, num_codes, grid, encode_indices, decode_indices, prior_log_prob, reconstruction_log_prob
    )


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The ``vqvae`` bundle (see the module docstring); `build_parts` also returns the code functions."""
    return build_parts(config, spec).model
