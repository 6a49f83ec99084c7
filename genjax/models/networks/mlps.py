"""Small MLP networks for energy-based and noise-conditional models on toy and flattened data.

* `EnergyMLP`: E_theta(x) -> scalar, the unnormalised negative log-density of an EBM
  (p(x) ∝ exp(-E(x)); LeCun et al. 2006). Its activation is smooth (SiLU) by default because
  Langevin sampling and score matching differentiate E with respect to x (and score matching
  once more with respect to theta): ReLU's gradient is piecewise constant, its Hessian zero.
* `NoiseConditionalMLP`: f_theta(x, c) with the shape of x: a score s(x, sigma) for NCSN
  (Song & Ermon 2019; c = log sigma) or a noise prediction eps(x_t, t) for DDPM (c = t as a
  float). The embedding of c is projected into every hidden layer and added before the
  activation (a shift-only FiLM, Perez et al. 2018), so each noise level can switch units on
  and off and the network can represent very different fields at different levels. A
  conditional one (``conditioning`` set) adds a label embedding (`ConditionEmbedding`) to the
  code of c before its activation, so y shifts every hidden layer the way c does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.conditioning import Conditioning
from genjax.models.networks.conditioning import ConditionEmbedding
from genjax.models.networks.embeddings import sinusoidal_embedding
from genjax.models.networks.layers import MLP, activation
from genjax.models.precision import compute_dtype_of

Array = jax.Array


class EnergyMLP(nn.Module):
    """x `[B, ...]` -> energy `[B]` (flattens all but the batch axis; the last layer is linear).

    Attributes:
      hidden: widths of the hidden layers.
      activation: a `layers.ACTIVATIONS` name; keep it smooth ("silu", "softplus", "elu",
        "gelu", "tanh") when sampling with Langevin dynamics or training by score matching.
    """

    hidden: Sequence[int]
    activation: str = "silu"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        return MLP(tuple(self.hidden), 1, self.activation)(x)[:, 0]


class NoiseConditionalMLP(nn.Module):
    """(x `[B, *D]`, cond `[B]` float, y) -> `[B, *D]`, conditioned on cond (and y) at every hidden layer.

    cond -> sinusoidal embedding -> Dense -> activation = e; hidden layer l computes
    ``h_l = act(Dense(h_{l-1}) + Dense_l(e))``. The output layer starts at zero: the initial
    score (NCSN) or noise prediction (DDPM) is 0, the loss starts at its 'predict nothing' value
    (E|eps|^2 or E|z / sigma|^2 sigma^2) rather than at a random field whose size grows with
    1 / sigma, and the earliest updates are not dominated by undoing random outputs (DDPM's
    U-Net zero-initialises its output convolution for the same reason).

    Attributes:
      hidden: widths of the hidden layers (at least one).
      embedding_dim: width of the sinusoidal code of cond and of its projection.
      activation: a `layers.ACTIVATIONS` name (smooth by default: score models are
        differentiated through, e.g. by sliced score matching).
      conditioning: None (unconditional; ``y`` must be None) or what y is: labels `[B]` (the
        null label included) or a conditioning array `[B, *cond_shape]`.
    """

    hidden: Sequence[int]
    embedding_dim: int = 64
    activation: str = "silu"
    conditioning: Conditioning | None = None

    @nn.compact
    def __call__(self, x: Array, cond: Array, y: Array | None = None) -> Array:
        if not self.hidden:
            raise ValueError("NoiseConditionalMLP needs at least one hidden layer to condition")
        act = activation(self.activation)
        cond = jnp.broadcast_to(jnp.asarray(cond, jnp.float32), (x.shape[0],))
        # The code is computed in float32 (cond may be a timestep up to 1000), then joins x's dtype.
        code = sinusoidal_embedding(cond, self.embedding_dim).astype(compute_dtype_of(x))
        embedding = nn.Dense(self.embedding_dim, name="embed")(code)
        if self.conditioning is not None:
            label = ConditionEmbedding(self.conditioning, self.embedding_dim, name="condition")(y)
            embedding = embedding + label.astype(embedding.dtype)
        elif y is not None:
            raise ValueError("NoiseConditionalMLP: y given to an unconditional network (conditioning=None)")
        embedding = act(embedding)
        h = x.reshape(x.shape[0], -1)
        for index, width in enumerate(self.hidden):
            h = nn.Dense(width, name=f"dense_{index}")(h)
            h = act(h + nn.Dense(width, name=f"cond_{index}")(embedding))
        out = nn.Dense(math.prod(x.shape[1:]), kernel_init=nn.initializers.zeros, name="out")(h)
        return out.reshape(x.shape)
