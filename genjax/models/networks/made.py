"""MADE: a masked MLP whose outputs are autoregressive in its inputs (Germain et al. 2015).

Every unit gets a *degree*. The input dimension that comes k-th in
``ordering`` has degree k (1..D); hidden units cycle evenly through 1..D-1.
A hidden unit may see units of degree <= its own, an output unit of degree d
only units of degree < d. So the outputs for the k-th dimension of the
ordering depend only on the dimensions before it, which is what MAF and IAF
need to make their Jacobians triangular.

The degrees are a deterministic function of the module's attributes and the
masks are built with numpy at trace time: they are constants, not parameters,
and a saved checkpoint does not depend on any random draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.models.networks.layers import activation

Array = jax.Array
Initializer = Callable[..., Array]


def random_ordering(dim: int, seed: int) -> tuple[int, ...]:
    """A random permutation of ``range(dim)`` from ``seed``: varies the connectivity between layers."""
    return tuple(int(index) for index in np.random.default_rng(seed).permutation(dim))


def check_ordering(ordering: Sequence[int] | None, dim: int) -> tuple[int, ...]:
    """``ordering`` as a tuple (the natural order when None); raises unless it permutes range(dim)."""
    if ordering is None:
        return tuple(range(dim))
    ordering = tuple(int(index) for index in ordering)
    if sorted(ordering) != list(range(dim)):
        raise ValueError(f"ordering must be a permutation of range({dim}); got {ordering}")
    return ordering


def input_degrees(ordering: Sequence[int]) -> np.ndarray:
    """`[D]` int: ``degrees[ordering[k]] = k + 1``, the position of each dimension in the ordering."""
    degrees = np.empty(len(ordering), dtype=np.int64)
    degrees[np.asarray(ordering, dtype=np.int64)] = np.arange(1, len(ordering) + 1)
    return degrees


def hidden_degrees(size: int, dim: int) -> np.ndarray:
    """`[size]` int: degrees spread evenly over 1..D-1.

    With at least D-1 units, 1..D-1 is cycled so every degree is (nearly)
    equally represented. With fewer, the units are spaced across the whole
    range: cycling would give them degrees 1..size only, and no hidden unit
    could then see the inputs after ``size`` (a 500-unit MADE on MNIST's 784
    pixels would ignore the last 283). With D == 1 there is nothing to
    condition on; degree 1 makes the hidden units unreachable from the output,
    which then is a bias only.
    """
    span = max(dim - 1, 1)
    if size >= span:
        return np.arange(size) % span + 1
    return 1 + (np.arange(size) * span) // size


def degree_mask(in_degrees: Sequence[int], out_degrees: Sequence[int], strict: bool) -> np.ndarray:
    """`[len(in), len(out)]` float32 mask: 1 where out may see in (``>`` if strict, else ``>=``)."""
    ins = np.asarray(in_degrees)[:, None]
    outs = np.asarray(out_degrees)[None, :]
    allowed = outs > ins if strict else outs >= ins
    return allowed.astype(np.float32)


class MaskedDense(nn.Module):
    """`[..., len(in_degrees)] -> [..., len(out_degrees)]`: a dense layer whose kernel is masked.

    The mask is fixed by the unit degrees (see `degree_mask`): hidden layers
    use ``strict=False``, the output layer ``strict=True``. Degrees are
    tuples rather than an array attribute so the module stays hashable.

    Attributes:
      in_degrees: the degree of each input unit.
      out_degrees: the degree of each output unit (its length is the width).
      strict: whether an output unit only sees inputs of strictly lower degree.
      kernel_init, bias_init: initialisers of the (unmasked) kernel and bias.
    """

    in_degrees: tuple[int, ...]
    out_degrees: tuple[int, ...]
    strict: bool = False
    kernel_init: Initializer = nn.initializers.lecun_normal()
    bias_init: Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if x.shape[-1] != len(self.in_degrees):
            raise ValueError(f"MaskedDense expects {len(self.in_degrees)} input features; got {x.shape}")
        shape = (len(self.in_degrees), len(self.out_degrees))
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        bias = self.param("bias", self.bias_init, (len(self.out_degrees),), jnp.float32)
        # Masking the kernel where it is used (not at init) keeps the masked
        # entries inert even after arbitrary updates to the stored parameters.
        mask = jnp.asarray(degree_mask(self.in_degrees, self.out_degrees, self.strict), x.dtype)
        return x @ (kernel.astype(x.dtype) * mask) + bias.astype(x.dtype)


class MADE(nn.Module):
    """`[B, D] -> [B, D, num_params]`, output ``[:, d]`` a function of the inputs before d only.

    "Before" is with respect to ``ordering``: ``ordering[k]`` is the dimension
    generated k-th, so ``out[:, ordering[k]]`` depends on
    ``x[:, ordering[:k]]``; ``out[:, ordering[0]]`` is a constant (the bias).
    The output layer is zero-initialised, so a fresh MAF or IAF built on it
    is the identity.

    Attributes:
      hidden_sizes: widths of the masked hidden layers (may be empty).
      num_params: outputs per dimension (2 for a shift and a log-scale).
      ordering: a permutation of range(D); None for the natural order.
      activation: the hidden nonlinearity's name (see `genjax.models.networks.layers`).
    """

    hidden_sizes: Sequence[int]
    num_params: int = 2
    ordering: tuple[int, ...] | None = None
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if x.ndim != 2:
            raise ValueError(f"MADE works on vectors [B, D]; got shape {x.shape}")
        dim = x.shape[-1]
        degrees_in = input_degrees(check_ordering(self.ordering, dim))
        act = activation(self.activation)
        h, degrees = x, degrees_in
        for index, size in enumerate(self.hidden_sizes):
            degrees_out = hidden_degrees(size, dim)
            layer = MaskedDense(tuple(degrees.tolist()), tuple(degrees_out.tolist()), name=f"hidden_{index}")
            h, degrees = act(layer(h)), degrees_out
        # Output unit d * num_params + p is parameter p of dimension d, so a
        # reshape gives [B, D, num_params] in data order (not ordering order).
        degrees_out = np.repeat(degrees_in, self.num_params)
        out = MaskedDense(
            tuple(degrees.tolist()),
            tuple(degrees_out.tolist()),
            strict=True,
            kernel_init=nn.initializers.zeros,
            name="output",
        )(h)
        return out.reshape(x.shape[0], dim, self.num_params)
