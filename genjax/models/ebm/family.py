"""The energy-based family: p(x) = exp(-E(x)) / Z with an MLP energy E.

Objectives (``model.objective``):

* ``cd``: contrastive divergence, E(data) - E(model samples), the samples from
  Langevin chains run with the current energy at the start of each step
  (``model.chains``): ``short_run`` from fresh noise every step (Nijkamp et al.
  2019), ``persistent`` (PCD, Tieleman 2008: one chain per batch row carried
  across steps) or ``replay`` (a buffer of ``buffer_size`` chain ends, restarted
  from noise with probability ``reinit_prob``, Du & Mordatch 2019). Chains and
  buffer live in ``TrainState.model_state``, so resume is exact.
* ``nce``: noise-contrastive estimation against N(nce_noise_mean,
  nce_noise_std^2 I) with a learned log-partition constant ``log_z``.
* ``esm`` / ``ssm`` / ``ssm_vr``: exact and sliced score matching on the score
  -grad E, which never needs Z.

Sampling runs ``sample_steps`` of ULA (``sampler = "langevin"``) or MALA from
uniform noise on [init_low, init_high], or (``sampler = "smc"``) tempered SMC from the same
noise (`genjax.samplers.tempered_smc`): particles carried through exp(-beta E) on the box for
``smc_num_betas`` inverse temperatures geometric from ``smc_beta_min`` to 1, reweighted at
each, resampled when the ESS falls below ``smc_resample_threshold`` N, and moved by
``smc_steps_per_beta`` MALA steps of size ``sample_step_size``; a final systematic
resampling gives equally weighted samples. Local chains from noise that miss the data stay
on the energy's nearly flat far field, where the gradient is too weak to pull them back;
the importance weights replace them, so the samples follow exp(-E)'s mass on the box.

On 2-D continuous data ``log_prob`` normalises exp(-E) by quadrature on a ``quadrature_points``^2 grid over
[quadrature_low, quadrature_high]^2 (exact up to the grid and the box), so EBMs
get a test NLL like every other family.

Chain fields: ``langevin_steps``, ``step_size``, ``noise_scale`` (None: the
exact sqrt(2 step_size)), ``grad_clip`` (0: off), ``energy_l2`` (Du & Mordatch's
E^2 regulariser).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields
from genjax.errors import ConfigError
from genjax.losses.ebm import contrastive_divergence, nce_loss
from genjax.losses.score import exact_score_matching, sliced_score_matching
from genjax.models import precision
from genjax.models.bundle import Batch, GenerativeModel, Params, masked_mean
from genjax.models.networks.mlps import EnergyMLP
from genjax.samplers.langevin import langevin, mala
from genjax.samplers.replay_buffer import replay_buffer_init, replay_buffer_sample, replay_buffer_update
from genjax.samplers.tempering import geometric_betas, systematic_resample, tempered_smc
from genjax.spec import DataSpec

Array = jax.Array
OBJECTIVES = ("cd", "nce", "esm", "ssm", "ssm_vr")
CHAINS = ("short_run", "persistent", "replay")
SAMPLERS = ("langevin", "mala", "smc")


def validate(m: ml_collections.ConfigDict, spec: DataSpec) -> None:
    objective = fields.choice(m, "objective", OBJECTIVES)
    fields.widths(m, "hidden")
    if m.init_low >= m.init_high:
        raise ConfigError(f"model.init_low: got {m.init_low}; must be below init_high ({m.init_high})")
    if fields.choice(m, "sampler", SAMPLERS) == "smc":
        fields.number(m, "smc_num_betas", integer=True, positive=True)
        fields.number(m, "smc_steps_per_beta", integer=True, positive=True)
        fields.fraction(m, "smc_resample_threshold")
        if not 0 < m.smc_beta_min <= 1:
            raise ConfigError(f"model.smc_beta_min: got {m.smc_beta_min}; must be in (0, 1]")
    fields.number(m, "sample_steps", integer=True, positive=True)
    fields.number(m, "sample_step_size", positive=True)
    if objective == "cd":
        if fields.choice(m, "chains", CHAINS) == "replay":
            fields.number(m, "buffer_size", integer=True, positive=True)
            fields.fraction(m, "reinit_prob")
        fields.number(m, "langevin_steps", integer=True, positive=True)
        fields.number(m, "step_size", positive=True)
        fields.number(m, "grad_clip")
        fields.number(m, "energy_l2")
        if m.get("noise_scale") is not None:
            fields.number(m, "noise_scale")
    if objective == "nce":
        fields.number(m, "nce_noise_std", positive=True)
        fields.number(m, "nce_noise_ratio", integer=True, positive=True)
    if objective in ("ssm", "ssm_vr"):
        fields.number(m, "num_projections", integer=True, positive=True)
    if spec.tokens:
        raise ConfigError(f"data.name: {spec.name!r} holds tokens; the EBMs here model continuous values")


def build(config: ml_collections.ConfigDict, spec: DataSpec) -> GenerativeModel:
    """The EBM bundle: one player, ``energy`` (``{"net": ..., "log_z": scalar}`` with NCE)."""
    m = config.model
    validate(m, spec)
    element_shape = spec.element_shape
    images = spec.num_levels is not None
    net = EnergyMLP(hidden=tuple(m.hidden), activation=m.get("activation", "silu"))
    # float32 only: Langevin chains and score matching follow grad_x E, which bfloat16 would
    # quantise to ~3 significant digits, and the quadrature log_prob normalises exp(-E).
    precision.policy(config, family="ebm", architecture="mlp", supported=())
    learns_log_z = m.objective == "nce"

    def energy_fn_of(params: Params):
        return lambda x: net.apply(params["energy"]["net"], x)

    def grad_log_prob_of(params: Params):
        energy_fn = energy_fn_of(params)
        return lambda x: -jax.grad(lambda y: jnp.sum(energy_fn(y)))(x)

    def score_fn_of(params: Params):
        grad_log_prob = grad_log_prob_of(params)
        return lambda x, sigma=None: grad_log_prob(x)

    def chain_starts(rng: Array, num: int) -> Array:
        return jax.random.uniform(rng, (num, *element_shape), minval=m.init_low, maxval=m.init_high)

    def run_chains(params: Params, x0: Array, rng: Array) -> Array:
        x = langevin(
            rng,
            grad_log_prob_of(params),
            x0,
            step_size=m.step_size,
            num_steps=m.langevin_steps,
            noise_scale=m.get("noise_scale"),
            grad_clip=m.grad_clip or None,
        )
        x = jnp.clip(x, m.init_low, m.init_high) if images else x
        return jax.lax.stop_gradient(x)

    def init(rng: Array, batch: Batch) -> Params:
        params = {"net": net.init(rng, batch["x"])}
        if learns_log_z:
            params["log_z"] = jnp.zeros((), jnp.float32)
        return {"energy": params}

    def init_model_state(rng: Array, batch: Batch):
        size = batch["x"].shape[0] if m.chains == "persistent" else m.buffer_size
        return replay_buffer_init(chain_starts(rng, size))

    def advance_model_state(params: Params, buffer, batch: Batch, rng: Array):
        start_key, pick_key, chain_key = jax.random.split(rng, 3)
        num = batch["x"].shape[0]
        fresh = chain_starts(start_key, num)
        if m.chains == "short_run":
            return buffer, {**batch, "x_model": run_chains(params, fresh, chain_key)}
        reinit = 0.0 if m.chains == "persistent" else m.reinit_prob
        x0, indices = replay_buffer_sample(pick_key, buffer, num, fresh, reinit_prob=reinit)
        x_model = run_chains(params, x0, chain_key)
        return replay_buffer_update(buffer, indices, x_model), {**batch, "x_model": x_model}

    def loss(params: Params, batch: Batch, rng: Array):
        x = batch["x"]
        energy_fn = energy_fn_of(params)
        if m.objective == "cd":
            value = contrastive_divergence(energy_fn, x, batch["x_model"], energy_l2=m.energy_l2)
            gap = jnp.mean(energy_fn(x)) - jnp.mean(energy_fn(batch["x_model"]))
            return value, {"energy_gap": gap}
        if m.objective == "nce":
            num_noise = m.nce_noise_ratio * x.shape[0]
            noise = m.nce_noise_mean + m.nce_noise_std * jax.random.normal(rng, (num_noise, *x.shape[1:]))
            log_z = params["energy"]["log_z"]
            value = nce_loss(lambda y: -energy_fn(y), noise_log_prob, x, noise, log_z)
            return value, {"log_z": log_z}
        if m.objective == "esm":
            return masked_mean(exact_score_matching(score_fn_of(params), x), batch), {}
        values = sliced_score_matching(
            rng,
            score_fn_of(params),
            x,
            num_projections=m.num_projections,
            variance_reduced=m.objective == "ssm_vr",
        )
        return masked_mean(values, batch), {}

    def noise_log_prob(x: Array) -> Array:
        z = (x - m.nce_noise_mean) / m.nce_noise_std
        flat = z.reshape(z.shape[0], -1)
        d = flat.shape[1]
        return -0.5 * jnp.sum(flat**2, axis=1) - d * (jnp.log(m.nce_noise_std) + 0.5 * jnp.log(2 * jnp.pi))

    def log_partition(params: Params) -> Array:
        """log Z by the midpoint rule on the quadrature grid (2-D data)."""
        points = jnp.linspace(m.quadrature_low, m.quadrature_high, m.quadrature_points + 1)
        centres = 0.5 * (points[1:] + points[:-1])
        cell = (points[1] - points[0]) ** 2
        grid = jnp.stack(jnp.meshgrid(centres, centres, indexing="ij"), axis=-1).reshape(-1, 2)
        return jax.nn.logsumexp(-energy_fn_of(params)(grid)) + jnp.log(cell)

    def log_prob(params: Params, batch: Batch, rng: Array) -> Array:
        return -energy_fn_of(params)(batch["x"]) - log_partition(params)

    def eval_metrics(params: Params, batch: Batch, rng: Array) -> dict[str, Array]:
        metrics = {"energy": energy_fn_of(params)(batch["x"])}
        if learns_log_z:  # NCE's own normaliser: an estimate of log p in any dimension
            metrics["nce_log_prob"] = -metrics["energy"] - params["energy"]["log_z"]
        return metrics

    def in_box(x: Array) -> Array:
        """`[N]` log of the uniform start's (unnormalised) density: 0 on the box, -inf off it."""
        inside = jnp.all((x >= m.init_low) & (x <= m.init_high), axis=tuple(range(1, x.ndim)))
        return jnp.where(inside, 0.0, -jnp.inf)

    def sample_smc(params: Params, rng: Array, x0: Array) -> Array:
        chain_key, pick_key = jax.random.split(rng)
        result = tempered_smc(
            chain_key,
            lambda x: -energy_fn_of(params)(x),
            in_box,
            x0,
            geometric_betas(m.smc_num_betas, m.smc_beta_min),
            step_size=m.sample_step_size,
            steps_per_beta=m.smc_steps_per_beta,
            resample_threshold=m.smc_resample_threshold,
        )
        return result.samples[systematic_resample(pick_key, result.log_weights, x0.shape[0])]

    def sample(params: Params, rng: Array, num_samples: int) -> Array:
        start_key, chain_key = jax.random.split(rng)
        x0 = chain_starts(start_key, num_samples)
        if m.sampler == "smc":
            return sample_smc(params, chain_key, x0)
        if m.sampler == "mala":
            log_prob_fn = lambda x: -energy_fn_of(params)(x)
            x = mala(chain_key, log_prob_fn, x0, step_size=m.sample_step_size, num_steps=m.sample_steps)
        else:
            x = langevin(
                chain_key,
                grad_log_prob_of(params),
                x0,
                step_size=m.sample_step_size,
                num_steps=m.sample_steps,
                noise_scale=m.get("sample_noise_scale"),
            )
        return jnp.clip(x, m.init_low, m.init_high) if images else x

    two_d = element_shape == (2,) and not images
    uses_chains = m.objective == "cd"
    return GenerativeModel(
        init=init,
        losses={"energy": loss},
        sample=sample,
        log_prob=log_prob if two_d else None,
        element_shape=element_shape,
        eval_metrics=eval_metrics,
        init_model_state=init_model_state if uses_chains and m.chains != "short_run" else None,
        advance_model_state=advance_model_state if uses_chains else None,
        convolutional=False,  # an MLP energy
    )
