"""The U-Net of DDPM (Ho et al. 2020), conditioned on a scalar per example (a timestep or log sigma).

A PixelCNN++-style U-Net (Salimans et al. 2017; Ronneberger et al. 2015) built from wide
residual blocks (Zagoruyko & Komodakis 2016) with group normalisation (Wu & He 2018) and
single-head self-attention at chosen resolutions:

* the conditioning scalar c goes through `sinusoidal_embedding` (width ``channels``), then
  Dense(4 ch) -> SiLU -> Dense(4 ch) = temb; every residual block adds Dense(SiLU(temb)),
  broadcast over H and W, after its first convolution; a conditional U-Net (``conditioning``
  set) adds a label embedding (`ConditionEmbedding`, width 4 ch) to temb, so y reaches every
  block the way the timestep does (as in Ho & Salimans 2022 and Dhariwal & Nichol 2021);
* down path: a 3x3 input convolution, then per level ``num_res_blocks`` residual blocks (each
  followed by attention if the current height is in ``attention_resolutions``) and a stride-2
  3x3 convolution except at the last level; every block's output is kept as a skip;
* middle: residual block, attention, residual block;
* up path: per level (deepest first) ``num_res_blocks + 1`` residual blocks, each reading the
  concatenation of the running map and the next skip, attention where listed, then nearest x2
  upsampling and a 3x3 convolution except at the top level;
* out: GroupNorm -> SiLU -> 3x3 convolution.

As in Ho et al.'s code, kernels use variance scaling (scale 1, fan_avg, uniform), and the second
convolution of every residual block, the attention output projection and the output
convolution start at zero: every block starts as the identity (plus its skip projection), and
the network's first prediction is 0. Strided convolutions pad one pixel on every side, so
output pixel i reads input pixels 2i-1..2i+1 (PyTorch's ``padding=1``). GroupNorm normalises
each example on its own (no batch statistics), so examples never interact; its group count
(`group_count`) keeps at least two channels per group, or narrow nets would lose the conditioning.

Ho et al.'s CIFAR-10 model is ``UNet(128, (1, 2, 2, 2), 2, (16,), dropout=0.1)`` on 32x32x3:
35,746,307 parameters (``unet_num_params``), the paper's 35.7M.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.conditioning import Conditioning
from genjax.models.networks.conditioning import ConditionEmbedding
from genjax.models.networks.convolution import Conv, UpsampleConv
from genjax.models.networks.embeddings import sinusoidal_embedding
from genjax.models.precision import compute_dtype_of

Array = jax.Array
EPSILON = 1e-6  # GroupNorm's epsilon, as in Ho et al.'s code
default_init = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")
zero_init = nn.initializers.zeros


def group_count(channels: int, num_groups: int) -> int:
    """GroupNorm groups for ``channels``: the largest divisor of C that is at most ``num_groups`` and
    at most C // 2 (128 -> 32, 384 -> 32, 48 -> 24, 8 -> 4, 3 -> 1 for num_groups 32).

    Every group keeps at least two channels: a one-channel group is instance normalisation, which
    subtracts each channel's spatial mean and so erases the per-channel temb shift that the
    residual block adds just before its second norm (a narrow U-Net would ignore its conditioning).
    """
    limit = max(1, min(num_groups, channels // 2))
    return max(d for d in range(1, limit + 1) if channels % d == 0)


def group_norm_nhwc(x: Array, scale: Array, bias: Array, num_groups: int, epsilon: float = EPSILON) -> Array:
    """x `[B, *spatial, C]`, scale and bias `[C]` -> `[B, *spatial, C]`: flax's ``nn.GroupNorm`` maths.

    Statistics per example and group over the spatial positions and the group's C / G channels, in
    float32 with the one-pass variance max(E[x^2] - E[x]^2, 0) as flax computes them; then
    (x - mean) * rsqrt(var + epsilon) * scale + bias, returned in the dtype of x, scale and bias
    combined (flax's). Written for XLA:CPU: flax reshapes to `[B, *spatial, G, C/G]` and reduces
    over every axis but B and G, which jax 0.10.2 hands to one YNN reduction per statistic at about
    3x this function's cost (0.9-2.0 ms against 0.35-0.6 ms on `[64, 8, 8, 32]`, docs/decisions.md).
    Here the spatial sums come first with C kept minor (`[B, C]`, a contiguous vector reduction),
    and the groups are summed on those few numbers.
    """
    batch, channels = x.shape[0], x.shape[-1]
    group_size = channels // num_groups
    spatial_axes = tuple(range(1, x.ndim - 1))
    count = math.prod(x.shape[1:-1]) * group_size
    x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    sums = jnp.sum(x32, axis=spatial_axes).reshape(batch, num_groups, group_size).sum(-1)
    sums_sq = jnp.sum(x32 * x32, axis=spatial_axes).reshape(batch, num_groups, group_size).sum(-1)
    mean = sums / count
    var = jnp.maximum(sums_sq / count - mean * mean, 0.0)
    # Back to one value per channel, `[B, 1.., C]`, broadcast over the spatial positions.
    per_channel = (batch,) + (1,) * len(spatial_axes) + (channels,)
    mean_c = jnp.repeat(mean, group_size, axis=1).reshape(per_channel)
    mul = jnp.repeat(jax.lax.rsqrt(var + epsilon), group_size, axis=1).reshape(per_channel) * scale
    y = (x32 - mean_c) * mul + bias
    return y.astype(jnp.result_type(x, scale, bias))


class GroupNorm(nn.Module):
    """`[B, *spatial, C] -> [B, *spatial, C]`: a parameter-compatible ``nn.GroupNorm(num_groups, epsilon)``
    (parameters "scale" `[C]` ones and "bias" `[C]` zeros, float32) computed by `group_norm_nhwc`."""

    num_groups: int
    epsilon: float = EPSILON

    @nn.compact
    def __call__(self, x: Array) -> Array:
        channels = x.shape[-1]
        if channels % self.num_groups:
            raise ValueError(f"GroupNorm: {self.num_groups} groups do not divide {channels} channels")
        scale = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
        return group_norm_nhwc(x, scale, bias, self.num_groups, self.epsilon)


def group_norm(channels: int, num_groups: int, name: str) -> GroupNorm:
    return GroupNorm(num_groups=group_count(channels, num_groups), epsilon=EPSILON, name=name)


def conv3x3(features: int, name: str, *, strides: int = 1, zero: bool = False) -> Conv:
    """A 3x3 convolution, padding 1: `Conv`, whose gradients stay NHWC/HWIO (fast inside lax.scan)."""
    return Conv(
        features,
        (3, 3),
        strides=(strides, strides),
        padding=((1, 1), (1, 1)),
        kernel_init=zero_init if zero else default_init,
        name=name,
    )


def upsample_conv3x3(h: Array, name: str) -> Array:
    """`[B, H, W, C] -> [B, 2H, 2W, C]`: nearest-neighbour x2 then a 3x3 convolution (parameters of
    that `nn.Conv`), as four 2x2 phase convolutions of the small map (`UpsampleConv`)."""
    return UpsampleConv(h.shape[-1], kernel_init=default_init, name=name)(h)


class ResBlock(nn.Module):
    """x `[B, H, W, C_in]`, temb `[B, E]` -> `[B, H, W, out_channels]`."""

    out_channels: int
    num_groups: int = 32
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x: Array, temb: Array, train: bool = False) -> Array:
        out = self.out_channels
        h = nn.silu(group_norm(x.shape[-1], self.num_groups, "norm_0")(x))
        h = conv3x3(out, "conv_0")(h)
        h = h + nn.Dense(out, kernel_init=default_init, name="temb_proj")(nn.silu(temb))[:, None, None, :]
        h = nn.silu(group_norm(out, self.num_groups, "norm_1")(h))
        # Flax's Dropout is the identity when deterministic or at rate 0 (and then needs no rng).
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = conv3x3(out, "conv_1", zero=True)(h)
        if x.shape[-1] != out:  # a 1x1 projection only where the widths differ
            x = Conv(out, (1, 1), kernel_init=default_init, name="skip")(x)
        return x + h


class AttnBlock(nn.Module):
    """`[B, H, W, C] -> [B, H, W, C]`: x + proj(softmax(q k^T / sqrt(C)) v) over the H*W positions."""

    num_groups: int = 32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        batch, height, width, channels = x.shape
        h = group_norm(channels, self.num_groups, "norm")(x).reshape(batch, height * width, channels)
        q, k, v = (nn.Dense(channels, kernel_init=default_init, name=name)(h) for name in ("q", "k", "v"))
        weights = jax.nn.softmax(jnp.einsum("bic,bjc->bij", q, k) / math.sqrt(channels), axis=-1)
        h = jnp.einsum("bij,bjc->bic", weights, v)
        h = nn.Dense(channels, kernel_init=zero_init, name="proj_out")(h)
        return x + h.reshape(x.shape)


def check_image_size(height: int, width: int, channel_mults: Sequence[int]) -> None:
    """Raises ValueError unless H and W halve cleanly at every downsampling (2^(levels-1) | H, W)."""
    factor = 2 ** (len(channel_mults) - 1)
    if height % factor or width % factor:
        raise ValueError(
            f"UNet channel_mults={tuple(channel_mults)} downsample {len(channel_mults) - 1} times, so H "
            f"and W must be divisible by {factor}; got {height}x{width} (use fewer channel_mults)"
        )


class UNet(nn.Module):
    """(x `[B, H, W, C]`, cond `[B]` float, y) -> `[B, H, W, out_channels or C]`.

    Computes in x's floating dtype (non-float x: float32), with the parameters as given: pass
    bfloat16 x and bfloat16 parameters for mixed precision (`genjax.models.precision`).

    Attributes:
      channels: base width ch; level l has ch * channel_mults[l] channels.
      channel_mults: one multiplier per resolution level (H halves between levels).
      num_res_blocks: residual blocks per level on the way down (one more on the way up).
      attention_resolutions: heights at which attention follows each residual block.
      dropout: rate inside residual blocks; active only with ``train=True`` (rng "dropout").
      num_groups: GroupNorm groups at most (`group_count`: fewer where C is narrow or not divisible).
      out_channels: output channels (None: those of x).
      conditioning: None (unconditional; ``y`` must be None) or what y is: labels `[B]` (the
        null label included) or a conditioning array `[B, *cond_shape]`.
    """

    channels: int = 64
    channel_mults: Sequence[int] = (1, 2, 2)
    num_res_blocks: int = 2
    attention_resolutions: Sequence[int] = (16,)
    dropout: float = 0.0
    num_groups: int = 32
    out_channels: int | None = None
    conditioning: Conditioning | None = None

    @nn.compact
    def __call__(self, x: Array, cond: Array, y: Array | None = None, *, train: bool = False) -> Array:
        mults, groups = tuple(self.channel_mults), self.num_groups
        check_image_size(x.shape[1], x.shape[2], mults)
        x = jnp.asarray(x)
        x = x.astype(compute_dtype_of(x))  # float32, or bfloat16 under mixed precision
        cond = jnp.broadcast_to(jnp.asarray(cond, jnp.float32), (x.shape[0],))
        # The code of cond is computed in float32 (t up to 1000 needs it), then joins x's dtype.
        temb = nn.Dense(4 * self.channels, kernel_init=default_init, name="temb_0")(
            sinusoidal_embedding(cond, self.channels).astype(x.dtype)
        )
        temb = nn.Dense(4 * self.channels, kernel_init=default_init, name="temb_1")(nn.silu(temb))
        if self.conditioning is not None:
            label = ConditionEmbedding(self.conditioning, 4 * self.channels, name="condition")(y)
            temb = temb + label.astype(temb.dtype)
        elif y is not None:
            raise ValueError("UNet: y given to an unconditional network (conditioning=None)")

        def res(h: Array, width: int, name: str) -> Array:
            return ResBlock(width, groups, self.dropout, name=name)(h, temb, train)

        def maybe_attend(h: Array, name: str) -> Array:
            return AttnBlock(groups, name=name)(h) if h.shape[1] in self.attention_resolutions else h

        h = conv3x3(self.channels, "conv_in")(x)
        skips = [h]
        for level, mult in enumerate(mults):
            for index in range(self.num_res_blocks):
                h = res(h, self.channels * mult, f"down_{level}_res_{index}")
                h = maybe_attend(h, f"down_{level}_attn_{index}")
                skips.append(h)
            if level < len(mults) - 1:
                h = conv3x3(h.shape[-1], f"down_{level}_downsample", strides=2)(h)
                skips.append(h)

        h = res(h, h.shape[-1], "mid_res_0")
        h = AttnBlock(groups, name="mid_attn")(h)
        h = res(h, h.shape[-1], "mid_res_1")

        for level in reversed(range(len(mults))):
            for index in range(self.num_res_blocks + 1):
                h = jnp.concatenate([h, skips.pop()], axis=-1)
                h = res(h, self.channels * mults[level], f"up_{level}_res_{index}")
                h = maybe_attend(h, f"up_{level}_attn_{index}")
            if level > 0:
                h = upsample_conv3x3(h, f"up_{level}_upsample")

        h = nn.silu(group_norm(h.shape[-1], groups, "norm_out")(h))
        return conv3x3(self.out_channels or x.shape[-1], "conv_out", zero=True)(h)


def unet_num_params(image_shape: tuple[int, int, int], **kwargs) -> int:
    """Parameter count of ``UNet(**kwargs)`` on `[H, W, C]` images, from shapes alone (no init run)."""
    model = UNet(**kwargs)
    x = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
    cond = jax.ShapeDtypeStruct((1,), jnp.float32)
    shapes = jax.eval_shape(lambda x, cond: model.init(jax.random.key(0), x, cond), x, cond)
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
