"""The train step: losses to updates for every player, jitted over a device mesh.

This is the only place in genjax that turns losses into parameter updates. Each
player minimises its own loss over its own parameters, in the order of
``model.losses``, taking ``optim.<player>.updates_per_step`` updates per step
(WGAN's n_critic); later players see earlier players' fresh parameters. The
players in ``model.losses_read_opt_state`` also get every player's current
optimizer state (``opt_state=``, a constant), e.g. the unrolled GAN's generator,
which looks ahead through the critic's real Adam steps; the others' losses are
called as before.
``steps_per_call`` steps run inside one ``lax.scan`` so small models pay one
dispatch per call instead of one per step.

``train.step_loop`` picks how the K steps of a call run: ``scan`` (one jitted
``lax.scan``), ``host`` (K calls of one jitted step from Python) or ``auto``
(the default): ``scan``. Until issue 18 ``auto`` chose ``host`` for families
declaring ``GenerativeModel.convolutional`` on CPU, because XLA:CPU ran JAX's
derivative convolutions (swapped dimension numbers) about ten times slower
inside a scan's body. The conv families now run
`genjax.models.networks.convolution` (and the masked taps' matmuls), whose
derivative programs are NHWC/HWIO, and a K=10 scan is as fast as K calls or
faster (host ms / scan ms: DCGAN 28x28 333/331, VAE conv 33/35, Glow 43/33,
RealNVP 258/213, PixelCNN 89/90, DDPM U-Net 293/263; BENCHMARKS.md
"Convolution throughput against the matmul rate"). ``host`` stays for a model
whose own layers call lax's convolutions. Both give the same per-step maths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import chex
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from genjax.errors import ConfigError
from genjax.models.bundle import Batch, GenerativeModel
from genjax.train.state import TrainState

Array = jax.Array
DATA_AXIS = "data"

# Purposes folded into the per-step key; distinct constants keep streams independent.
PURPOSE_INIT = 0
PURPOSE_LOSS = 1
PURPOSE_EVAL = 2
PURPOSE_SAMPLE = 3
PURPOSE_QUALITY = 4
PURPOSE_MODEL_STATE = 5
PURPOSE_HOOK = 6
PURPOSE_BUFFERS = 7


def step_key(seed: int, step, purpose: int) -> Array:
    """``fold_in(fold_in(seed_key, step), purpose)``: the run's only source of randomness."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), step), purpose)


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices (all by default), axis "data"."""
    devices = jax.devices()[: num_devices or jax.device_count()]
    return Mesh(devices, (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, *, stacked: bool) -> NamedSharding:
    """Shards the batch axis over "data"; ``stacked`` batches carry a leading steps axis."""
    spec = PartitionSpec(None, DATA_AXIS) if stacked else PartitionSpec(DATA_AXIS)
    return NamedSharding(mesh, spec)


def init_train_state(
    model: GenerativeModel,
    optimizers: Mapping[str, optax.GradientTransformation],
    batch: Batch,
    *,
    seed: int,
    ema: bool,
) -> TrainState:
    """Initial state from one (unstacked) example batch; pure, so it can be jitted."""
    init_key = step_key(seed, 0, PURPOSE_INIT)
    params = model.init(init_key, batch)
    opt_state = {player: optimizers[player].init(params[player]) for player in model.players}
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=opt_state,
        # A copy, not an alias: the step donates the state, and one buffer cannot be donated twice.
        ema_params=jax.tree.map(jnp.copy, params) if ema else None,
        model_state=(
            None
            if model.init_model_state is None
            # Not step 0's PURPOSE_MODEL_STATE key: the first step's chain noise uses that one.
            else model.init_model_state(jax.random.fold_in(init_key, PURPOSE_MODEL_STATE), batch)
        ),
    )


def _global_norm(tree) -> Array:
    """The L2 norm of all leaves together, accumulated in float32."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in jax.tree.leaves(tree)))


def _micro_batches(batch: Batch, num_micro: int) -> Batch:
    """`[B, ...]` -> `[k, B/k, ...]`, micro-batch j = rows j, j + k, j + 2k, ...

    Strided, not contiguous: each device's shard of B holds B/(k devices) rows of
    every micro-batch, so splitting moves no data between devices.
    """
    return jax.tree.map(
        lambda b: b.reshape(b.shape[0] // num_micro, num_micro, *b.shape[1:]).swapaxes(0, 1), batch
    )


def make_single_step(
    model: GenerativeModel,
    optimizers: Mapping[str, optax.GradientTransformation],
    *,
    seed: int,
    updates_per_step: Mapping[str, int],
    ema_decay: float = 0.0,
    schedules: Mapping[str, optax.Schedule] | None = None,
    grad_accum_steps: int = 1,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, Array]]]:
    """One optimisation step for every player: ``(state, batch) -> (state, metrics)``.

    Metrics are scalars named ``loss``, ``grad_norm`` (the global norm of the raw
    gradient of the player's last update), ``lr`` (with ``schedules``: the learning
    rate of the step's first update) and the family's ``<metric>``s for a single
    player, and ``<player>/...`` for several.

    Args:
      schedules: ``{player: schedule of its update count}`` (`genjax.optim.player_schedule`).
      grad_accum_steps: k > 1 splits the batch into k micro-batches, feeds their
        gradients one by one to optimizers wrapped in ``optax.MultiSteps`` (see
        `genjax.optim.make_optimizers`), which apply the mean once: the same update
        as one batch, in 1/k of the activation memory. Micro-batch j's loss key is
        ``fold_in(key, j)``.
    """
    players = model.players
    prefix = {p: "" if len(players) == 1 else f"{p}/" for p in players}
    unknown = sorted(set(model.losses_read_opt_state) - set(players))
    if unknown:
        raise ValueError(f"model.losses_read_opt_state names {unknown}, which are not players {players}")

    def value_and_grad(player, params, player_params, batch, rng, opt_states):
        if player in model.losses_read_opt_state:
            # Constants to the loss: a look-ahead reads the states, it does not train them.
            extra = {"opt_state": jax.lax.stop_gradient(opt_states)}
        else:
            extra = {}

        def player_loss(theta):
            return model.losses[player]({**params, player: theta}, batch, rng, **extra)

        return jax.value_and_grad(player_loss, has_aux=True)(player_params)

    def checked(player, loss, aux, grads, theta):
        """Trace-time checks of what a family's loss hands the optimizer (chex, no runtime cost)."""
        chex.assert_rank(loss, 0, custom_message=f"model.losses[{player!r}] must return a scalar loss")
        chex.assert_rank(
            list(aux.values()), 0, custom_message=f"model.losses[{player!r}]'s metrics must be scalars"
        )
        # Gradients shaped, typed and structured like the parameters: a bfloat16 leak into
        # the float32 parameters or a loss over another player's parameters fails here.
        chex.assert_trees_all_equal_shapes_and_dtypes(grads, theta)

    def update(player, params, opt_states, batch, rng):
        """One update of ``player``: ``(new params, new opt state, loss, aux, grad norm)``.

        ``opt_states`` holds every player's state at the start of this update; the
        losses in ``model.losses_read_opt_state`` see it, micro-batches included.
        """
        opt_state = opt_states[player]
        if grad_accum_steps == 1:
            (loss, aux), grads = value_and_grad(player, params, params[player], batch, rng, opt_states)
            checked(player, loss, aux, grads, params[player])
            updates, opt_state = optimizers[player].update(grads, opt_state, params[player])
            new_params = optax.apply_updates(params[player], updates)
            return new_params, opt_state, loss, aux, _global_norm(grads)

        def micro_step(carry, inputs):
            theta, inner_state, grad_sum = carry
            index, micro_batch = inputs
            (loss, aux), grads = value_and_grad(
                player, params, theta, micro_batch, jax.random.fold_in(rng, index), opt_states
            )
            checked(player, loss, aux, grads, theta)
            # MultiSteps returns zero updates until the k-th micro-batch, so theta is
            # the step's starting point for every micro-batch's gradient.
            updates, inner_state = optimizers[player].update(grads, inner_state, theta)
            grad_sum = jax.tree.map(jnp.add, grad_sum, grads)
            return (optax.apply_updates(theta, updates), inner_state, grad_sum), (loss, aux)

        zeros = jax.tree.map(jnp.zeros_like, params[player])
        (theta, opt_state, grad_sum), (losses, auxes) = jax.lax.scan(
            micro_step,
            (params[player], opt_state, zeros),
            (jnp.arange(grad_accum_steps), _micro_batches(batch, grad_accum_steps)),
        )
        mean_grads = jax.tree.map(lambda g: g / grad_accum_steps, grad_sum)
        aux = jax.tree.map(lambda v: jnp.mean(v, axis=0), auxes)
        return theta, opt_state, jnp.mean(losses), aux, _global_norm(mean_grads)

    def single_step(state: TrainState, batch: Batch):
        chex.assert_equal_shape_prefix(
            list(batch.values()), 1, custom_message="every batch entry needs the same batch axis [B, ...]"
        )
        if grad_accum_steps > 1:
            chex.assert_axis_dimension_gteq(jax.tree.leaves(batch)[0], 0, grad_accum_steps)
        base_key = step_key(seed, state.step, PURPOSE_LOSS)
        params = dict(state.params)
        opt_state = dict(state.opt_state)
        metrics: dict[str, Array] = {}
        model_state = state.model_state
        if model.advance_model_state is not None:
            # Chains move with the parameters of the step's start, before any player updates.
            state_key = step_key(seed, state.step, PURPOSE_MODEL_STATE)
            model_state, batch = model.advance_model_state(params, model_state, batch, state_key)
        for player_index, player in enumerate(players):
            for update_index in range(updates_per_step[player]):
                rng = jax.random.fold_in(base_key, player_index * 1024 + update_index)
                params[player], opt_state[player], loss, aux, grad_norm = update(
                    player, params, dict(opt_state), batch, rng
                )
            metrics[f"{prefix[player]}loss"] = loss
            metrics.update({f"{prefix[player]}{k}": v for k, v in aux.items()})
            metrics[f"{prefix[player]}grad_norm"] = grad_norm
            if schedules is not None:
                count = state.step * updates_per_step[player]
                metrics[f"{prefix[player]}lr"] = jnp.asarray(schedules[player](count), jnp.float32)
        if model.update_buffers is not None:
            # After the gradient updates, so statistics describe the parameters the step ends with.
            buffers_key = step_key(seed, state.step, PURPOSE_BUFFERS)
            params, buffer_metrics = model.update_buffers(params, batch, buffers_key)
            params = dict(params)
            metrics.update(buffer_metrics)
        ema_params = state.ema_params
        if ema_params is not None:
            # Players' parameters are averaged; buffers are copied: they are statistics of the
            # parameters (running code moments, counters), and an average of them would be neither.
            ema_params = {
                key: (
                    jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p, ema_params[key], value)
                    if key in players
                    else value
                )
                for key, value in params.items()
            }
        new_state = state.replace(
            step=state.step + 1,
            params=params,
            opt_state=opt_state,
            ema_params=ema_params,
            model_state=model_state,
        )
        return new_state, metrics

    return single_step


def make_train_step(
    model: GenerativeModel,
    optimizers: Mapping[str, optax.GradientTransformation],
    config,
    *,
    mesh: Mesh | None = None,
    schedule_steps: int | None = None,
) -> TrainStep:
    """The jitted multi-step: ``(state, batches) -> (state, metrics)``.

    ``batches`` leaves are `[K, B, ...]`: K steps' global batches, sharded over
    the mesh's "data" axis along B. The K steps run in one ``lax.scan`` or, per
    ``train.step_loop``, as K jitted calls (see the module docstring); each
    metric comes back as `[K]`, one value per step, so a non-finite loss can be
    traced to its step. The state is replicated and donated. ``schedule_steps``
    is the learning-rate schedule's horizon for the logged ``lr`` (default
    ``train.num_steps``; pass the one the optimizers were built with).
    """
    from genjax.optim import grad_accum_steps, updates_per_step

    mesh = mesh or make_mesh()
    single_step = make_single_step(
        model,
        optimizers,
        seed=config.seed,
        updates_per_step={p: updates_per_step(config, p) for p in model.players},
        ema_decay=float(config.train.get("ema_decay", 0.0)),
        schedules=_schedules(config, model.players, schedule_steps),
        grad_accum_steps=grad_accum_steps(config),
    )

    def multi_step(state: TrainState, batches: Batch):
        return jax.lax.scan(single_step, state, batches)

    def indexed_step(state: TrainState, batches: Batch, index: Array):
        return single_step(state, jax.tree.map(lambda b: b[index], batches))

    shardings = (replicated(mesh), batch_sharding(mesh, stacked=True))
    scanned = jax.jit(
        multi_step, in_shardings=shardings, out_shardings=(replicated(mesh),) * 2, donate_argnums=0
    )
    one_step = jax.jit(
        indexed_step,
        in_shardings=(*shardings, replicated(mesh)),
        out_shardings=(replicated(mesh),) * 2,
        donate_argnums=0,
    )
    loop = config.train.get("step_loop", "auto")
    if loop not in STEP_LOOPS:
        raise ConfigError(f"train.step_loop: got {loop!r}; allowed: {', '.join(STEP_LOOPS)}")
    if loop == "auto":
        loop = "scan"
    return TrainStep(scanned, one_step, loop)


STEP_LOOPS = ("auto", "scan", "host")


def _schedules(config, players, schedule_steps: int | None) -> dict[str, optax.Schedule] | None:
    """Each player's learning-rate schedule, for the ``lr`` metric; None when the config has none."""
    from genjax.optim import player_schedule

    has_horizon = schedule_steps is not None or "num_steps" in config.get("train", {})
    sections = config.get("optim", {})
    if not has_horizon or not all("learning_rate" in sections.get(p, {}) for p in players):
        return None
    return {p: player_schedule(config, p, schedule_steps=schedule_steps) for p in players}


class TrainStep:
    """``(state, batches [K, B, ...]) -> (state, metrics [K])``, by ``lax.scan`` or a host loop.

    ``loop`` is "scan" or "host" ("auto" is decided in `make_train_step`, see
    the module docstring); ``scanned`` is the jitted scan, ``one_step`` the
    jitted ``(state, batches, index) -> (state, metrics)`` of the host loop.
    """

    def __init__(self, scanned, one_step, loop: str):
        self.scanned, self.one_step, self.loop = scanned, one_step, loop

    def resolve(self, state: TrainState, batches: Batch) -> str:
        """The loop the call will use: "scan" or "host"."""
        del state, batches  # decided at construction; kept for callers that ask per call
        return self.loop

    def __call__(self, state: TrainState, batches: Batch) -> tuple[TrainState, dict[str, Array]]:
        if self.loop == "scan":
            return self.scanned(state, batches)
        metrics = []
        for index in range(jax.tree.leaves(batches)[0].shape[0]):
            state, step_metrics = self.one_step(state, batches, index)
            metrics.append(step_metrics)
        return state, jax.tree.map(lambda *values: jnp.stack(values), *metrics)
