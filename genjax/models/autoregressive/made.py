"""MADE with a set of masks: orderings, connectivity resampling and mask ensembles (Germain et al. 2015).

One set of weights serves ``num_masks`` masks. Mask k has its own input
ordering (random when ``order_agnostic``) and its own hidden-unit degrees
(drawn afresh when ``connectivity_agnostic``); training draws one mask per
minibatch, so the network learns every conditional it is asked for
("order-agnostic training"). At test time the masks form an ensemble whose
density is the *average of the probabilities*,

    p(x) = (1/K) sum_k p_k(x),

a mixture, hence still normalised; averaging logits would not be.

Degrees are drawn with numpy from ``seed`` at trace time and stored as
small integer tables `[K, units]`; the `[in, out]` masks are rebuilt from
them inside the jitted step (cheap comparisons) rather than baked in as
large constants. With ``num_masks == 1`` and both flags off this is the
plain single-mask MADE in the natural order.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.models.networks.layers import activation
from genjax.models.networks.made import hidden_degrees, input_degrees

Array = jax.Array


def mask_degrees(
    num_dims: int,
    hidden_sizes: Sequence[int],
    *,
    num_masks: int,
    order_agnostic: bool,
    connectivity_agnostic: bool,
    seed: int,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The degree tables of every mask.

    Returns:
      ``(orderings [K, D], hidden [K, H_l] per layer, inputs [K, D])``: ordering k
      lists the dimensions in generation order; ``inputs[k, d]`` is the
      position (1..D) of dimension d in it; hidden degrees lie in 1..D-1.
    """
    orderings, inputs, hidden = [], [], [[] for _ in hidden_sizes]
    for k in range(num_masks):
        rng = np.random.default_rng([seed, k])
        ordering = rng.permutation(num_dims) if order_agnostic else np.arange(num_dims)
        degrees = input_degrees(ordering)
        orderings.append(ordering)
        inputs.append(degrees)
        low = 1
        for layer, size in enumerate(hidden_sizes):
            if connectivity_agnostic:
                # Each unit's degree is drawn at or above the previous layer's lowest,
                # so no unit is disconnected (the paper's sampling rule).
                layer_degrees = rng.integers(low, max(num_dims - 1, 1) + 1, size=size)
            else:
                layer_degrees = hidden_degrees(size, num_dims)
            hidden[layer].append(layer_degrees)
            low = int(layer_degrees.min())
    return np.stack(orderings), [np.stack(layer) for layer in hidden], np.stack(inputs)


class MADE(nn.Module):
    """`x [B, D], mask_index -> [B, D, num_params]` under mask ``mask_index`` (a scalar in 0..K-1).

    Output ``[:, d]`` depends only on the dimensions before d in ordering
    ``orderings[mask_index]`` (see `orderings`).

    Attributes:
      num_dims: D.
      hidden_sizes: widths of the masked hidden layers.
      num_params: outputs per dimension.
      num_masks: K masks sharing the weights.
      order_agnostic: random input orderings (else the natural order for every mask).
      connectivity_agnostic: random hidden degrees per mask (else evenly cycled).
      seed: seeds the degree draws (fixed by the config, so checkpoints stay valid).
      activation: hidden nonlinearity name.
      direct_connection: add a masked linear map from the inputs straight to the
        outputs (the paper's optional direct connections, an FVSBN inside MADE).
        In natural order the pixel just before d is otherwise seen by about one
        hidden unit in D/H, so the nearest, most telling neighbours get through
        a very narrow path.
    """

    num_dims: int
    hidden_sizes: Sequence[int]
    num_params: int = 1
    num_masks: int = 1
    order_agnostic: bool = False
    connectivity_agnostic: bool = False
    seed: int = 0
    activation: str = "relu"
    direct_connection: bool = False

    def degrees(self) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        return mask_degrees(
            self.num_dims,
            tuple(self.hidden_sizes),
            num_masks=self.num_masks,
            order_agnostic=self.order_agnostic,
            connectivity_agnostic=self.connectivity_agnostic,
            seed=self.seed,
        )

    def orderings(self) -> np.ndarray:
        """`[K, D]` int: mask k generates dimension ``orderings[k, i]`` i-th."""
        return self.degrees()[0]

    @nn.compact
    def __call__(self, x: Array, mask_index: Array | int = 0) -> Array:
        if x.ndim != 2 or x.shape[-1] != self.num_dims:
            raise ValueError(f"MADE expects [B, {self.num_dims}]; got shape {x.shape}")
        _, hidden_tables, input_table = self.degrees()
        act = activation(self.activation)
        degrees_in = jnp.asarray(input_table)[mask_index]  # [D]
        h, previous = x, degrees_in
        for index, (size, table) in enumerate(zip(self.hidden_sizes, hidden_tables, strict=True)):
            current = jnp.asarray(table)[mask_index]
            mask = (current[None, :] >= previous[:, None]).astype(x.dtype)
            kernel = self.param(f"kernel_{index}", nn.initializers.lecun_normal(), (h.shape[-1], size))
            bias = self.param(f"bias_{index}", nn.initializers.zeros, (size,))
            h, previous = act(h @ (kernel * mask) + bias), current
        # Output unit d * P + p is parameter p of dimension d and sees degrees < degree(d).
        out_degrees = jnp.repeat(degrees_in, self.num_params)
        mask = (out_degrees[None, :] > previous[:, None]).astype(x.dtype)
        width = self.num_dims * self.num_params
        kernel = self.param("output_kernel", nn.initializers.zeros, (h.shape[-1], width))
        bias = self.param("output_bias", nn.initializers.zeros, (width,))
        out = h @ (kernel * mask) + bias
        if self.direct_connection:
            direct_mask = (out_degrees[None, :] > degrees_in[:, None]).astype(x.dtype)
            direct = self.param("direct_kernel", nn.initializers.zeros, (self.num_dims, width))
            out = out + x @ (direct * direct_mask)
        return out.reshape(x.shape[0], self.num_dims, self.num_params)


def ensemble_log_prob(log_probs: Array) -> Array:
    """Log of the mean probability over masks: `[K, B] -> [B]`, ``logsumexp - log K``."""
    return jax.nn.logsumexp(log_probs, axis=0) - jnp.log(log_probs.shape[0])
