"""The ``autoregressive`` family: exact likelihoods ``log p(x) = sum_d log p(x_d | x_<d)``.

Data are flattened in raster order with the channel axis fastest. A network
(`networks.py`) emits per-dimension parameters for an output distribution
(`outputs.py`): Bernoulli for binary data, a 256-way (L-way) categorical or a
discretized logistic mixture for discrete images, a categorical over tokens,
a Gaussian mixture for continuous data.

``sample`` draws whole sequences inside one jitted loop: incremental networks
(NADE, WaveNet, LSTM, Transformer) in one ``lax.scan`` over their state or
cache, the others (FVSBN, MADE, PixelCNN) in D full passes of one
``lax.fori_loop``. A MADE with K masks trains one random mask per minibatch
and evaluates and samples the K-mask ensemble (a mixture).

``model.*`` fields: ``architecture``, ``output`` (auto | bernoulli | categorical |
logistic_mixture | gaussian_mixture), ``num_components``; NADE ``hidden_size``;
MADE ``hidden_sizes``, ``activation``, ``num_masks``, ``order_agnostic``,
``connectivity_agnostic``, ``mask_seed``; the others ``features``,
``num_layers``, ``output_features`` (PixelCNNs), ``num_heads`` (Transformer),
``dilations`` (WaveNet); ``conditional`` (FVSBN, MADE, Gated PixelCNN; the older
name ``class_conditional`` is still read); ``l2`` (default 0): the training loss
adds ``l2 * sum(W**2)`` over every weight matrix (parameters named ``*kernel``,
not biases) to the mean NLL per example, plain L2 regularisation (with Adam,
the coupled weight decay of Adam + L2, unlike AdamW's decoupled one).

A conditional model (``model.conditional=True`` on labelled data; the number of
classes comes from the data) scores ``log p(x | y) = sum_d log p(x_d | x_<d, y)``
with y from the batch, exactly normalised for every y, and ``sample(..., cond=y)``
draws from it (default labels ``arange(n) % num_classes``, a row of every class).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genjax import fields, samplers
from genjax.errors import ConfigError
from genjax.models import conditioning as conditioning_lib
from genjax.models import precision
from genjax.models.autoregressive import outputs
from genjax.models.autoregressive.networks import (
    ARCHITECTURES,
    BINARY_ONLY,
    IMAGE_ONLY,
    build_network,
    validate,
)
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.networks import masked
from genjax.models.networks.made import ensemble_log_prob
from genjax.spec import DataSpec

Array = jax.Array

__all__ = ["ARCHITECTURES", "build", "exact_conditional_kl", "exact_kl", "kernel_sum_of_squares"]

BF16_ARCHITECTURES = ARCHITECTURES  # those whose networks compute in bfloat16 (train.compute_dtype)
# Masked convolutions; WaveNet runs its kernel-2 convolutions as Dense layers.
CONVOLUTIONAL = ("pixelcnn", "gated_pixelcnn")


def _output_name(m: ml_collections.ConfigDict, levels: int | None, tokens: bool) -> str:
    if m.output != "auto":
        return m.output
    if levels == 2:
        return "bernoulli"
    return "gaussian_mixture" if levels is None else "categorical"


def kernel_sum_of_squares(params: Params) -> Array:
    """Scalar ``sum(W**2)`` over every leaf named ``*kernel`` (weight matrices, conv kernels; no biases)."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    kernels = [leaf for path, leaf in leaves if str(getattr(path[-1], "key", "")).endswith("kernel")]
    return sum((jnp.sum(jnp.square(kernel)) for kernel in kernels), jnp.zeros((), jnp.float32))


def _levels(config: ml_collections.ConfigDict, spec: DataSpec) -> int | None:
    """Discrete levels the model sees: 2 after binarization, else the dataset's (None: continuous)."""
    if config.data.get("dequantize", False):
        raise ConfigError(
            "data.dequantize: autoregressive models score the discrete values themselves; set it to False"
        )
    if config.data.get("binarize", "none") != "none":
        return 2
    return spec.num_levels


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    m = config.model
    element_shape = spec.element_shape
    conditioning = conditioning_lib.from_config(config, spec)
    validate(m, element_shape, conditioning)
    l2 = float(fields.check_number(m.get("l2", 0.0), "model.l2", note="(0 turns it off)"))
    levels = _levels(config, spec)
    tokens = spec.tokens
    output = outputs.get(_output_name(m, levels, tokens), num_levels=levels, num_components=m.num_components)
    if m.architecture in BINARY_ONLY and output.name != "bernoulli":
        raise ConfigError(
            f"model.output: {m.architecture} models binary data only (bernoulli); got {output.name}"
        )
    if output.name == "bernoulli" and levels != 2:
        raise ConfigError(f"model.output: bernoulli needs binary data; {spec.name} has {levels} levels")
    if output.name == "gaussian_mixture" and levels is not None:
        raise ConfigError(
            "model.output: gaussian_mixture is for continuous data; use categorical or logistic_mixture"
        )
    num_dims = math.prod(element_shape)
    network = build_network(m, element_shape, output.num_params, levels if tokens else None, conditioning)
    # Training may run the network bfloat16: its outputs return to float32 before the output
    # distribution, which stays normalised. log_prob, eval_metrics and sample stay float32.
    train_precision = precision.policy(
        config, family="autoregressive", architecture=m.architecture, supported=BF16_ARCHITECTURES
    )

    def targets(x: Array) -> Array:
        """Data values -> what the output distribution scores (classes for discrete outputs)."""
        if tokens:
            return x.astype(jnp.int32)
        if output.name in ("categorical", "logistic_mixture"):
            return outputs.to_targets(x, levels)
        return x

    def from_targets(values: Array) -> Array:
        if tokens:
            return values.astype(jnp.float32)
        if output.name in ("categorical", "logistic_mixture"):
            return outputs.from_targets(values, levels)
        return values.astype(jnp.float32)

    def inputs(x: Array) -> Array:
        """Data values -> network inputs: ids for tokens, [-1, 1] for multi-level pixels."""
        if tokens or levels in (None, 2):
            return x
        return 2.0 * x - 1.0

    def flat(x: Array) -> Array:
        return x.reshape(x.shape[0], num_dims)

    def condition(batch: Batch) -> Array | None:
        """y of a conditional model's batch; None for an unconditional model."""
        return None if conditioning is None else conditioning_lib.batch_condition(conditioning, batch)

    def log_prob_under_mask(
        params: Params, batch: Batch, mask_index, policy: precision.Precision = precision.FLOAT32
    ) -> Array:
        """`[B]` exact log p(x) (log p(x | y) when conditional) in nats; under a bfloat16 ``policy``
        the network runs bfloat16 and its output parameters come back float32 before the
        (normalised) output distribution."""
        x = flat(batch["x"])
        out = policy.apply(network.apply, params["model"], inputs(x), condition(batch), mask_index)
        return jnp.sum(output.log_prob(out, targets(x)), axis=-1)

    def init(rng: Array, batch: Batch) -> Params:
        return {"model": network.init(rng, inputs(flat(batch["x"])), condition(batch))}

    def model_log_prob(params: Params, batch: Batch, rng: Array | None = None) -> Array:
        if network.num_masks == 1:
            return log_prob_under_mask(params, batch, 0)
        per_mask = jax.lax.map(lambda k: log_prob_under_mask(params, batch, k), jnp.arange(network.num_masks))
        return ensemble_log_prob(per_mask)

    def loss(params: Params, batch: Batch, rng: Array):
        # Order-/connectivity-agnostic training: one random mask per minibatch.
        mask_index = jax.random.randint(rng, (), 0, network.num_masks)
        nll = masked_mean(-log_prob_under_mask(params, batch, mask_index, train_precision), batch)
        if not l2:
            return nll, {"nll": nll}
        # The logged "nll" stays the data term, comparable with unregularised runs.
        penalty = l2 * kernel_sum_of_squares(params["model"])
        return nll + penalty, {"nll": nll, "l2_penalty": penalty}

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        metrics = {}
        if network.num_masks > 1:
            metrics["nll_one_mask"] = -log_prob_under_mask(params, batch, 0)
        if tokens:
            metrics["nll_per_token"] = -model_log_prob(params, batch) / num_dims
        return metrics

    def sample(params: Params, rng: Array, num_samples: int, *, cond: Array | None = None) -> Array:
        """`[N, *element_shape]` draws of x, of x ~ p(x | y) for y = ``cond`` when conditional
        (labels `[N]` or arrays `[N, *cond_shape]`; default ``arange(N) % num_classes``)."""
        if conditioning is None:
            conditioning_lib.no_condition(cond, "autoregressive")
            y = None
        else:
            y = conditioning_lib.sample_condition(conditioning, cond, num_samples)
        initial = jnp.zeros((num_samples, num_dims), jnp.float32)

        def draw(key: Array, dist_params: Array) -> Array:
            return from_targets(output.sample(key, dist_params))

        variables = params["model"]
        mask_key, rng = jax.random.split(rng)
        if network.incremental:
            module = network.module

            def step(state, previous, t):
                state, out = module.apply(variables, state, inputs(previous), t, method=type(module).step)
                return state, out

            state = module.apply(variables, num_samples, num_dims, method=type(module).initial_state)
            x = samplers.sample_autoregressive_incremental(rng, step, draw, state, initial)
        elif network.num_masks > 1:
            # The ensemble is a mixture: each sample draws its mask, then its ordering.
            masks = jax.random.randint(mask_key, (num_samples,), 0, network.num_masks)
            orderings = jnp.asarray(network.module.orderings(num_dims))[masks]

            def per_sample(x_row, k, y_row):
                y_one = None if y_row is None else y_row[None]
                return network.apply(variables, inputs(x_row[None]), y_one, k)[0]

            y_axis = None if y is None else 0
            x = samplers.sample_autoregressive(
                rng,
                lambda x: jax.vmap(per_sample, in_axes=(0, 0, y_axis))(x, masks, y),
                draw,
                initial,
                ordering=orderings,
            )
        elif m.architecture in IMAGE_ONLY:
            # Each pass sees only the rows the current pixel can read (exact; H/(R+1) less work).
            module = network.module

            def image_params(window: Array) -> Array:
                args = (inputs(window),) if y is None else (inputs(window), y)
                return module.apply(variables, *args)

            images = initial.reshape(num_samples, *element_shape)
            x = samplers.sample_image_autoregressive(
                rng, image_params, draw, images, context_rows=module.context_rows
            )
        else:
            made = m.architecture == "made"
            x = samplers.sample_autoregressive(
                rng,
                lambda x: network.apply(variables, inputs(x), y, 0),
                draw,
                initial,
                ordering=jnp.asarray(network.module.orderings(num_dims)[0]) if made else None,
            )
        return x.reshape(num_samples, *element_shape)

    return GenerativeModel(
        init=init,
        losses={"model": loss},
        sample=sample,
        log_prob=model_log_prob,
        element_shape=element_shape,
        eval_metrics=eval_metrics if (network.num_masks > 1 or tokens) else None,
        # The masked layers' default tap form is shifted slices and matmuls (no XLA convolution).
        convolutional=m.architecture in CONVOLUTIONAL and masked.TAP_FORM != "im2col",
        conditioning=conditioning,
    )


def exact_kl(
    model: GenerativeModel,
    params: Params,
    outcomes: np.ndarray,
    log_density: Callable[[np.ndarray], np.ndarray],
) -> float:
    """KL(p_data || model) in nats by enumeration over every outcome of a small discrete space.

    Args:
      model: the bundle, whose ``log_prob`` scores ``{"x": outcomes}``.
      params: its parameters.
      outcomes: ``[N, *element_shape]`` every possible example (for ``toy_binary``
        datasets, ``dataset.outcomes()``; at most 2^20 of them).
      log_density: exact ``log p_data(x)``, ``[N, ...] -> [N]`` nats.
    """
    log_q = jax.jit(lambda x: model.log_prob(params, {"x": x}))(jnp.asarray(outcomes))
    log_p = jnp.asarray(log_density(outcomes), jnp.float32)
    return float(jnp.sum(jnp.exp(log_p) * (log_p - log_q)))


def exact_conditional_kl(
    model: GenerativeModel,
    params: Params,
    outcomes: np.ndarray,
    conditional_log_density: Callable[[np.ndarray, np.ndarray], np.ndarray],
    label_probs: np.ndarray,
) -> tuple[float, np.ndarray]:
    """E_y KL(p_data(x | y) || model(x | y)) in nats by enumeration, and the per-label KLs `[K]`.

    Args:
      model: a conditional bundle (labels), whose ``log_prob`` scores ``{"x", "label"}``.
      params: its parameters.
      outcomes: ``[N, *element_shape]`` every possible example (``dataset.outcomes()``).
      conditional_log_density: exact ``log p_data(x | y)``, ``(x [N, ...], y [N]) -> [N]`` nats
        (``dataset.conditional_log_density``).
      label_probs: ``[K]`` p(y) (``dataset.label_probs``), the weights of the average.
    """
    score = jax.jit(lambda x, y: model.log_prob(params, {"x": x, "label": y}))
    per_label = []
    for label in range(len(label_probs)):
        y = np.full(len(outcomes), label, np.int32)
        log_q = np.asarray(score(jnp.asarray(outcomes), jnp.asarray(y)), np.float64)
        log_p = np.asarray(conditional_log_density(outcomes, y), np.float64)
        per_label.append(np.sum(np.exp(log_p) * (log_p - log_q)))
    per_label = np.asarray(per_label)
    return float(np.dot(label_probs, per_label)), per_label
