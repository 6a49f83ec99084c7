"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

Two stacks replace PixelCNN's single masked stack, which removes its blind spot:

* the vertical stack sees the k//2 + 1 rows ending at the current one (all columns within reach),
  so after l layers it covers a whole widening triangle of rows above;
* the horizontal stack sees the pixels left of the current one in its row (a 1 x k mask, A in
  the first layer and B after), plus the vertical stack shifted down one row, which carries
  everything strictly above. The shift is what keeps the current row out of the vertical input.

Each layer gates its pre-activations a = [a_tanh, a_sigmoid] (2F channels, plus an optional
learned per-class bias) as tanh(a_tanh) * sigmoid(a_sigmoid); the horizontal stack adds a 1x1
projection of the gate back onto its input (a residual connection, from the second layer on).
Horizontal channels are split into C interleaved colour groups (see `masked.pixel_mask`), so
colour c of a pixel sees colours < c of that pixel only.

Every layer is computed from its visible taps (`genjax.models.networks.masked`): the vertical
(k//2 + 1) x k convolution and the 1x1 projections as `PaddedConv2D` (parameters as ``nn.Conv``'s),
the horizontal 1 x k mask as the k//2 (mask A) or k//2 + 1 (mask B) taps at and left of the pixel.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.autoregressive.pixelcnn import MaskedOutputHead, check_divisible
from genjax.models.networks.masked import MaskedConv2D, PaddedConv2D

Array = jax.Array


def down_shift(x: Array) -> Array:
    """`[B, H, W, F]`: row i becomes row i - 1 of ``x`` (row 0 zeros), so row i sees only rows < i."""
    return jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def gate(a: Array) -> Array:
    """`[..., 2F] -> [..., F]`: tanh of the first half times sigmoid of the second."""
    tanh_part, sigmoid_part = jnp.split(a, 2, axis=-1)
    return jnp.tanh(tanh_part) * jax.nn.sigmoid(sigmoid_part)


class GatedLayer(nn.Module):
    """One gated layer: `(v [B, H, W, Fv], h [B, H, W, Fh]) -> (v' [.., F], h' [.., F])`.

    Attributes:
      features: F (divisible by ``num_groups``).
      kernel_size: odd k: the vertical kernel is (k//2 + 1) x k, the horizontal one 1 x k masked.
      first: mask A and no residual connection (the input is the image itself).
      num_groups: colour groups C.
      num_classes: size of the per-class gate biases; None for an unconditional layer.
    """

    features: int
    kernel_size: int = 3
    first: bool = False
    num_groups: int = 1
    num_classes: int | None = None

    @nn.compact
    def __call__(self, v: Array, h: Array, label: Array | None = None) -> tuple[Array, Array]:
        k, width = self.kernel_size, 2 * self.features
        # Vertical: rows i - k//2 .. i; padding only above keeps the output the same size.
        v_pre = PaddedConv2D(width, (k // 2 + 1, k), ((k // 2, 0), (k // 2, k // 2)), name="vertical")(v)
        mask_type = "A" if self.first else "B"
        h_pre = MaskedConv2D(width, (1, k), mask_type, self.num_groups, name="horizontal")(h)
        # The shifted vertical features hold only rows < i: every colour group may read them.
        h_pre = h_pre + PaddedConv2D(width, (1, 1), name="vertical_to_horizontal")(down_shift(v_pre))
        if self.num_classes is not None:  # one learned bias per class and gate unit, [B, 1, 1, 2F]
            v_pre = v_pre + nn.Embed(self.num_classes, width, name="vertical_bias")(label)[:, None, None]
            h_pre = h_pre + nn.Embed(self.num_classes, width, name="horizontal_bias")(label)[:, None, None]
        h_out = MaskedConv2D(self.features, (1, 1), "B", self.num_groups, name="horizontal_out")(gate(h_pre))
        return gate(v_pre), h_out if self.first else h + h_out


class GatedPixelCNN(nn.Module):
    """`x [B, H, W, C], label [B] | None -> [B, H, W, C, num_params]`, causal in the channel-fastest order.

    With ``num_layers`` >= max(H, W) and kernel 3 every output sees every earlier pixel (no blind
    spot). The class bias, when ``num_classes`` is set, enters every gate of both stacks.

    Attributes:
      num_params: distribution parameters per dimension.
      features: F channels of both stacks (divisible by C).
      num_layers: gated layers, the first included.
      kernel_size: odd k of the later layers.
      first_kernel: odd k of the first layer.
      num_classes: number of labels for class conditioning; None for none.
      output_features: width of the hidden 1x1 output layers (0: none); divisible by C.
      num_output_layers: how many hidden 1x1 output layers.
    """

    num_params: int
    features: int = 64
    num_layers: int = 7
    kernel_size: int = 3
    first_kernel: int = 7
    num_classes: int | None = None
    output_features: int = 256
    num_output_layers: int = 2

    @property
    def context_rows(self) -> int:
        """R: outputs in row i read input rows i-R..i.

        The vertical stack reaches k//2 rows further up per layer (first_kernel//2 in the
        first); the down-shift into the horizontal stack adds one more.
        """
        return self.first_kernel // 2 + (self.num_layers - 1) * (self.kernel_size // 2) + 1

    @nn.compact
    def __call__(self, x: Array, label: Array | None = None) -> Array:
        if x.ndim != 4:
            raise ValueError(f"GatedPixelCNN works on images [B, H, W, C]; got shape {x.shape}")
        if self.num_classes is not None and label is None:
            raise ValueError(f"GatedPixelCNN is class-conditional ({self.num_classes} classes): pass label")
        if self.num_classes is None and label is not None:
            raise ValueError("label given to an unconditional GatedPixelCNN (num_classes is None)")
        channels = x.shape[-1]
        check_divisible(channels, features=self.features, output_features=self.output_features)
        v = h = x
        for index in range(self.num_layers):
            v, h = GatedLayer(
                self.features,
                self.first_kernel if index == 0 else self.kernel_size,
                first=index == 0,
                num_groups=channels,
                num_classes=self.num_classes,
                name=f"layer_{index}",
            )(v, h, label)
        head = MaskedOutputHead(
            self.num_params, channels, self.output_features, self.num_output_layers, name="head"
        )
        return head(h)
