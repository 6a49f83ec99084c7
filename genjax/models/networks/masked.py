"""Masked (causal) convolutions: PixelCNN's masks A and B over raster-ordered colour groups."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def pixel_mask(
    kernel_size: tuple[int, int], in_features: int, out_features: int, num_groups: int, *, mask_type: str
) -> np.ndarray:
    """`[kh, kw, in, out]` float32 mask of a raster-order causal convolution (PixelCNN's masks A and B).

    Channel k of a layer belongs to colour group ``k % num_groups`` (interleaved, so the two halves
    of a gated layer's 2F features carry the same groups when F is divisible by ``num_groups``).
    Rows above the centre and pixels left of it are fully visible; at the centre pixel an output
    of group g sees input groups < g (mask "A") or <= g (mask "B"); everything after is hidden.
    """
    height, width = kernel_size
    if height % 2 == 0 or width % 2 == 0:
        raise ValueError(f"masked convolutions need odd kernel sizes; got {kernel_size}")
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B'; got {mask_type!r}")
    for name, count in (("input", in_features), ("output", out_features)):
        if count % num_groups:
            raise ValueError(f"{name} features ({count}) must be divisible by the {num_groups} colour groups")
    mask = np.zeros((height, width, in_features, out_features), np.float32)
    row, col = height // 2, width // 2
    mask[:row] = 1.0
    mask[row, :col] = 1.0
    groups_in = np.arange(in_features)[:, None] % num_groups
    groups_out = np.arange(out_features)[None, :] % num_groups
    centre = groups_in < groups_out if mask_type == "A" else groups_in <= groups_out
    mask[row, col] = centre.astype(np.float32)
    return mask


class MaskedConv2D(nn.Module):
    """`[B, H, W, in] -> [B, H, W, features]`: a 'SAME', stride-1 convolution with a `pixel_mask`.

    The output at pixel (i, j), group g, reads only pixels before (i, j) in raster order and, at
    (i, j) itself, the groups that mask A or B allows; stacking one A then any number of B layers
    keeps every output causal in the channel-fastest order.

    Attributes:
      features: output channels (divisible by ``num_groups``).
      kernel_size: odd (height, width), e.g. (7, 7), (3, 3), (1, 1) or (1, 3).
      mask_type: "A" (centre groups < g) or "B" (centre groups <= g).
      num_groups: colour groups C (1 for one-channel images: the centre then is all or nothing).
    """

    features: int
    kernel_size: tuple[int, int] = (3, 3)
    mask_type: str = "B"
    num_groups: int = 1
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
    bias_init: Callable[..., jax.Array] = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel_size = tuple(self.kernel_size)
        shape = (*kernel_size, x.shape[-1], self.features)
        mask = pixel_mask(kernel_size, x.shape[-1], self.features, self.num_groups, mask_type=self.mask_type)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
        # Masking at use (not at init) keeps hidden weights inert whatever the stored values.
        kernel = kernel.astype(x.dtype) * jnp.asarray(mask, x.dtype)
        if kernel_size == (1, 1):  # a per-pixel matmul: no convolution machinery needed
            return x @ kernel[0, 0] + bias.astype(x.dtype)
        out = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return out + bias.astype(x.dtype)
