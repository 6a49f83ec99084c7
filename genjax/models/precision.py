"""Mixed precision: ``train.compute_dtype`` (float32 | bfloat16), read once by each family's ``build``.

The policy (the jmp-style "params float32, compute bfloat16, outputs float32"):

* parameters and optimizer state stay float32: ``init`` and the optimizer never see
  bfloat16, so checkpoints, EMA and updates are exactly as in float32 runs;
* activations compute in bfloat16: a family casts the parameters and the network's
  floating inputs to the compute dtype where it calls the network (`Precision.cast`),
  and the networks compute in their input's dtype (Flax promotes bfloat16 kernels and
  bfloat16 inputs to bfloat16; nothing inside re-creates float32 activations);
* losses and log-probabilities accumulate in float32: the network's outputs are cast
  back (`Precision.output`) before any log-softmax, log-density, bound or reduction.

The cast of a float32 parameter to bfloat16 inside the loss is differentiable: its
transpose casts the bfloat16 cotangent back to float32, so gradients reach the float32
parameters as float32. With ``float32`` every method is the identity (the same objects
come back), so the default changes nothing, bit for bit.

Scope: the policy covers the training losses only. ``log_prob``, ``eval_metrics`` and
``sample`` always run the float32 model, so reported likelihoods, bounds and samples do
not depend on ``train.compute_dtype`` and exact likelihoods stay exact (bit for bit the
float32 values). bfloat16 is a training-speed knob, not a different model.

Each family declares which of its architectures run bfloat16 and calls `policy`, which
refuses the others with one ``ConfigError`` line at build time: today VAE (mlp, conv),
DDPM and score (mlp, unet), GAN (mlp, dcgan) and autoregressive (every architecture: its
output distributions are normalised in float32 whatever logits the network gives) run
it; flows and EBMs are float32 only (their change of variables, Langevin chains and
score objectives differentiate or invert the network and need float32).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields
from genjax.errors import ConfigError

COMPUTE_DTYPES = ("float32", "bfloat16")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype_name(config: ml_collections.ConfigDict) -> str:
    """``config.train.compute_dtype`` ("float32" when the config has no such field); checked."""
    train = config.get("train") or {}
    return fields.check_choice(train.get("compute_dtype", "float32"), "train.compute_dtype", COMPUTE_DTYPES)


@dataclasses.dataclass(frozen=True)
class Precision:
    """Where a family calls its networks: casts in (``cast``) and out (``output``).

    Attributes:
      compute_dtype: ``jnp.float32`` or ``jnp.bfloat16``.
    """

    compute_dtype: Any = jnp.float32

    @property
    def mixed(self) -> bool:
        """True when activations compute in a narrower dtype than float32."""
        return self.compute_dtype != jnp.float32

    def cast(self, tree: Any) -> Any:
        """Floating leaves of ``tree`` (parameters, network inputs) -> the compute dtype.

        Integer leaves (token ids, labels, mask indices) pass through. The identity in float32.
        """
        if not self.mixed:
            return tree
        return jax.tree.map(lambda leaf: _to(leaf, self.compute_dtype), tree)

    def output(self, tree: Any) -> Any:
        """Floating leaves of a network's output -> float32, before any loss or log-density."""
        if not self.mixed:
            return tree
        return jax.tree.map(lambda leaf: _to(leaf, jnp.float32), tree)

    def apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``output(fn(*cast(args), **kwargs))``: a network call in the compute dtype.

        The positional arguments (parameters first, then the network's inputs) are cast;
        keyword arguments (``method=``, ``rngs=``, ``train=``) pass as they are. In float32
        this is exactly ``fn(*args, **kwargs)``.
        """
        if not self.mixed:
            return fn(*args, **kwargs)
        return self.output(fn(*self.cast(args), **kwargs))


FLOAT32 = Precision()


def _to(leaf: Any, dtype: Any) -> Any:
    leaf_dtype = getattr(leaf, "dtype", None)
    if leaf_dtype is not None and jnp.issubdtype(leaf_dtype, jnp.floating):
        return jnp.asarray(leaf, dtype)
    return leaf


def compute_dtype_of(x: jax.Array) -> Any:
    """The dtype a network computes in for input ``x``: x's own floating dtype, else float32.

    Networks call it where they make activations from something other than x (e.g. a
    float32 sinusoidal code of the timestep), so those activations join x's dtype.
    """
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32


def policy(
    config: ml_collections.ConfigDict,
    *,
    family: str,
    architecture: str,
    supported: Collection[str],
) -> Precision:
    """The family's `Precision` for ``config.train.compute_dtype``.

    Args:
      config: the config the family is built with.
      family: the family's ``model.name``, for the message.
      architecture: the variant being built (e.g. ``"conv"``, ``"unet"``, ``"made"``).
      supported: the architectures of this family that run bfloat16.

    Raises:
      ConfigError: bfloat16 asked for on an architecture outside ``supported``.
    """
    name = compute_dtype_name(config)
    if name != "float32" and architecture not in supported:
        raise ConfigError(
            f"train.compute_dtype: {name} is not supported by the {family} family ({architecture}); "
            "allowed: float32."
        )
    return Precision(_DTYPES[name])
