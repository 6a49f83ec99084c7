"""PyTorch twins of genjax's DCGAN players and a full GAN train step as a timing runner.

`TorchDCGANGenerator` / `TorchDCGANDiscriminator` have the layers and parameter counts of
`genjax.models.gan.dcgan.DCGANGenerator` / `DCGANDiscriminator`, channels-first:

* ``BatchNorm2d(track_running_stats=False)``: always the current batch's biased statistics,
  eps 1e-5, per-channel affine, no running buffers: the maths of genjax's `BatchStatNorm`
  (a DCGAN generator in train mode, minus the running-average bookkeeping).
* ``ConvTranspose2d(k=4, s=2, p=1)`` pads the stride-dilated input by 2 on each side, as XLA's
  'SAME' transposed convolution does for a 4x4 kernel and stride 2; flax does not flip the kernel,
  so `load_generator` flips it. ``Conv2d(k=4, s=2, p=1)`` pads 1 each side, as 'SAME' does for
  even H and W.
* "layer" norm is ``GroupNorm(1, C)``: per example over (C, H, W) with per-channel affine, as the
  flax ``LayerNorm(reduction_axes=(1, 2, 3), feature_axes=-1)``.

`load_generator` / `load_discriminator` copy a genjax parameter tree in (NHWC flattening
order included), so a benchmark can check that both sides compute the same function.
`torch_gan_step_runner` times one non-saturating GAN step (Goodfellow et al. 2014): a
discriminator update on real and detached fake images, then a generator update, Adam(2e-4,
betas (0.5, 0.999)) for both, as in the DCGAN paper (Radford et al. 2016).
Only the benchmarks import this module (torch is not a genjax dependency).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.benchmarks.timing import Runner, torch_compile_warmup, torch_runner

LEAKY_SLOPE = 0.2
EPS = 1e-5


def _quarter(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    height, width, _ = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"image height and width must be divisible by 4; got {tuple(image_shape)}")
    return height // 4, width // 4


class TorchMinibatchStdDev(nn.Module):
    """`[B, C, H, W] -> [B, C + 1, H, W]`: genjax's `MinibatchStdDev` (contiguous groups, eps 1e-8)."""

    def __init__(self, group_size: int = 4, epsilon: float = 1e-8):
        super().__init__()
        self.group_size, self.epsilon = group_size, epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        size = min(self.group_size, batch)
        size = size if batch % size == 0 else batch
        groups = x.reshape(batch // size, size, *x.shape[1:])
        std = torch.sqrt(groups.var(dim=1, unbiased=False) + self.epsilon)
        stat = std.reshape(batch // size, -1).mean(dim=1).repeat_interleave(size)  # [B]
        return torch.cat([x, stat.view(batch, 1, 1, 1).expand(batch, 1, *x.shape[2:])], dim=1)


class TorchDCGANGenerator(nn.Module):
    """z `[B, L]` -> images `[B, C, H, W]`, as ``DCGANGenerator(image_shape, features, norm, output)``."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_dim: int,
        features: int = 64,
        norm: str = "batch",
        output: str = "sigmoid",
    ):
        super().__init__()
        if norm not in ("batch", "none") or output not in ("sigmoid", "tanh", "none"):
            raise ValueError(f"norm {norm!r} or output {output!r} not supported")
        self.quarter, self.features, self.output = _quarter(image_shape), features, output
        channels, batch_norm = image_shape[2], norm == "batch"

        def make_norm(width: int) -> nn.Module:
            return nn.BatchNorm2d(width, eps=EPS, track_running_stats=False) if batch_norm else nn.Identity()

        # No bias before a batch norm, which would subtract it (as on the genjax side).
        self.project = nn.Linear(
            latent_dim, 2 * features * self.quarter[0] * self.quarter[1], bias=not batch_norm
        )
        self.norm_0 = make_norm(2 * features)
        self.upsample = nn.ConvTranspose2d(2 * features, features, 4, 2, 1, bias=not batch_norm)
        self.norm_1 = make_norm(features)
        self.out = nn.ConvTranspose2d(features, channels, 4, 2, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], 2 * self.features, *self.quarter)
        h = F.relu(self.norm_0(h))
        h = F.relu(self.norm_1(self.upsample(h)))
        h = self.out(h)
        if self.output == "sigmoid":
            return torch.sigmoid(h)
        return torch.tanh(h) if self.output == "tanh" else h


class TorchDCGANDiscriminator(nn.Module):
    """Images `[B, C, H, W]` -> logits `[B]`, as ``DCGANDiscriminator(features, norm, minibatch_std)``."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        features: int = 64,
        norm: str = "none",
        minibatch_std: bool = False,
        std_group_size: int = 4,
    ):
        super().__init__()
        if norm not in ("none", "layer"):
            raise ValueError(f"norm {norm!r} not supported")
        height, width = _quarter(image_shape)
        self.conv_0 = nn.Conv2d(image_shape[2], features, 4, 2, 1)
        self.conv_1 = nn.Conv2d(features, 2 * features, 4, 2, 1)
        self.norm = nn.GroupNorm(1, 2 * features, eps=EPS) if norm == "layer" else nn.Identity()
        self.std = TorchMinibatchStdDev(std_group_size) if minibatch_std else nn.Identity()
        self.map_shape = (height, width, 2 * features + int(minibatch_std))  # what the output layer reads
        self.out = nn.Linear(height * width * self.map_shape[2], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv_0(x), LEAKY_SLOPE)
        h = F.leaky_relu(self.norm(self.conv_1(h)), LEAKY_SLOPE)
        return self.out(self.std(h).flatten(1))[:, 0]


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array, np.float32))  # a writable copy (jax's arrays are read-only)


def _load(layer: nn.Module, params: dict, weight: np.ndarray) -> None:
    layer.weight.data.copy_(_tensor(weight))
    if layer.bias is not None:
        layer.bias.data.copy_(_tensor(params["bias"]))


def _load_flattened_dense(
    layer: nn.Linear, params: dict, map_shape: tuple[int, int, int], rows: bool
) -> None:
    """A flax Dense whose input (rows) or output is an NHWC map, flattened (h, w, c); torch: (c, h, w)."""
    kernel, bias = np.asarray(params["kernel"]), params.get("bias")
    other = kernel.shape[1] if rows else kernel.shape[0]
    if rows:  # [h w c, out] -> [out, c h w]
        weight = kernel.reshape(*map_shape, other).transpose(3, 2, 0, 1).reshape(other, -1)
    else:  # [in, h w c] -> [c h w, in]
        weight = kernel.reshape(other, *map_shape).transpose(3, 1, 2, 0).reshape(-1, other)
        if bias is not None:
            bias = np.asarray(bias).reshape(map_shape).transpose(2, 0, 1).reshape(-1)
    layer.weight.data.copy_(_tensor(weight))
    if layer.bias is not None:
        layer.bias.data.copy_(_tensor(bias))


def _load_norm(layer: nn.Module, params: dict | None) -> None:
    if params is not None:
        layer.weight.data.copy_(_tensor(params["scale"]))
        layer.bias.data.copy_(_tensor(params["bias"]))


def load_generator(net: TorchDCGANGenerator, variables: dict) -> None:
    """Copies a genjax `DCGANGenerator`'s variables into ``net`` (flipped HWIO -> IOHW transposed kernels)."""
    p = variables["params"]
    height, width = net.quarter
    _load_flattened_dense(net.project, p["project"], (height, width, 2 * net.features), rows=False)
    _load_norm(net.norm_0, p.get("norm_0"))
    _load_norm(net.norm_1, p.get("norm_1"))
    for layer, name in ((net.upsample, "upsample"), (net.out, "output")):
        # lax.conv_transpose without transpose_kernel correlates with the kernel as stored; torch's
        # transposed convolution is the adjoint of a correlation, i.e. uses the kernel flipped.
        kernel = np.asarray(p[name]["kernel"])[::-1, ::-1]
        _load(layer, p[name], kernel.transpose(2, 3, 0, 1))


def load_discriminator(net: TorchDCGANDiscriminator, variables: dict) -> None:
    """Copies a genjax `DCGANDiscriminator`'s variables into ``net`` (HWIO -> OIHW kernels)."""
    p = variables["params"]
    for layer, name in ((net.conv_0, "conv_0"), (net.conv_1, "conv_1")):
        _load(layer, p[name], np.asarray(p[name]["kernel"]).transpose(3, 2, 0, 1))
    _load_norm(net.norm, p.get("norm"))
    _load_flattened_dense(net.out, p["output"], net.map_shape, rows=True)


def torch_dcgan(
    image_shape: tuple[int, int, int],
    *,
    latent_dim: int = 100,
    features: int = 64,
    generator_norm: str = "batch",
    discriminator_norm: str = "none",
    minibatch_std: bool = False,
    output: str = "sigmoid",
    seed: int = 0,
) -> tuple[TorchDCGANGenerator, TorchDCGANDiscriminator]:
    """Fresh (generator, discriminator) with torch's default initialisation under ``seed``."""
    torch.manual_seed(seed)
    generator = TorchDCGANGenerator(image_shape, latent_dim, features, generator_norm, output)
    discriminator = TorchDCGANDiscriminator(image_shape, features, discriminator_norm, minibatch_std)
    return generator, discriminator


def torch_gan_step_runner(
    image_shape: tuple[int, int, int],
    *,
    features: int = 64,
    latent_dim: int = 100,
    batch_size: int = 64,
    nets: tuple[TorchDCGANGenerator, TorchDCGANDiscriminator] | None = None,
    pool: np.ndarray | None = None,
    pool_size: int = 8,
    reuse_fake: bool = True,
    skip_critic_grads: bool = False,
    fused: bool = False,
    compiled: bool = False,
    timeout: int = 300,
    learning_rate: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    seed: int = 0,
) -> Runner:
    """A runner (``steps -> seconds``) of full non-saturating GAN steps in torch, for ``interleaved_rounds``.

    One step: z ~ N(0, I) `[B, latent_dim]` drawn inside the step; fake = G(z); a discriminator
    update on BCE-with-logits(D(real), 1) + BCE-with-logits(D(fake.detach()), 0) (each a batch
    mean); then a generator update on BCE-with-logits(D(fake), 1) through the updated D. Two
    Adam optimisers (``learning_rate``, ``betas``; ``fused`` picks torch's fused kernel).

    Args:
      image_shape: (H, W, C), H and W divisible by 4.
      nets: (generator, discriminator) to train, copied first (e.g. after ``load_generator``);
        default: `torch_dcgan` with ``features``, ``latent_dim`` and ``seed``.
      pool: real images `[N, B, H, W, C]` (e.g. genjax's batches, moved to NCHW here); default:
        ``pool_size`` batches of uniform [0, 1) noise of ``batch_size`` images.
      reuse_fake: True (the usual torch loop, as the PyTorch DCGAN example): the generator step
        back-propagates through the fakes of the discriminator step, so G runs forward once per
        step. False: it draws fresh noise and runs G again, as two independent per-player losses do.
      skip_critic_grads: the generator step asks autograd for G's gradients only, skipping the
        discriminator's weight gradients that the usual loop computes and then throws away.
      compiled: ``torch.compile`` the whole step (warmed up on 3 batches within ``timeout`` s).
    """
    generator, discriminator = (
        copy.deepcopy(nets)
        if nets is not None
        else torch_dcgan(image_shape, latent_dim=latent_dim, features=features, seed=seed)
    )
    latent_dim = generator.project.in_features
    if pool is None:
        generator_rng = torch.Generator().manual_seed(seed)
        height, width, channels = image_shape
        batches = list(torch.rand(pool_size, batch_size, channels, height, width, generator=generator_rng))
    else:
        batches = list(
            torch.from_numpy(np.ascontiguousarray(np.asarray(pool, np.float32).transpose(0, 1, 4, 2, 3)))
        )
    g_params = list(generator.parameters())
    g_optimizer = torch.optim.Adam(g_params, lr=learning_rate, betas=betas, fused=fused)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=learning_rate, betas=betas, fused=fused)

    def train_step(real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = real.shape[0]
        ones, zeros = torch.ones(batch), torch.zeros(batch)
        fake = generator(torch.randn(batch, latent_dim))
        d_optimizer.zero_grad(set_to_none=True)
        real_loss = F.binary_cross_entropy_with_logits(discriminator(real), ones)
        # detach: the discriminator's loss must not reach the generator's parameters.
        d_loss = real_loss + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
        d_loss.backward()
        d_optimizer.step()

        g_optimizer.zero_grad(set_to_none=True)
        if not reuse_fake:
            fake = generator(torch.randn(batch, latent_dim))
        g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)  # non-saturating
        if skip_critic_grads:
            for param, grad in zip(g_params, torch.autograd.grad(g_loss, g_params), strict=True):
                param.grad = grad
        else:
            g_loss.backward()  # also fills D's .grad, cleared by the next D step's zero_grad
        g_optimizer.step()
        return d_loss.detach(), g_loss.detach()

    step = torch.compile(train_step) if compiled else train_step
    if compiled:
        torch_compile_warmup(step, batches[:3], timeout)
    return torch_runner(step, batches)
