"""DCGAN players (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional GANs"), sized for small images whose height and width are divisible by 4.

Generator, z `[B, L]` -> x `[B, H, W, C]` (h = H/4, w = W/4, F = ``features``):

    Dense -> (h, w, 2F) -> norm -> ReLU -> ConvT(F, 4x4, /2) -> norm -> ReLU -> ConvT(C, 4x4, /2) -> output

Discriminator, x `[B, H, W, C]` -> `[B]` logits / critic values:

    Conv(F, 4x4, /2) -> LeakyReLU(0.2) -> Conv(2F, 4x4, /2) -> norm -> LeakyReLU(0.2)
        -> [minibatch std-dev channel] -> flatten -> Dense(1)

Strided (transposed) convolutions replace pooling, as the paper recommends; a 4x4 kernel with
stride 2 and 'SAME' padding exactly doubles (halves) H and W, so 8x8, 28x28 and 32x32 images
pass through 2x2, 7x7 and 8x8 feature maps.

The generator's batch normalisation (Ioffe & Szegedy 2015) is `BatchStatNorm`: it always uses
the current batch's statistics and keeps no running averages, so the model has parameters only.
The critic gets no batch norm: it would couple the examples of a batch and so break the
per-example gradient penalty of WGAN-GP (Gulrajani et al. 2017, sec. 4), whose authors use
layer normalisation instead ("layer" here: per example over (H, W, C), per-channel scale/bias).

Class-conditional players (``conditioning`` set, `genjax.models.gan.projection`): the generator
reads [z, one-hot(y)] in its first dense layer; the critic is a projection discriminator, its
logit plus <embed(y), phi(x)> with phi(x) the flattened features the final Dense reads.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.conditioning import Conditioning
from genjax.models.gan.minibatch import MinibatchStdDev
from genjax.models.gan.mlp import LEAKY_SLOPE
from genjax.models.gan.projection import condition_latents, projection
from genjax.models.networks.convolution import Conv, ConvTranspose

Array = jax.Array

GENERATOR_NORMS = ("batch", "none")
DISCRIMINATOR_NORMS = ("none", "layer")
OUTPUTS = {"sigmoid": nn.sigmoid, "tanh": nn.tanh, "none": lambda x: x}
NORM_EPSILON = 1e-5


def _check_choice(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: got {value!r}; allowed: {', '.join(allowed)}")


class BatchStatNorm(nn.Module):
    """`[B, ..., C] -> [B, ..., C]`: batch normalisation with the current batch's statistics, always.

    y = (x - mean) / sqrt(var + epsilon) * scale + bias, with mean and (biased) var per channel
    over the batch and every spatial axis, and learnable ``scale`` (init 1) and ``bias`` (init 0).
    There are no running averages and so no ``batch_stats`` collection: the module holds
    "params" only and behaves the same in training and sampling, like a DCGAN generator kept in
    train mode. Consequently a sample depends on the other samples drawn in the same batch
    (they share the statistics), so draw samples in batches of the training size or larger.
    """

    epsilon: float = NORM_EPSILON

    @nn.compact
    def __call__(self, x: Array) -> Array:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes)
        # Two-pass variance: E[(x - mean)^2] does not cancel catastrophically like E[x^2] - mean^2.
        var = jnp.square(x - mean).mean(axis=axes)
        normalised = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        return normalised * scale.astype(x.dtype) + bias.astype(x.dtype)


class DCGANGenerator(nn.Module):
    """z `[B, L]` -> images `[B, H, W, C]` for ``image_shape`` = (H, W, C), H and W divisible by 4.

    Attributes:
      image_shape: (H, W, C) of the data.
      features: F; the 1/4-resolution map has 2F channels, the 1/2-resolution map F.
      norm: "batch" (`BatchStatNorm` after the projection and the first upsampling; the layers
        before it then have no bias, which the normalisation would subtract anyway) or "none".
      output: "sigmoid" (data in [0, 1]), "tanh" (data in [-1, 1]) or "none" (raw values).
      conditioning: a class-conditional generator: the projection reads [z, one-hot(y)].
    """

    image_shape: tuple[int, int, int]
    features: int = 64
    norm: str = "batch"
    output: str = "sigmoid"
    conditioning: Conditioning | None = None

    def __post_init__(self) -> None:  # validate at construction, before any tracing
        height, width, _ = self.image_shape
        if height % 4 or width % 4:
            raise ValueError(
                f"DCGANGenerator: image height and width must be divisible by 4 (two 2x upsamplings); "
                f"got image_shape={tuple(self.image_shape)}"
            )
        _check_choice("DCGANGenerator.norm", self.norm, GENERATOR_NORMS)
        _check_choice("DCGANGenerator.output", self.output, tuple(OUTPUTS))
        super().__post_init__()

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None) -> Array:
        height, width, channels = self.image_shape
        features, batch_norm = self.features, self.norm == "batch"

        def norm(h: Array, name: str) -> Array:
            return BatchStatNorm(name=name)(h) if batch_norm else h

        inputs = condition_latents(self.conditioning, z, y)
        h = nn.Dense(height // 4 * width // 4 * 2 * features, use_bias=not batch_norm, name="project")(inputs)
        h = h.reshape(z.shape[0], height // 4, width // 4, 2 * features)
        h = nn.relu(norm(h, "norm_0"))
        conv = dict(kernel_size=(4, 4), strides=(2, 2), padding="SAME")
        h = ConvTranspose(features, use_bias=not batch_norm, name="upsample", **conv)(h)
        h = nn.relu(norm(h, "norm_1"))
        h = ConvTranspose(channels, name="output", **conv)(h)
        return OUTPUTS[self.output](h)


class DCGANDiscriminator(nn.Module):
    """Images `[B, H, W, C]` -> logits / critic values `[B]`.

    Attributes:
      features: F; the two strided convolutions have F and 2F channels.
      norm: "none" or "layer" (after the second convolution, per example over (H, W, C)).
      minibatch_std: append `MinibatchStdDev` (groups of ``std_group_size``) as a channel
        before the final Dense; example i's output then depends on its group.
      conditioning: a projection discriminator: + <embed(y), phi(x)>, phi(x) the final Dense's input.
    """

    features: int = 64
    norm: str = "none"
    minibatch_std: bool = False
    std_group_size: int = 4
    conditioning: Conditioning | None = None

    def __post_init__(self) -> None:
        _check_choice("DCGANDiscriminator.norm", self.norm, DISCRIMINATOR_NORMS)
        super().__post_init__()

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None) -> Array:
        conv = dict(kernel_size=(4, 4), strides=(2, 2), padding="SAME")
        h = nn.leaky_relu(Conv(self.features, name="conv_0", **conv)(x), LEAKY_SLOPE)
        h = Conv(2 * self.features, name="conv_1", **conv)(h)
        if self.norm == "layer":
            h = nn.LayerNorm(epsilon=NORM_EPSILON, reduction_axes=(1, 2, 3), feature_axes=-1, name="norm")(h)
        h = nn.leaky_relu(h, LEAKY_SLOPE)
        if self.minibatch_std:
            h = MinibatchStdDev(self.std_group_size)(h)
        phi = h.reshape(h.shape[0], -1)
        logits = nn.Dense(1, name="output")(phi)[:, 0]
        if self.conditioning is None:
            return logits
        return logits + projection(self.conditioning, phi, y)
