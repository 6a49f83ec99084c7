"""The VQ-VAE's convolutional encoder and decoder (the codebook and the prior live in family.py)."""

from __future__ import annotations

import flax.linen as nn
import jax

from genjax.models.networks.convolution import Conv
from genjax.models.networks.layers import ConvDownsampler, ConvUpsampler, activation

Array = jax.Array


class VQVAENetworks(nn.Module):
    """Encoder `[B, H, W, C] -> [B, h, w, D]` and decoder `[B, h, w, D] -> [B, H, W, C]`.

    The encoder halves H and W once per entry of ``conv_features`` (stride-2 3x3
    convolutions), then a 3x3 convolution and a 1x1 projection to the code size D;
    the decoder mirrors it. Also holds the likelihood's free per-dimension log-scale
    (used by the discretized-logistic and Gaussian likelihoods, as in the VAE family).

    Attributes:
      element_shape: `(H, W, C)`, H and W divisible by 2**len(conv_features).
      embedding_dim: D, the size of one code.
      conv_features: widths of the downsampling layers.
      activation: name from genjax.models.networks.layers.activation.
    """

    element_shape: tuple[int, ...]
    embedding_dim: int
    conv_features: tuple[int, ...] = (32, 64)
    activation: str = "relu"

    def setup(self):
        width = self.conv_features[-1]
        self.encoder_convs = ConvDownsampler(self.conv_features, self.activation)
        self.encoder_mix = Conv(width, (3, 3), padding="SAME")
        self.encoder_out = Conv(self.embedding_dim, (1, 1))
        self.decoder_in = Conv(width, (3, 3), padding="SAME")
        self.decoder_convs = ConvUpsampler(
            tuple(reversed(self.conv_features)), self.element_shape[-1], self.activation
        )
        self.log_scale = self.param("log_scale", nn.initializers.zeros, self.element_shape)

    def encode(self, x: Array) -> Array:
        """x `[B, H, W, C]` -> z_e `[B, h, w, D]`."""
        act = activation(self.activation)
        h = self.encoder_convs(x)
        return self.encoder_out(act(self.encoder_mix(h)))

    def decode(self, z: Array) -> Array:
        """Quantised codes `[B, h, w, D]` -> location parameters `[B, H, W, C]` (logits or means)."""
        act = activation(self.activation)
        return self.decoder_convs(act(self.decoder_in(z)))

    def __call__(self, x: Array) -> Array:
        return self.decode(self.encode(x))
