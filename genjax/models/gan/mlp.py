"""Fully connected GAN players (Goodfellow et al. 2014) for vectors and toy 2-D data.

* `MLPGenerator`: z `[B, L]` -> hidden stack -> linear output x `[B, D]` (no squashing: toy
  data is unbounded; an image family can squash outside).
* `MLPDiscriminator`: x `[B, ...]` -> hidden stack -> [minibatch std-dev feature] -> one linear
  unit, a logit for the (non-saturating) GAN losses or a critic value for WGAN losses.

"leaky_relu" here means slope 0.2 on the negative side (Radford, Metz & Chintala 2016, DCGAN),
the usual choice in GAN discriminators; `genjax.models.networks.layers.activation("leaky_relu")` is Flax's
default slope 0.01, so this module resolves that one name itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax

from genjax.models.gan.minibatch import MinibatchStdDev
from genjax.models.networks.layers import activation as shared_activation

Array = jax.Array

LEAKY_SLOPE = 0.2


def gan_activation(name: str) -> Callable[[Array], Array]:
    """`layers.activation(name)`, except "leaky_relu", which gets the GAN slope 0.2."""
    if name == "leaky_relu":
        return partial(nn.leaky_relu, negative_slope=LEAKY_SLOPE)
    return shared_activation(name)


class MLPGenerator(nn.Module):
    """z `[B, L]` -> x `[B, output_dim]`: Dense layers with ``activation`` between them, linear output."""

    hidden: Sequence[int]
    output_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, z: Array) -> Array:
        act = gan_activation(self.activation)
        h = z
        for index, size in enumerate(self.hidden):
            h = act(nn.Dense(size, name=f"hidden_{index}")(h))
        return nn.Dense(self.output_dim, name="output")(h)


class MLPDiscriminator(nn.Module):
    """x `[B, ...]` (flattened to `[B, D]`) -> logits / critic values `[B]`.

    With ``minibatch_std`` the `MinibatchStdDev` feature (groups of ``std_group_size``) is
    appended after the hidden stack, i.e. to the input of the last (hidden -> output) layer,
    and the output of example i then depends on the other members of its group.
    """

    hidden: Sequence[int]
    activation: str = "leaky_relu"
    minibatch_std: bool = False
    std_group_size: int = 4

    @nn.compact
    def __call__(self, x: Array) -> Array:
        act = gan_activation(self.activation)
        h = x.reshape(x.shape[0], -1)
        for index, size in enumerate(self.hidden):
            h = act(nn.Dense(size, name=f"hidden_{index}")(h))
        if self.minibatch_std:
            h = MinibatchStdDev(self.std_group_size)(h)
        return nn.Dense(1, name="output")(h)[:, 0]
