"""PyTorch twins of genjax's diffusion networks and whole sampling chains, for a sampling-speed benchmark.

`TorchUNet` / `TorchNoiseConditionalMLP` have the layers, names and parameter counts of
`genjax.models.networks.unet.UNet` / `genjax.models.networks.mlps.NoiseConditionalMLP`; `load_flax_params`
copies a genjax parameter tree in (Dense kernels transposed, conv kernels HWIO -> OIHW), so both
sides compute the same function on the same input. The U-Net is channels-first (`[N, C, H, W]`);
the MLP takes examples in genjax's layout (`[N, ...]`, flattened in C order). Matching details:

* strided and 3x3 convolutions pad one pixel each side, as genjax's explicit ((1, 1), (1, 1));
* GroupNorm with genjax's group count (`unet.group_count`) and epsilon 1e-6;
* attention is ``F.scaled_dot_product_attention`` (PyTorch's fused kernel, same scale 1 / sqrt(C));
* the sinusoidal code shares genjax's float32 frequencies (`score_mlp.embedding_frequencies`).

The chain runners return a zero-argument callable that runs one whole chain for N samples, a
plain Python loop over steps under ``torch.no_grad`` (the usual PyTorch sampling loop), with the
network optionally ``torch.compile``d. The loops themselves (`ddpm_chain`,
`annealed_langevin_chain`) take their noise from a callable, so a test can feed them the noise
that genjax's scans draw and compare whole chains:

* `ddpm_chain_runner`: ancestral DDPM sampling (Ho et al. 2020) as `genjax.samplers.ddpm_sample`
  with ``variance="beta"`` and ``clip_denoised=True``: x0_hat = (x_t - sqrt(1 - abar_t) eps) /
  sqrt(abar_t) clipped to [-1, 1], mean = coef1_t x0_hat + coef2_t x_t, x_{t-1} = mean +
  sqrt(beta_t) z (no noise at t = 0); the network reads t as a float.
* `annealed_langevin_runner`: annealed Langevin dynamics (Song & Ermon 2019) as
  `genjax.samplers.annealed_langevin`: x <- x + eps_i s(x, sigma_i) + sqrt(2 eps_i) z with
  eps_i = step_size sigma_i^2 / sigma_L^2, s(x, sigma) = net(x, log sigma) / sigma (or without
  the division), starting from N(0, sigma_1^2 I) as the score family's "gaussian" init.

Only the benchmarks import this module (torch is not a genjax dependency).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from experiments.benchmarks.timing import torch_compile_warmup
from genjax.diffusion import linear_betas, make_schedule
from genjax.models.networks.embeddings import embedding_frequencies
from genjax.models.networks.unet import EPSILON, check_image_size, group_count


def torch_sinusoidal_embedding(values: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """values `[N]` -> `[N, dim]`: `genjax.models.networks.mlps.sinusoidal_embedding` in torch."""
    frequencies = torch.from_numpy(embedding_frequencies(dim, max_period=max_period)).to(values.device)
    angles = values.float()[:, None] * frequencies[None, :]
    embedding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
    return F.pad(embedding, (0, 1)) if dim % 2 else embedding


def _norm(channels: int, num_groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(group_count(channels, num_groups), channels, eps=EPSILON)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


class TorchResBlock(nn.Module):
    """x `[N, C_in, H, W]`, temb `[N, E]` -> `[N, C_out, H, W]`, as `unet.ResBlock`."""

    def __init__(self, in_channels: int, out_channels: int, temb_dim: int, num_groups: int, dropout: float):
        super().__init__()
        self.norm_0 = _norm(in_channels, num_groups)
        self.conv_0 = _conv3x3(in_channels, out_channels)
        self.temb_proj = nn.Linear(temb_dim, out_channels)
        self.norm_1 = _norm(out_channels, num_groups)
        self.dropout = nn.Dropout(dropout)
        self.conv_1 = _conv3x3(out_channels, out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv_0(F.silu(self.norm_0(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv_1(self.dropout(F.silu(self.norm_1(h))))
        return self.skip(x) + h


class TorchAttnBlock(nn.Module):
    """`[N, C, H, W] -> [N, C, H, W]`: single-head self-attention over H*W, as `unet.AttnBlock`."""

    def __init__(self, channels: int, num_groups: int):
        super().__init__()
        self.norm = _norm(channels, num_groups)
        self.q, self.k, self.v = (nn.Linear(channels, channels) for _ in range(3))
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # [N, HW, C]
        h = F.scaled_dot_product_attention(self.q(h), self.k(h), self.v(h))
        h = self.proj_out(h).transpose(1, 2).reshape(batch, channels, height, width)
        return x + h


class TorchUNet(nn.Module):
    """(x `[N, C, H, W]`, cond `[N]`) -> `[N, out_channels or C, H, W]`, as ``UNet(...)`` on
    `[H, W, C]` images (the image shape fixes where attention goes, as the input does in genjax).

    Sub-modules carry genjax's names (``down_0_res_1``, ``mid_attn``, ``up_1_upsample``, ...).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_res_blocks: int = 2,
        attention_resolutions: Sequence[int] = (16,),
        dropout: float = 0.0,
        num_groups: int = 32,
        out_channels: int | None = None,
    ):
        super().__init__()
        height, width, in_channels = image_shape
        check_image_size(height, width, channel_mults)
        self.channels, self.mults, self.num_res_blocks = channels, tuple(channel_mults), num_res_blocks
        temb_dim = 4 * channels
        self.temb_0, self.temb_1 = nn.Linear(channels, temb_dim), nn.Linear(temb_dim, temb_dim)
        self.conv_in = _conv3x3(in_channels, channels)

        def res(name: str, c_in: int, c_out: int) -> None:
            self.add_module(name, TorchResBlock(c_in, c_out, temb_dim, num_groups, dropout))

        def maybe_attend(name: str, c: int, size: int) -> None:
            if size in attention_resolutions:
                self.add_module(name, TorchAttnBlock(c, num_groups))

        skips, width_now, size = [channels], channels, height
        for level, mult in enumerate(self.mults):
            for index in range(num_res_blocks):
                res(f"down_{level}_res_{index}", width_now, channels * mult)
                width_now = channels * mult
                maybe_attend(f"down_{level}_attn_{index}", width_now, size)
                skips.append(width_now)
            if level < len(self.mults) - 1:
                self.add_module(f"down_{level}_downsample", _conv3x3(width_now, width_now, stride=2))
                skips.append(width_now)
                size //= 2
        res("mid_res_0", width_now, width_now)
        self.mid_attn = TorchAttnBlock(width_now, num_groups)
        res("mid_res_1", width_now, width_now)
        for level in reversed(range(len(self.mults))):
            for index in range(num_res_blocks + 1):
                res(f"up_{level}_res_{index}", width_now + skips.pop(), channels * self.mults[level])
                width_now = channels * self.mults[level]
                maybe_attend(f"up_{level}_attn_{index}", width_now, size)
            if level > 0:
                self.add_module(f"up_{level}_upsample", _conv3x3(width_now, width_now))
                size *= 2
        self.norm_out = _norm(width_now, num_groups)
        self.conv_out = _conv3x3(width_now, out_channels or in_channels)

    def _block(self, name: str, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = getattr(self, name.format(kind="res"))(h, temb)
        attention = name.format(kind="attn")
        return getattr(self, attention)(h) if hasattr(self, attention) else h

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        temb = self.temb_1(F.silu(self.temb_0(torch_sinusoidal_embedding(cond, self.channels))))
        h = self.conv_in(x)
        skips = [h]
        for level in range(len(self.mults)):
            for index in range(self.num_res_blocks):
                h = self._block(f"down_{level}_{{kind}}_{index}", h, temb)
                skips.append(h)
            if level < len(self.mults) - 1:
                h = getattr(self, f"down_{level}_downsample")(h)
                skips.append(h)
        h = self.mid_res_1(self.mid_attn(self.mid_res_0(h, temb)), temb)
        for level in reversed(range(len(self.mults))):
            for index in range(self.num_res_blocks + 1):
                h = self._block(f"up_{level}_{{kind}}_{index}", torch.cat([h, skips.pop()], dim=1), temb)
            if level > 0:
                h = getattr(self, f"up_{level}_upsample")(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


class TorchNoiseConditionalMLP(nn.Module):
    """(x `[N, *D]`, cond `[N]`) -> `[N, *D]`, as ``NoiseConditionalMLP(hidden, embedding_dim, "silu")``."""

    def __init__(self, element_shape: Sequence[int], hidden: Sequence[int], embedding_dim: int = 64):
        super().__init__()
        num_dims, widths = math.prod(element_shape), [math.prod(element_shape), *hidden]
        self.embedding_dim = embedding_dim
        self.embed = nn.Linear(embedding_dim, embedding_dim)
        for index, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            self.add_module(f"dense_{index}", nn.Linear(w_in, w_out))
            self.add_module(f"cond_{index}", nn.Linear(embedding_dim, w_out))
        self.num_hidden = len(hidden)
        self.out = nn.Linear(widths[-1], num_dims)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        embedding = F.silu(self.embed(torch_sinusoidal_embedding(cond, self.embedding_dim)))
        h = x.reshape(x.shape[0], -1)
        for index in range(self.num_hidden):
            h = F.silu(getattr(self, f"dense_{index}")(h) + getattr(self, f"cond_{index}")(embedding))
        return self.out(h).reshape(x.shape)


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array, np.float32))  # a writable copy (jax's arrays are read-only)


def _copy(module: nn.Module, tree: dict, path: str) -> int:
    """Copies one flax sub-tree into ``module``; returns the number of values copied."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        kernel = np.asarray(tree["kernel"])
        # Dense [in, out] -> [out, in]; conv [kh, kw, in, out] -> [out, in, kh, kw].
        weight = kernel.T if kernel.ndim == 2 else kernel.transpose(3, 2, 0, 1)
        pairs = [(module.weight, weight), (module.bias, tree["bias"])]
    elif isinstance(module, nn.GroupNorm):
        pairs = [(module.weight, tree["scale"]), (module.bias, tree["bias"])]
    else:
        return sum(_copy(getattr(module, name), sub, f"{path}/{name}") for name, sub in tree.items())
    for target, value in pairs:
        if tuple(target.shape) != np.shape(value):
            raise ValueError(f"{path}: torch shape {tuple(target.shape)} != flax {np.shape(value)}")
        target.data.copy_(_tensor(value))
    return sum(target.numel() for target, _ in pairs)


def load_flax_params(torch_model: nn.Module, flax_params: dict) -> None:
    """Copies a genjax `UNet` / `NoiseConditionalMLP` parameter tree (with or without the outer
    ``{"params": ...}``) into its torch twin; raises unless every torch parameter was written."""
    tree = flax_params.get("params", flax_params)
    copied = _copy(torch_model, tree, "")
    expected = sum(p.numel() for p in torch_model.parameters())
    if copied != expected:
        raise ValueError(f"copied {copied} values into a torch model of {expected} parameters")


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


NoiseFn = Callable[[int], torch.Tensor]  # step index (0 = the first update) -> that step's z


def ddpm_constants(num_steps: int) -> list[tuple[int, float, float, float, float, float]]:
    """Per timestep t (ascending): (t, sqrt(abar_t), sqrt(1 - abar_t), coef1_t, coef2_t, sqrt(beta_t)),
    from genjax's own linear schedule (`linear_betas`, `make_schedule`)."""
    schedule = make_schedule(linear_betas(num_steps))
    names = ("sqrt_alpha_bars", "sqrt_one_minus_alpha_bars", "posterior_mean_coef1", "posterior_mean_coef2")
    columns = [np.asarray(getattr(schedule, name), np.float32) for name in names]
    # Variance "beta" (Ho's fixedlarge): std sqrt(beta_t).
    columns.append(np.sqrt(np.asarray(schedule.betas, np.float32)))
    return [(t, *(float(column[t]) for column in columns)) for t in range(num_steps)]


def ddpm_chain(model, x: torch.Tensor, constants: list, draw_noise: NoiseFn) -> torch.Tensor:
    """x_T `[N, ...]` -> x_0: the ancestral chain over t = T-1, ..., 0 (call under no_grad).

    Step i (t = T-1-i) draws ``draw_noise(i)`` except the last, which returns its mean, as
    `genjax.samplers.ddpm_sample` (whose scan position i also uses the i-th noise).
    """
    num_samples, last = x.shape[0], len(constants) - 1
    for t, sqrt_abar, sqrt_one_minus_abar, coef1, coef2, std in reversed(constants):
        eps = model(x, torch.full((num_samples,), float(t), device=x.device))
        x0 = ((x - sqrt_one_minus_abar * eps) / sqrt_abar).clamp_(-1.0, 1.0)
        x = coef1 * x0 + coef2 * x
        if t > 0:
            x = x + std * draw_noise(last - t)
    return x


def langevin_levels(sigmas: Sequence[float], step_size: float) -> list[tuple[float, float, float]]:
    """Per level (sigma_i, log sigma_i, eps_i = step_size sigma_i^2 / sigma_L^2), computed in float32 as
    genjax does."""
    sigmas = np.asarray(sigmas, np.float32)
    eps = np.float32(step_size) * np.square(sigmas / sigmas[-1])
    return [(float(s), float(np.log(s)), float(e)) for s, e in zip(sigmas, eps, strict=True)]


def annealed_langevin_chain(
    model,
    x: torch.Tensor,
    levels: list[tuple[float, float, float]],
    steps_per_sigma: int,
    draw_noise: NoiseFn,
    *,
    scale_by_sigma: bool = True,
    final_denoise: bool = False,
) -> torch.Tensor:
    """x0 `[N, ...]` -> the final samples, as `genjax.samplers.annealed_langevin` (call under no_grad).

    Step i (level i // steps_per_sigma) uses ``draw_noise(i)``; the score is model(x, log sigma) / sigma
    with ``scale_by_sigma`` (the score family's option), else model(x, log sigma).
    """
    num_samples = x.shape[0]

    def score(x: torch.Tensor, sigma: float, log_sigma: float) -> torch.Tensor:
        out = model(x, torch.full((num_samples,), log_sigma, device=x.device))
        return out / sigma if scale_by_sigma else out

    step = 0
    for sigma, log_sigma, eps in levels:
        noise_std = math.sqrt(2.0 * eps)
        for _ in range(steps_per_sigma):
            x = x + eps * score(x, sigma, log_sigma) + noise_std * draw_noise(step)
            step += 1
    if final_denoise:
        sigma, log_sigma, _ = levels[-1]
        x = x + sigma**2 * score(x, sigma, log_sigma)
    return x


def _prepare(net: nn.Module, size: tuple[int, ...], compiled: bool, timeout: int, device: str):
    net.eval().to(device)  # dropout off, as genjax samples without a dropout rng
    if not compiled:
        return net
    model = torch.compile(net)
    # Warm up under no_grad: grad mode is part of the compile guard, and a warm-up with gradients
    # on would leave the real compile to the first timed chain.
    with torch.no_grad():
        warm_x, warm_cond = torch.zeros(size, device=device), torch.ones(size[0], device=device)
        torch_compile_warmup(lambda cond: model(warm_x, cond), [warm_cond], timeout)
    return model


def _chain_callable(
    size: tuple[int, ...], seed: int, device: str, chain: Callable[[NoiseFn], torch.Tensor]
) -> Callable[[], torch.Tensor]:
    """``run() -> x``: one whole ``chain(draw)`` under no_grad, its noise from a seeded generator."""
    generator = torch.Generator(device).manual_seed(seed)

    def draw(_: int = 0) -> torch.Tensor:
        return torch.randn(size, generator=generator, device=device)

    @torch.no_grad()
    def run() -> torch.Tensor:
        x = chain(draw)
        _sync(device)  # a CUDA chain waits for its kernels, so the callable's wall time is the chain's
        return x

    return run


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":  # kernels run asynchronously: a timed chain must wait
        torch.cuda.synchronize(device)


def ddpm_chain_runner(
    net: nn.Module,
    shape: Sequence[int],
    num_samples: int,
    *,
    num_steps: int = 1000,
    compiled: bool = False,
    seed: int = 0,
    compile_timeout: int = 600,
    device: str = "cpu",
) -> Callable[[], torch.Tensor]:
    """A callable running one whole ancestral DDPM chain: ``num_steps`` network calls from N(0, I).

    Args:
      net: ``eps_hat = net(x_t, t as float [N])``, e.g. a `TorchUNet`.
      shape: one example's shape in the net's layout, e.g. (C, H, W) for a `TorchUNet`.
      num_samples: chains run together (the batch).
      compiled: ``torch.compile`` the network (compiled and warmed up here, before returning;
        raises TimeoutError after ``compile_timeout`` seconds).
      device: where the network (moved there) and the chain run; a CUDA chain synchronises
        before returning, so the callable's wall time is the chain's.
    Returns:
      ``run() -> x_0 [num_samples, *shape]`` (fresh noise on every call).
    """
    constants = ddpm_constants(num_steps)
    size = (num_samples, *shape)
    model = _prepare(net, size, compiled, compile_timeout, device)
    return _chain_callable(size, seed, device, lambda draw: ddpm_chain(model, draw(), constants, draw))


def annealed_langevin_runner(
    net: nn.Module,
    shape: Sequence[int],
    num_samples: int,
    sigmas: Sequence[float],
    *,
    step_size: float,
    steps_per_sigma: int,
    scale_by_sigma: bool = True,
    final_denoise: bool = False,
    compiled: bool = False,
    seed: int = 0,
    compile_timeout: int = 600,
    device: str = "cpu",
) -> Callable[[], torch.Tensor]:
    """A callable running one whole annealed-Langevin chain from N(0, sigma_1^2 I):
    len(sigmas) * steps_per_sigma network calls (one more with ``final_denoise``).

    Args:
      net: ``out = net(x, log sigma [N])``, e.g. a `TorchNoiseConditionalMLP` or `TorchUNet`.
      shape: one example's shape in the net's layout.
      sigmas: `[L]` decreasing noise levels (e.g. `genjax.samplers.langevin.geometric_sigmas`).
      step_size: eps at the last level.
      compiled, device: as in `ddpm_chain_runner`.
    Returns:
      ``run() -> x [num_samples, *shape]`` (fresh noise on every call).
    """
    levels = langevin_levels(sigmas, step_size)
    size = (num_samples, *shape)
    model = _prepare(net, size, compiled, compile_timeout, device)

    def chain(draw: NoiseFn) -> torch.Tensor:
        start = levels[0][0] * draw()
        return annealed_langevin_chain(
            model,
            start,
            levels,
            steps_per_sigma,
            draw,
            scale_by_sigma=scale_by_sigma,
            final_denoise=final_denoise,
        )

    return _chain_callable(size, seed, device, chain)
