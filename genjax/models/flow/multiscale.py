"""The multi-scale architecture: factor out half the dimensions at each scale.

RealNVP (Dinh et al. 2017) and Glow (Kingma & Dhariwal 2018) run a flow at
one resolution, squeeze (space to channels), send half the channels straight
to the latent and continue with the other half. Later levels then work on
fewer dimensions at coarser resolution, which is both cheaper and gives the
latent a coarse-to-fine structure. For images `[B, H, W, C]`::

    level 0:  flow_0 -> split channels: keep the first half, factor out the rest
    level 1:  flow_1 (on the kept half) -> split ...
    last:     flow_L (keeps everything)

    z = concat(flat(factored_0), flat(factored_1), ..., flat(final))   # [B, H*W*C]

Each level's flow is an opaque bijector, so `MultiScale` is told how many
squeezes it contains (``level_squeezes``): that is all it needs to compute
the shapes that ``inverse`` splits ``z`` back into.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from genjax.models.flow.bijector import Bijector, Chain
from genjax.models.flow.coupling import Coupling, Squeeze
from genjax.models.flow.glow import glow_step

Array = jax.Array
Shape = tuple[int, int, int]


def max_squeezes(element_shape: Shape) -> int:
    """How many times `(H, W, C)` can be squeezed: both H and W must stay even each time."""
    height, width, _ = element_shape
    count = 0
    while height % 2 == 0 and width % 2 == 0 and height > 0 and width > 0:
        height, width, count = height // 2, width // 2, count + 1
    return count


def max_num_scales_realnvp(element_shape: Shape) -> int:
    """Largest ``num_scales`` for `realnvp_multiscale`: every scale but the last squeezes once."""
    return max_squeezes(element_shape) + 1


def max_num_levels_glow(element_shape: Shape) -> int:
    """Largest ``num_levels`` for `glow_multiscale`: every level squeezes once (0 if H or W is odd)."""
    return max_squeezes(element_shape)


def multiscale_shapes(element_shape: Shape, level_squeezes: Sequence[int]) -> tuple[list[Shape], Shape]:
    """(factored-out shape per non-final level, final level's output shape), per example.

    Raises ValueError if a squeeze meets an odd H or W, or a split an odd C.
    """
    height, width, channels = element_shape
    factored = []
    for level, squeezes in enumerate(level_squeezes):
        for _ in range(squeezes):
            if height % 2 or width % 2:
                raise ValueError(
                    f"multi-scale level {level} squeezes a {height}x{width} image; height and width "
                    f"must be even (element_shape {tuple(element_shape)})"
                )
            height, width, channels = height // 2, width // 2, 4 * channels
        if level == len(level_squeezes) - 1:
            break
        if channels % 2:
            raise ValueError(f"multi-scale level {level} cannot split {channels} channels in half")
        channels //= 2
        factored.append((height, width, channels))
    return factored, (height, width, channels)


class MultiScale(Bijector):
    """Runs ``levels`` at successively coarser scales, factoring out half the channels after each.

    Attributes:
      element_shape: `(H, W, C)` of one input example.
      levels: one bijector per level; level ``i`` gets the kept half of level ``i - 1``'s output.
      level_squeezes: how many `Squeeze` layers each level contains (fixes the shapes).

    ``forward(x: [B, H, W, C]) -> (z: [B, H*W*C], log_det: [B])``; ``inverse`` undoes it.
    The kept half is the first half of the channels; the second is factored out.
    """

    element_shape: Shape
    levels: Sequence[Bijector]
    level_squeezes: Sequence[int]

    def _shapes(self) -> tuple[list[Shape], Shape]:
        if len(self.levels) != len(self.level_squeezes) or not self.levels:
            raise ValueError(
                f"MultiScale needs one squeeze count per level and at least one level; got "
                f"{len(self.levels)} levels and level_squeezes={tuple(self.level_squeezes)}"
            )
        return multiscale_shapes(self.element_shape, self.level_squeezes)

    def forward(self, x: Array, context: Array | None = None) -> tuple[Array, Array]:
        factored_shapes, final_shape = self._shapes()
        if x.shape[1:] != tuple(self.element_shape):
            raise ValueError(f"MultiScale expects [B, {self.element_shape}]; got shape {x.shape}")
        batch = x.shape[0]
        log_det = jnp.zeros(batch, x.dtype)
        latents = []
        for index, level in enumerate(self.levels):
            x, level_log_det = level.forward(x, context)
            log_det = log_det + level_log_det
            if index < len(factored_shapes):
                # The split is fixed, so the factored part needs no log-det term.
                keep = factored_shapes[index][-1]
                latents.append(x[..., keep:].reshape(batch, -1))
                x = x[..., :keep]
        if x.shape[1:] != final_shape:  # a level's squeeze count was wrong
            raise ValueError(f"MultiScale: final level output {x.shape[1:]}; expected {final_shape}")
        latents.append(x.reshape(batch, -1))
        return jnp.concatenate(latents, axis=1), log_det

    def inverse(self, z: Array, context: Array | None = None) -> tuple[Array, Array]:
        factored_shapes, final_shape = self._shapes()
        batch = z.shape[0]
        sizes = [math.prod(shape) for shape in (*factored_shapes, final_shape)]
        if z.shape[1:] != (sum(sizes),):
            raise ValueError(f"MultiScale.inverse expects [B, {sum(sizes)}]; got shape {z.shape}")
        cuts = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]
        parts = jnp.split(z, cuts, axis=1)
        x = parts[-1].reshape(batch, *final_shape)
        log_det = jnp.zeros(batch, z.dtype)
        for index in reversed(range(len(self.levels))):
            if index < len(factored_shapes):
                x = jnp.concatenate([x, parts[index].reshape(batch, *factored_shapes[index])], axis=-1)
            x, level_log_det = self.levels[index].inverse(x, context)
            log_det = log_det + level_log_det
        return x, log_det


def _affine_couplings(
    count: int, mask: str, hidden_channels: Sequence[int], scale_fn: str, activation: str
) -> list[Coupling]:
    """``count`` affine couplings with alternating parity (so every dimension gets transformed)."""
    return [
        Coupling(
            hidden_channels, affine=True, mask=mask, parity=i % 2, scale_fn=scale_fn, activation=activation
        )
        for i in range(count)
    ]


def realnvp_multiscale(
    element_shape: Shape,
    *,
    num_scales: int,
    hidden_channels: Sequence[int],
    scale_fn: str = "tanh",
    activation: str = "relu",
) -> MultiScale:
    """RealNVP's multi-scale flow on `[B, H, W, C]` images.

    Each scale but the last: 3 checkerboard affine couplings -> squeeze ->
    3 channel-wise affine couplings -> factor out half the channels. The last
    scale: 4 checkerboard affine couplings. Needs H and W divisible by
    ``2 ** (num_scales - 1)``; see `max_num_scales_realnvp`.
    """
    largest = max_num_scales_realnvp(element_shape)
    if not 1 <= num_scales <= largest:
        raise ValueError(
            f"num_scales: got {num_scales} for element_shape {tuple(element_shape)}; each scale but the "
            f"last halves height and width (which must stay even), so num_scales must be between 1 "
            f"and {largest}"
        )
    levels = []
    for _ in range(num_scales - 1):
        layers = (
            *_affine_couplings(3, "checkerboard", hidden_channels, scale_fn, activation),
            Squeeze(),
            *_affine_couplings(3, "half", hidden_channels, scale_fn, activation),
        )
        levels.append(Chain(layers=layers))
    levels.append(
        Chain(layers=tuple(_affine_couplings(4, "checkerboard", hidden_channels, scale_fn, activation)))
    )
    squeezes = (1,) * (num_scales - 1) + (0,)
    return MultiScale(element_shape=tuple(element_shape), levels=tuple(levels), level_squeezes=squeezes)


def glow_multiscale(
    element_shape: Shape,
    *,
    num_levels: int,
    steps_per_level: int,
    hidden_channels: Sequence[int],
    lu: bool = True,
    scale_fn: str = "sigmoid",
    activation: str = "relu",
) -> MultiScale:
    """Glow's multi-scale flow on `[B, H, W, C]` images.

    Each level: squeeze -> ``steps_per_level`` glow steps (ActNorm, invertible
    1x1 conv, affine coupling) -> factor out half the channels (not after the
    last level). Needs H and W divisible by ``2 ** num_levels``; see
    `max_num_levels_glow`.
    """
    largest = max_num_levels_glow(element_shape)
    if not 1 <= num_levels <= largest:
        allowed = f"between 1 and {largest}" if largest else "impossible: H or W is odd"
        raise ValueError(
            f"num_levels: got {num_levels} for element_shape {tuple(element_shape)}; every level halves "
            f"height and width (which must be even), so num_levels must be {allowed}"
        )
    if steps_per_level < 1:
        raise ValueError(f"steps_per_level: got {steps_per_level}; must be at least 1")
    levels = [
        Chain(
            layers=(
                Squeeze(),
                *(
                    glow_step(hidden_channels, lu=lu, scale_fn=scale_fn, activation=activation)
                    for _ in range(steps_per_level)
                ),
            )
        )
        for _ in range(num_levels)
    ]
    return MultiScale(
        element_shape=tuple(element_shape), levels=tuple(levels), level_squeezes=(1,) * num_levels
    )
