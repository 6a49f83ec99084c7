"""Masked (causal) convolutions: PixelCNN's masks A and B over raster-ordered colour groups.

The layers compute only from their visible ("unmasked") taps. A k x k masked kernel with centre
(r, c) = (k//2, k//2) sees the r rows above in full, the c pixels left of the centre, and at the
centre a channel mask (mask A: input groups < g; mask B: <= g). A 7x7 mask-A layer thus reads 21 + 3
taps instead of 49 and a 3x3 mask B 3 + 2 instead of 9; the hidden taps are never multiplied, so the
result equals the dense masked kernel's (to float rounding) and they get exactly zero gradient. The
stored parameter stays the full `[kh, kw, in, out]` kernel, so parameter trees and checkpoints are
those of the dense layer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from genjax.models.networks.convolution import conv2d

Array = jax.Array
Padding = tuple[tuple[int, int], tuple[int, int]]
# "im2col": every layer's visible taps as shifted slices, concatenated, and ONE matmul (its gradients
# are matmuls and slice-adds). "conv": one convolution per tap rectangle (`valid_conv`). Measured
# on the PixelCNN train step (docs/decisions.md, issue 18), im2col is the faster on XLA:CPU.
# "dense": the whole masked kernel in one convolution (the layers before issue 18), for reference.
TAP_FORM = "im2col"


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
    mask[row, col] = centre_mask(in_features, out_features, num_groups, mask_type)
    return mask


def centre_mask(in_features: int, out_features: int, num_groups: int, mask_type: str) -> np.ndarray:
    """`[in, out]` float32: which input channels an output channel reads at its own pixel."""
    groups_in = np.arange(in_features)[:, None] % num_groups
    groups_out = np.arange(out_features)[None, :] % num_groups
    visible = groups_in < groups_out if mask_type == "A" else groups_in <= groups_out
    return visible.astype(np.float32)


# --- the tap machinery ----------------------------------------------------------------------------


def valid_conv(x: Array, kernel: Array) -> Array:
    """`[B, H, W, in] * [kh, kw, in, out] -> [B, H-kh+1, W-kw+1, out]`: the ONE spatial convolution
    the "conv" tap form goes through (stride 1, no padding, NHWC/HWIO), so it changes in one place."""
    return conv2d(x, kernel, padding="VALID")


def pixel_matmul(x: Array, weights: Array) -> Array:
    """`[..., K] @ [K, out] -> [..., out]`: the per-pixel matmul of the tap form and of 1x1 layers.

    With more than one output its weight gradient is arranged by hand (`_pixel_matmul_jvp`); a
    single output (the PixelCNN's last layer) is a matrix-vector product that XLA:CPU handles
    better left alone (measured, docs/decisions.md).
    """
    return _pixel_matmul(x, weights) if weights.shape[-1] > 1 else x @ weights


@jax.custom_jvp
def _pixel_matmul(x: Array, weights: Array) -> Array:
    return x @ weights


@partial(_pixel_matmul.defjvp, symbolic_zeros=True)
def _pixel_matmul_jvp(primals, tangents):
    x, weights = primals
    x_dot, weights_dot = tangents
    out = x @ weights
    terms = []
    if not isinstance(x_dot, SymbolicZero):
        terms.append(x_dot @ weights)
    if not isinstance(weights_dot, SymbolicZero):
        # dot(x^T, dW) contracted over the pixels: its transpose, the weight gradient, is one
        # transposed-lhs dot reading x and the cotangent in place. Autodiff's own arrangement
        # makes XLA:CPU first copy the cotangent transposed (a full extra pass per layer).
        flat = x.reshape(-1, x.shape[-1])
        term = jax.lax.dot_general(flat.T, weights_dot, (((0,), (0,)), ((), ())))
        terms.append(term.reshape(out.shape))
    return out, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)


def tap_rows(kernel_size: tuple[int, int], mask_type: str, num_groups: int) -> list[tuple[int, int, int]]:
    """The fully visible taps of a masked kernel as rectangles ``(first row, last row + 1, columns)``.

    Every rectangle starts at column 0: the r rows above (all kw columns) and the centre row's
    pixels left of the centre (c columns), or left of and at it (c + 1) when one colour group
    makes mask B's centre fully visible. The channel-masked centre of C > 1 groups is not a tap
    here (see `masked_conv`). Empty rectangles are left out.
    """
    height, width = kernel_size
    row, col = height // 2, width // 2
    centre_row = col + (1 if mask_type == "B" and num_groups == 1 else 0)
    blocks = [(0, row, width), (row, row + 1, centre_row)]
    return [(top, bottom, cols) for top, bottom, cols in blocks if bottom > top and cols > 0]


def tap_sum(
    x: Array,
    kernel: Array,
    blocks: list[tuple[int, int, int]],
    padding: Padding,
    centre: Array | None = None,
) -> Array:
    """`[B, H, W, in] -> [B, H, W, out]`: the sum over the taps of ``blocks`` of the shifted input
    times its kernel slice, plus ``x @ centre`` when a centre matrix `[in, out]` is given; the
    output is sized like ``x``.

    ``padding`` ((top, bottom), (left, right)) is the padding of a same-size convolution with the
    whole ``kernel`` [kh, kw, in, out]; a block (top row a, bottom b, columns [0, n)) reads only
    the part of the padded input that those kernel rows and columns can reach.
    """
    (pad_top, pad_bottom), (pad_left, pad_right) = padding
    kh, kw, _, out_features = kernel.shape
    if (pad_top + pad_bottom, pad_left + pad_right) != (kh - 1, kw - 1):
        raise ValueError(f"padding {padding} does not keep the size for a {kh}x{kw} kernel")
    if TAP_FORM == "conv":
        return _conv_taps(x, kernel, blocks, padding, centre)
    height, width = x.shape[1:3]
    inputs, weights = ([x], [centre]) if centre is not None else ([], [])
    if blocks:
        padded = _pad_for_blocks(x, (kh, kw), blocks, padding)
    for top, bottom, cols in blocks:
        for row in range(top, bottom):
            inputs += [padded[:, row : row + height, col : col + width] for col in range(cols)]
        weights.append(kernel[top:bottom, :cols].reshape(-1, out_features))
    patches = inputs[0] if len(inputs) == 1 else jnp.concatenate(inputs, axis=-1)  # [B, H, W, taps * in]
    return pixel_matmul(patches, weights[0] if len(weights) == 1 else jnp.concatenate(weights))


def _pad_for_blocks(
    x: Array, kernel_hw: tuple[int, int], blocks: list[tuple[int, int, int]], padding: Padding
) -> Array:
    """`x` padded for the tap rectangles ``blocks`` of a size-keeping ``padding``.

    Rows below the last block and columns right of the widest one are never read: pad less.
    """
    (pad_top, pad_bottom), (pad_left, pad_right) = padding
    kh, kw = kernel_hw
    last_row = max(bottom for _, bottom, _ in blocks)
    widest = max(cols for _, _, cols in blocks)
    pads = ((pad_top, max(0, pad_bottom - (kh - last_row))), (pad_left, max(0, pad_right - (kw - widest))))
    return jnp.pad(x, ((0, 0), *pads, (0, 0)))


def _conv_taps(
    x: Array, kernel: Array, blocks: list[tuple[int, int, int]], padding: Padding, centre: Array | None
) -> Array:
    """`tap_sum` in NHWC as one `valid_conv` per tap rectangle (the "conv" form)."""
    height, width = x.shape[1:3]
    out = None if centre is None else pixel_matmul(x, centre)
    if blocks:
        padded = _pad_for_blocks(x, kernel.shape[:2], blocks, padding)
    for top, bottom, cols in blocks:
        window = padded[:, top : top + height + bottom - top - 1, : width + cols - 1]
        term = valid_conv(window, kernel[top:bottom, :cols])
        out = term if out is None else out + term
    return out


def masked_conv(x: Array, kernel: Array, *, mask_type: str, num_groups: int) -> Array:
    """`[B, H, W, in] * [kh, kw, in, out] -> [B, H, W, out]`: the 'SAME', stride-1 convolution of ``x``
    with ``kernel * pixel_mask(...)``, computed from the visible taps only.

    The rows above and the visible part of the centre row are tap blocks (`tap_rows`, `tap_sum`);
    with C > 1 colour groups the centre is one more tap whose `[in, out]` weights are masked.
    """
    kh, kw, in_features, out_features = kernel.shape
    if TAP_FORM == "dense":
        mask = pixel_mask((kh, kw), in_features, out_features, num_groups, mask_type=mask_type)
        return dense_conv(x, kernel * jnp.asarray(mask, kernel.dtype), ((kh // 2,) * 2, (kw // 2,) * 2))
    row, col = kh // 2, kw // 2
    blocks = tap_rows((kh, kw), mask_type, num_groups)
    centre = None
    if num_groups > 1:
        mask = jnp.asarray(centre_mask(in_features, out_features, num_groups, mask_type), kernel.dtype)
        centre = kernel[row, col] * mask
    if not blocks and centre is None:  # a 1x1 mask A over one group sees nothing
        return jnp.zeros((*x.shape[:-1], out_features), x.dtype)
    return tap_sum(x, kernel, blocks, ((row, row), (col, col)), centre)


def dense_conv(x: Array, kernel: Array, padding: Padding) -> Array:
    """`[B, H, W, in] * [kh, kw, in, out] -> [B, H, W, out]` with the whole kernel: the layers before
    issue 18 (`TAP_FORM = "dense"`), kept as the reference the tap forms are tested and timed against."""
    if kernel.shape[:2] == (1, 1):
        return x @ kernel[0, 0]
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


# --- layers ---------------------------------------------------------------------------------------


class MaskedConv2D(nn.Module):
    """`[B, H, W, in] -> [B, H, W, features]`: a 'SAME', stride-1 convolution with a `pixel_mask`.

    The output at pixel (i, j), group g, reads only pixels before (i, j) in raster order and, at
    (i, j) itself, the groups that mask A or B allows; stacking one A then any number of B layers
    keeps every output causal in the channel-fastest order. Computed from the visible taps
    (`masked_conv`); the parameters are the full kernel and the bias, as for a dense layer.

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
    def __call__(self, x: Array) -> Array:
        kernel_size = tuple(self.kernel_size)
        in_features = x.shape[-1]
        # Validates the sizes, groups and mask type (the mask itself is never multiplied in).
        pixel_mask(kernel_size, in_features, self.features, self.num_groups, mask_type=self.mask_type)
        shape = (*kernel_size, in_features, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
        kernel = kernel.astype(x.dtype)
        out = masked_conv(x, kernel, mask_type=self.mask_type, num_groups=self.num_groups)
        return out + bias.astype(x.dtype)


class PaddedConv2D(nn.Module):
    """`[B, H, W, in] -> [B, H, W, features]`: a stride-1 convolution with explicit, size-keeping padding.

    Parameter-compatible with ``nn.Conv(features, kernel_size, padding=padding)`` ("kernel"
    `[kh, kw, in, out]`, "bias" `[out]`, the same initialisers), computed by `tap_sum` so the
    Gated PixelCNN's vertical stack and its 1x1 projections share the masked layers' tap form.

    Attributes:
      features: output channels.
      kernel_size: (kh, kw).
      padding: ((top, bottom), (left, right)) with top + bottom = kh - 1 and left + right = kw - 1.
    """

    features: int
    kernel_size: tuple[int, int]
    padding: Padding = ((0, 0), (0, 0))
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
    bias_init: Callable[..., jax.Array] = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kh, kw = self.kernel_size
        in_features = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (kh, kw, in_features, self.features), jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
        kernel = kernel.astype(x.dtype)
        padding = tuple(tuple(side) for side in self.padding)
        if TAP_FORM == "dense":
            return dense_conv(x, kernel, padding) + bias.astype(x.dtype)
        return tap_sum(x, kernel, [(0, kh, kw)], padding) + bias.astype(x.dtype)
