"""`train_and_evaluate`: the one training loop every family runs through.

It resumes from the workdir's newest good checkpoint, trains ``train.num_steps``
steps in jitted chunks of ``train.steps_per_call``, and at chunk ends logs
metrics, evaluates on the validation split (keeping the best checkpoint by
``train.select_by``, stopping early after ``train.early_stopping_patience``
evaluations without improvement), runs user hooks, saves checkpoints and writes
sample PNGs. At the end it evaluates the test split once, on the selected step.

Chunks are aligned to multiples of ``steps_per_call`` from step 0, and every
key and batch is a pure function of (seed, step), so a run stopped at a
checkpoint (or by SIGTERM/SIGINT, see `genjax.train.preemption`) and resumed
follows the uninterrupted trajectory exactly. Interval events fire at the first
chunk end at or after each multiple of their interval.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from genjax.optim import is_constant, make_optimizers, player_schedule
from genjax.train import selection as selection_lib
from genjax.train.checkpoint import BEST_DIR, Checkpointer, save_config
from genjax.train.evaluation import SplitEvaluator, make_eval_step
from genjax.train.experiment import setup_experiment
from genjax.train.finite import check_finite
from genjax.train.hooks import HookContext, PeriodicHook
from genjax.train.logging import MetricsWriter, ProgressLogger
from genjax.train.preemption import PreemptionWatcher
from genjax.train.profiling import StepProfiler
from genjax.train.step import PURPOSE_HOOK, PURPOSE_SAMPLE, batch_sharding, make_train_step, step_key

SCHEDULE_ON_RESUME = ("keep", "rescale")


def _stack_steps(batches, start: int, stop: int, sharding) -> dict[str, jax.Array]:
    """Global arrays `[stop - start, B, ...]` for steps [start, stop), sharded along B."""
    host = [batches[s] for s in range(start, stop)]
    return {
        key: jax.make_array_from_process_local_data(sharding, np.stack([b[key] for b in host]))
        for key in host[0]
    }


def _crossed(previous: int, current: int, every: int) -> bool:
    return every > 0 and current // every > previous // every


def write_samples(
    model,
    params,
    dataset,
    workdir: Path,
    *,
    seed: int,
    step: int,
    num_samples: int,
    writer: MetricsWriter | None = None,
    write: bool = True,
) -> Path:
    """Draws samples with ``model.sample`` and writes them as a PNG (grid or 2-D scatter).

    A class-conditional image model draws ``num_samples // num_classes`` per class and
    writes a labelled grid, one row per class.

    Every process must call it (the sampler is one computation over the global mesh);
    only those with ``write`` (process 0) write the file.
    """
    from genjax import visualize

    rng = step_key(seed, step, PURPOSE_SAMPLE)
    conditioning = model.conditioning
    path = workdir / "samples" / f"step_{step:08d}.png"
    if conditioning is not None and conditioning.labels and len(model.element_shape) == 3:
        # Images of a class-conditional model: one row per class, labelled.
        per_class = max(1, num_samples // conditioning.num_classes)
        labels = np.repeat(np.arange(conditioning.num_classes, dtype=np.int32), per_class)
        sample = jax.jit(lambda p, key, cond: model.sample(p, key, len(labels), cond=cond))
        samples = np.asarray(jax.device_get(sample(params, rng, labels)))
        if write:
            rows = samples.reshape(conditioning.num_classes, per_class, *samples.shape[1:])
            visualize.save_labelled_grid(path, rows, list(range(conditioning.num_classes)))
    else:
        sample = jax.jit(model.sample, static_argnums=2)
        samples = np.asarray(jax.device_get(sample(params, rng, num_samples)))
        if write:
            visualize.save_samples(path, samples, log_density=dataset.log_density)
    if write and writer is not None and samples.ndim == 4:
        writer.write_image(step, "samples", visualize.image_grid(samples))
    return path


def schedule_horizon(config, players: Sequence[str], stored: int | None, *, step: int, print_fn) -> int:
    """The learning-rate schedule horizon (in steps) a resumed run uses; says so when it changes.

    ``train.schedule_on_resume``: ``keep`` (default) keeps the checkpoint's horizon,
    so the steps already taken and those after keep one schedule (a cosine then
    stays at its final value past the old horizon); ``rescale`` stretches the
    schedule to the new ``train.num_steps`` from here on.
    """
    num_steps = config.train.num_steps
    policy = config.train.get("schedule_on_resume", "keep")
    if stored is None or stored == num_steps or all(is_constant(config, p) for p in players):
        return num_steps
    if policy == "keep":
        print_fn(
            f"train.num_steps is {num_steps} but the checkpoint's learning-rate schedule spans {stored} "
            f"steps; keeping it (train.schedule_on_resume=keep; 'rescale' stretches it to {num_steps})"
        )
        return stored
    rates = {
        p: (
            float(player_schedule(config, p, schedule_steps=stored)(step)),
            float(player_schedule(config, p)(step)),
        )
        for p in players
    }
    jumps = ", ".join(f"{p} {old:.4g} -> {new:.4g}" for p, (old, new) in rates.items())
    print_fn(
        f"learning-rate schedule horizon changed from {stored} to {num_steps} steps "
        f"(train.schedule_on_resume=rescale); the rate at step {step} changes: {jumps}"
    )
    return num_steps


def train_and_evaluate(
    config,
    workdir: str | os.PathLike,
    *,
    print_fn: Callable[[str], Any] = print,
    hooks: Sequence[PeriodicHook] = (),
) -> dict[str, Any]:
    """Runs (or resumes) the experiment described by ``config`` in ``workdir``.

    Args:
      hooks: `PeriodicHook`s run at their intervals (see `genjax.train.hooks`).
    Returns:
      The final metrics: ``step``, ``train/<metric>`` (averaged over the last
      logging interval), ``selection/step`` (the selected step),
      ``validation/<metric>`` at that step and ``test/<metric>`` from one full
      pass over the test split with its parameters (none with
      ``train.evaluate_test=False``: the test split is then never read, for
      hyperparameter grids whose chosen member alone is tested afterwards, with
      `genjax.train.restore.evaluate_workdir`). A run stopped by SIGTERM or
      SIGINT returns ``{"step": step, "preempted": True}`` after checkpointing.
    """
    experiment = setup_experiment(config)
    dataset, model, mesh = experiment.dataset, experiment.model, experiment.mesh
    workdir = Path(workdir)
    seed, num_steps, train_cfg = config.seed, config.train.num_steps, config.train
    evaluate_test = train_cfg.get("evaluate_test", True)
    steps_per_call = train_cfg.steps_per_call
    is_main = jax.process_index() == 0
    if not is_main:  # one progress line per run, not one per process
        print_fn = lambda *args, **kwargs: None  # noqa: E731

    eval_step = make_eval_step(model, mesh)  # one compilation serves both splits
    validation = SplitEvaluator(experiment, "validation", eval_step=eval_step)
    test = SplitEvaluator(experiment, "test", eval_step=eval_step)
    metric, mode = selection_lib.resolve(
        train_cfg.get("select_by", "auto"),
        train_cfg.get("select_mode", "auto"),
        available=validation.metric_names(),
        has_log_prob=model.log_prob is not None,
    )
    patience = int(train_cfg.get("early_stopping_patience", 0))
    checkpointer = Checkpointer(workdir, max_to_keep=train_cfg.get("max_checkpoints_to_keep", 3))
    best_checkpointer = Checkpointer(workdir, max_to_keep=1, subdir=BEST_DIR)
    writer = None
    try:
        meta: dict[str, Any] = {}
        if checkpointer.all_steps():
            state, meta = checkpointer.restore(experiment.abstract_state(), print_fn=print_fn)
            print_fn(f"resumed from step {int(state.step)} in {workdir}")
        else:
            state = experiment.init_state()
        if is_main:
            save_config(config, workdir)
        step = int(jax.device_get(state.step))
        horizon = schedule_horizon(
            config, model.players, meta.get("schedule_steps"), step=step, print_fn=print_fn
        )
        if horizon != num_steps:
            experiment = dataclasses.replace(
                experiment, optimizers=make_optimizers(config, model.players, schedule_steps=horizon)
            )
        selected = selection_lib.Selection.from_json(meta.get("selection", {}), metric=metric, mode=mode)

        def checkpoint_meta() -> dict[str, Any]:
            return {"schedule_steps": horizon, "selection": selected.to_json()}

        # On resume, drop metrics the interrupted run logged after its last checkpoint.
        writer = MetricsWriter(workdir, enabled=is_main, resume_step=step if step else None)
        progress = ProgressLogger(total_steps=num_steps, start_step=step, print_fn=print_fn)
        train_step = make_train_step(model, experiment.optimizers, config, mesh=mesh, schedule_steps=horizon)
        stacked_sharding = batch_sharding(mesh, stacked=True)
        profiler = StepProfiler(
            workdir, train_cfg.get("profile_steps", 0), enabled=is_main, print_fn=print_fn
        )
        num_samples = config.get("eval", {}).get("num_samples", 2000 if len(model.element_shape) == 1 else 64)
        debug_nans = bool(train_cfg.get("debug_nans", False))
        periodic_batches = config.get("eval", {}).get("num_batches")

        def samples_now(params, at_step: int) -> Path:
            return write_samples(
                model, params, dataset, workdir, seed=seed, step=at_step, num_samples=num_samples,
                writer=writer, write=is_main,
            )  # fmt: skip

        validated: dict[str, Any] = {}  # the latest validation: its step and results

        def validate() -> None:
            nonlocal selected
            results = validation.evaluate(state.eval_params(), step=step, max_batches=periodic_batches)
            validated.update(step=step, results=results)
            writer.write_scalars(step, results, split="validation")
            selected, improved = selected.update(step, results)
            if improved:
                best_checkpointer.save(state, checkpoint_meta())
                mark = " (best)"
            elif selected.best_step is None:
                mark = f" (no finite {metric} yet)"
            else:
                mark = f" (best {selected.best_value:.4f} at step {selected.best_step})"
            print_fn(f"validation at step {step}: " + _format(results) + mark)

        def chunk_end(start: int) -> int:
            return min((start // steps_per_call + 1) * steps_per_call, num_steps)

        sums: dict[str, float] = {}
        num_summed = 0
        train_means: dict[str, float] = {}
        stopped_early = selected.should_stop(patience)
        batches = experiment.train_batches
        with PreemptionWatcher() as watcher:
            next_batches = None
            if step < num_steps and not stopped_early:
                next_batches = _stack_steps(batches, step, chunk_end(step), stacked_sharding)
            while step < num_steps and not stopped_early:
                end = chunk_end(step)
                profiler.before_chunk(step)
                state, metrics = train_step(state, next_batches)
                if end < num_steps:  # build the next chunk on the host while this one runs
                    next_batches = _stack_steps(batches, end, chunk_end(end), stacked_sharding)
                metrics = jax.device_get(metrics)
                check_finite(metrics, step, model.players, state=state if debug_nans else None)
                profiler.after_chunk(end)
                for name, values in metrics.items():
                    sums[name] = sums.get(name, 0.0) + float(np.sum(values))
                num_summed += end - step
                previous, step = step, end
                finished = step == num_steps
                if _crossed(previous, step, train_cfg.log_every) or finished:
                    train_means = {name: total / num_summed for name, total in sums.items()}
                    writer.write_scalars(step, train_means, split="train")
                    progress.update(step, train_means)
                    sums, num_summed = {}, 0
                if _crossed(previous, step, train_cfg.eval_every) or finished:
                    validate()
                    if not finished and selected.should_stop(patience):
                        stopped_early = True
                        print_fn(
                            f"early stopping at step {step}: {metric} has not improved for {patience} "
                            f"evaluations (best at step {selected.best_step})"
                        )
                for hook in hooks:
                    if _crossed(previous, step, hook.every):
                        _run_hook(hook, state, step, experiment, workdir, writer)
                preempted = watcher.requested()
                if (
                    _crossed(previous, step, train_cfg.checkpoint_every)
                    or finished
                    or stopped_early
                    or preempted
                ):
                    checkpointer.save(state, checkpoint_meta())
                if _crossed(previous, step, train_cfg.sample_every) and not finished:
                    samples_now(state.eval_params(), step)
                if preempted and not finished:
                    checkpointer.close()
                    best_checkpointer.close()
                    print_fn(
                        f"{watcher.signal_name} at step {step} of {num_steps}: checkpoint saved in "
                        f"{checkpointer.directory}; run the same command again to resume"
                    )
                    return {"step": step, "preempted": True}
        profiler.stop()

        if selected.best_step is None and validated.get("step") != step:
            validate()  # a finished run resumed from a checkpoint that holds no selection
            checkpointer.save(state, checkpoint_meta())
        if selected.best_step is None:  # every validation was non-finite: report the last step
            chosen, best_state, chosen_results = step, state, validated["results"]
            print_fn(f"no finite {metric} in any validation; testing the last step, {step}")
        else:
            chosen, chosen_results = selected.best_step, selected.best_results or {}
            if chosen == step:
                best_state = state
            else:
                best_state, _ = best_checkpointer.restore(
                    experiment.abstract_state(), chosen, print_fn=print_fn
                )
            print_fn(f"selected step {chosen} by {metric} = {selected.best_value:.4f}")
        final: dict[str, Any] = {"step": step, **{f"train/{k}": v for k, v in train_means.items()}}
        final["selection/step"] = chosen
        final.update({f"validation/{k}": v for k, v in chosen_results.items()})
        # A grid member (evaluate_test=False) never touches the test split: only the member the
        # grid selects on validation is tested, once, afterwards.
        if evaluate_test:
            test_results = test.evaluate(best_state.eval_params(), step=chosen)
            writer.write_scalars(chosen, test_results, split="test")
            final.update({f"test/{k}": v for k, v in test_results.items()})
            if test_results:
                print_fn(f"test at step {chosen}: " + _format(test_results))
        print_fn(f"samples: {samples_now(best_state.eval_params(), chosen)}")
        return {
            k: (float(v) if isinstance(v, (float, np.floating)) and math.isfinite(v) else v)
            for k, v in final.items()
        }
    finally:
        checkpointer.close()
        best_checkpointer.close()
        if writer is not None:
            writer.close()


def _format(results: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in results.items())


def _run_hook(hook: PeriodicHook, state, step: int, experiment, workdir: Path, writer: MetricsWriter) -> None:
    context = HookContext(
        step=step,
        state=state,
        params=state.eval_params(),
        model=experiment.model,
        dataset=experiment.dataset,
        config=experiment.config,
        workdir=workdir,
        rng=jax.random.fold_in(
            step_key(experiment.config.seed, step, PURPOSE_HOOK), zlib.crc32(hook.name.encode())
        ),
    )
    scalars = hook.fn(context)
    if scalars:
        writer.write_scalars(step, dict(scalars), split=hook.name)
