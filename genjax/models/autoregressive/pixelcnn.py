"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks").

A stack of masked convolutions over `[B, H, W, C]` images whose output for colour c of pixel
(i, j) reads only the pixels before (i, j) in raster order and the colours < c of (i, j) itself:
the channel-fastest autoregressive order d = (i W + j) C + c of the family.

    mask-A k x k conv (2h)  ->  residual blocks: x + [ReLU, 1x1 (h), ReLU, 3x3 B (h), ReLU, 1x1 (2h)]
                            ->  [ReLU, 1x1 B (output_features)] x num_output_layers
                            ->  ReLU, 1x1 B (C * num_params)

Stacked 3x3 masks leave a blind spot: pixels up and to the right of (i, j) that no chain of
layers reaches however deep the net (see `GatedPixelCNN` for the fix).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from genjax.models.networks.masked import MaskedConv2D

Array = jax.Array


def check_divisible(num_channels: int, **counts: int) -> None:
    """Raises ValueError unless every feature count splits evenly into the C colour groups."""
    for name, count in counts.items():
        if count % num_channels:
            raise ValueError(
                f"{name}={count} must be divisible by the number of image channels C={num_channels} "
                "(hidden features are split into one group per colour)"
            )


def group_params(out: Array, num_channels: int, num_params: int) -> Array:
    """`[B, H, W, P * C]` -> `[B, H, W, C, P]`: channel p * C + c is parameter p of colour c.

    Groups are interleaved (channel k is colour k % C), so colours are the fast axis here.
    """
    grouped = out.reshape(*out.shape[:-1], num_params, num_channels)
    return grouped.swapaxes(-1, -2)


class MaskedOutputHead(nn.Module):
    """`[B, H, W, F] -> [B, H, W, C, num_params]`: ReLU + 1x1 mask-B layers, then the parameters.

    Every layer is mask B with C groups, so out[..., c, :] keeps exactly the dependencies of
    colour group c of the input features.
    """

    num_params: int
    num_channels: int
    output_features: int = 256
    num_output_layers: int = 2

    @nn.compact
    def __call__(self, h: Array) -> Array:
        groups = self.num_channels
        widths = [self.output_features] * (self.num_output_layers if self.output_features > 0 else 0)
        for index, width in enumerate(widths):
            h = MaskedConv2D(width, (1, 1), "B", groups, name=f"hidden_{index}")(nn.relu(h))
        out = MaskedConv2D(groups * self.num_params, (1, 1), "B", groups, name="params")(nn.relu(h))
        return group_params(out, groups, self.num_params)


class ResidualBlock(nn.Module):
    """`[B, H, W, 2h] -> [B, H, W, 2h]`: x + 1x1 -> 3x3 mask B -> 1x1, each after a ReLU."""

    features: int
    num_groups: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        g = self.num_groups
        h = MaskedConv2D(self.features, (1, 1), "B", g, name="reduce")(nn.relu(x))
        h = MaskedConv2D(self.features, (3, 3), "B", g, name="conv")(nn.relu(h))
        h = MaskedConv2D(x.shape[-1], (1, 1), "B", g, name="expand")(nn.relu(h))
        return x + h


class PixelCNN(nn.Module):
    """`x [B, H, W, C] -> [B, H, W, C, num_params]`; entry (i, j, c) reads only dimensions before it.

    Attributes:
      num_params: distribution parameters per dimension (1 for Bernoulli logits, 256 for a softmax).
      features: h; the residual stream has 2h channels. h must be divisible by C.
      num_blocks: residual blocks.
      first_kernel: odd size of the first (mask A) convolution.
      output_features: width of the hidden 1x1 output layers (0: none); divisible by C.
      num_output_layers: how many hidden 1x1 output layers (the paper uses 2).
    """

    num_params: int
    features: int = 64
    num_blocks: int = 7
    first_kernel: int = 7
    output_features: int = 256
    num_output_layers: int = 2

    @property
    def context_rows(self) -> int:
        """R: outputs in row i read input rows i-R..i (the first kernel's half, one row per 3x3 block)."""
        return self.first_kernel // 2 + self.num_blocks

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if x.ndim != 4:
            raise ValueError(f"PixelCNN works on images [B, H, W, C]; got shape {x.shape}")
        channels = x.shape[-1]
        check_divisible(channels, features=self.features, output_features=self.output_features)
        kernel = (self.first_kernel, self.first_kernel)
        h = MaskedConv2D(2 * self.features, kernel, "A", channels, name="input_conv")(x)
        for index in range(self.num_blocks):
            h = ResidualBlock(self.features, channels, name=f"block_{index}")(h)
        head = MaskedOutputHead(
            self.num_params, channels, self.output_features, self.num_output_layers, name="head"
        )
        return head(h)
