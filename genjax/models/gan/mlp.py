"""Fully connected GAN players (Goodfellow et al. 2014) for vectors and toy 2-D data.

* `MLPGenerator`: z `[B, L]` -> hidden stack -> linear output x `[B, D]` (no squashing: toy
  data is unbounded; an image family can squash outside).
* `MLPDiscriminator`: x `[B, ...]` -> hidden stack -> [minibatch std-dev feature] -> one linear
  unit, a logit for the (non-saturating) GAN losses or a critic value for WGAN losses.

Conditional players (``conditioning`` set; see `genjax.models.gan.projection`): the generator
reads y's features (one-hot labels) concatenated to z, and the critic adds the projection term
<embed(y), phi(x)> to its linear output, phi(x) being the input of that last layer.

"leaky_relu" here means slope 0.2 on the negative side (Radford, Metz & Chintala 2016, DCGAN),
the usual choice in GAN discriminators; `genjax.models.networks.layers.activation("leaky_relu")` is Flax's
default slope 0.01, so this module resolves that one name itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax

from genjax.models.conditioning import Conditioning
from genjax.models.gan.minibatch import MinibatchStdDev
from genjax.models.gan.projection import condition_latents, projection
from genjax.models.networks.layers import activation as shared_activation

Array = jax.Array

LEAKY_SLOPE = 0.2


def gan_activation(name: str) -> Callable[[Array], Array]:
    """`layers.activation(name)`, except "leaky_relu", which gets the GAN slope 0.2."""
    if name == "leaky_relu":
        return partial(nn.leaky_relu, negative_slope=LEAKY_SLOPE)
    return shared_activation(name)


class MLPGenerator(nn.Module):
    """z `[B, L]` (and y) -> x `[B, output_dim]`: Dense layers with ``activation`` between them,
    linear output; a conditional generator (``conditioning``) reads [z, features(y)]."""

    hidden: Sequence[int]
    output_dim: int
    activation: str = "relu"
    conditioning: Conditioning | None = None

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None) -> Array:
        act = gan_activation(self.activation)
        h = condition_latents(self.conditioning, z, y)
        for index, size in enumerate(self.hidden):
            h = act(nn.Dense(size, name=f"hidden_{index}")(h))
        return nn.Dense(self.output_dim, name="output")(h)


class MLPDiscriminator(nn.Module):
    """x `[B, ...]` (flattened to `[B, D]`, times ``input_scale``) -> logits / critic values `[B]`.

    With ``minibatch_std`` the `MinibatchStdDev` feature (groups of ``std_group_size``) is
    appended after the hidden stack, i.e. to the input of the last (hidden -> output) layer,
    and the output of example i then depends on the other members of its group. With
    ``conditioning`` it is a projection discriminator: output(h) + <embed(y), h>, h the
    output layer's input.
    """

    hidden: Sequence[int]
    activation: str = "leaky_relu"
    minibatch_std: bool = False
    std_group_size: int = 4
    conditioning: Conditioning | None = None
    # Metz et al.'s toy critic divides its input by 4, so the ring's radius-2 points land in
    # about [-1, 1]; with Adam this sets the first layer's effective step, not only its init.
    input_scale: float = 1.0

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None) -> Array:
        act = gan_activation(self.activation)
        h = x.reshape(x.shape[0], -1)
        if self.input_scale != 1.0:
            h = h * self.input_scale
        for index, size in enumerate(self.hidden):
            h = act(nn.Dense(size, name=f"hidden_{index}")(h))
        if self.minibatch_std:
            h = MinibatchStdDev(self.std_group_size)(h)
        logits = nn.Dense(1, name="output")(h)[:, 0]
        if self.conditioning is None:
            return logits
        return logits + projection(self.conditioning, h, y)
