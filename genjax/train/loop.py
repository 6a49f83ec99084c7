"""`train_and_evaluate`: the one training loop every family runs through.

It resumes from the workdir's latest checkpoint, trains ``train.num_steps``
steps in jitted chunks of ``train.steps_per_call``, and at intervals logs
metrics, evaluates on the test split, writes sample PNGs and saves checkpoints.

Chunks are aligned to multiples of ``steps_per_call`` from step 0, and every
key and batch is a pure function of (seed, step), so a run stopped at a
checkpoint and resumed follows the uninterrupted trajectory exactly. Interval
events fire at the first chunk end at or after each multiple of their interval.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax
import numpy as np

from genjax import data as data_lib
from genjax.errors import TrainingDivergedError
from genjax.train import evaluation
from genjax.train.checkpoint import Checkpointer, save_config
from genjax.train.experiment import setup_experiment
from genjax.train.logging import MetricsWriter, ProgressLogger
from genjax.train.step import PURPOSE_SAMPLE, batch_sharding, make_train_step, step_key


def _stack_steps(batches, start: int, stop: int, sharding) -> dict[str, jax.Array]:
    """Global arrays `[stop - start, B, ...]` for steps [start, stop), sharded along B."""
    host = [batches[s] for s in range(start, stop)]
    return {
        key: jax.make_array_from_process_local_data(sharding, np.stack([b[key] for b in host]))
        for key in host[0]
    }


def _crossed(previous: int, current: int, every: int) -> bool:
    return every > 0 and current // every > previous // every


def _check_finite(metrics: dict[str, np.ndarray], start: int) -> None:
    for name, values in metrics.items():
        if not name.endswith("loss"):
            continue
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise TrainingDivergedError(
                f"non-finite {name} ({values[bad[0]]}) at step {start + int(bad[0])}; "
                "stopped without saving it, the last good checkpoint is intact"
            )


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

    Every process must call it (the sampler is one computation over the global mesh);
    only those with ``write`` (process 0) write the file.
    """
    from genjax import visualize

    samples = jax.device_get(
        jax.jit(model.sample, static_argnums=2)(params, step_key(seed, step, PURPOSE_SAMPLE), num_samples)
    )
    path = workdir / "samples" / f"step_{step:08d}.png"
    if not write:
        return path
    visualize.save_samples(path, np.asarray(samples), log_density=dataset.log_density)
    if writer is not None and np.asarray(samples).ndim == 4:
        writer.write_image(step, "samples", visualize.image_grid(np.asarray(samples)))
    return path


def train_and_evaluate(config, workdir: str | os.PathLike, *, print_fn=print) -> dict[str, float]:
    """Runs (or resumes) the experiment described by ``config`` in ``workdir``.

    Returns:
      The final metrics: ``step``, ``train/<metric>`` (averaged over the last
      logging interval) and ``test/<metric>`` from a full pass over the test split.
    """
    experiment = setup_experiment(config)
    dataset, model, mesh = experiment.dataset, experiment.model, experiment.mesh
    optimizers, batches = experiment.optimizers, experiment.train_batches
    workdir = Path(workdir)
    seed, num_steps = config.seed, config.train.num_steps
    steps_per_call = config.train.steps_per_call
    train_cfg = config.train
    stacked_sharding = batch_sharding(mesh, stacked=True)

    is_main = jax.process_index() == 0
    if not is_main:  # one progress line per run, not one per process
        print_fn = lambda *args, **kwargs: None  # noqa: E731
    checkpointer = Checkpointer(workdir, max_to_keep=train_cfg.get("max_checkpoints_to_keep", 3))
    if checkpointer.latest_step() is not None:
        state = checkpointer.restore(experiment.abstract_state())
        print_fn(f"resumed from step {int(state.step)} in {workdir}")
    else:
        state = experiment.init_state()
    if is_main:
        save_config(config, workdir)
    step = int(jax.device_get(state.step))
    # On resume, drop metrics the interrupted run logged after its last checkpoint.
    writer = MetricsWriter(workdir, enabled=is_main, resume_step=step if step else None)
    progress = ProgressLogger(total_steps=num_steps, start_step=step, print_fn=print_fn)
    train_step = make_train_step(model, optimizers, config, mesh=mesh)
    eval_step = evaluation.make_eval_step(model, mesh)
    default_num_samples = 2000 if len(model.element_shape) == 1 else 64
    num_samples = (
        config.eval.get("num_samples", default_num_samples) if "eval" in config else default_num_samples
    )

    eval_cfg = config.get("eval", {})
    # Families without a likelihood (GANs) are judged by their samples; others on request.
    sample_metrics = eval_cfg.get("sample_metrics", model.log_prob is None)
    num_quality_samples = eval_cfg.get("num_quality_samples", 2_500)
    cached_test_x = []

    def quality_test_x():
        if not cached_test_x:
            cached_test_x.append(
                evaluation.first_examples(
                    data_lib.eval_batches(dataset, config.data, split="test"), num_quality_samples
                )
            )
        return cached_test_x[0]

    def run_eval(max_batches=None):
        results = evaluation.evaluate(
            model,
            state.eval_params(),
            data_lib.eval_batches(
                dataset,
                config.data,
                split="test",
                process_index=jax.process_index(),
                process_count=jax.process_count(),
            ),
            seed=seed,
            step=step,
            mesh=mesh,
            eval_step=eval_step,
            max_batches=max_batches,
        )
        if sample_metrics:
            results.update(
                evaluation.sample_quality(
                    model,
                    state.eval_params(),
                    quality_test_x(),
                    seed=seed,
                    step=step,
                    num_samples=num_quality_samples,
                    modes=dataset.modes,
                )
            )
        writer.write_scalars(step, results, split="test")
        return results

    def samples_now() -> Path:
        return write_samples(
            model,
            state.eval_params(),
            dataset,
            workdir,
            seed=seed,
            step=step,
            num_samples=num_samples,
            writer=writer,
            write=is_main,
        )

    def chunk_end(start: int) -> int:
        return min((start // steps_per_call + 1) * steps_per_call, num_steps)

    sums: dict[str, float] = {}
    num_summed = 0
    train_means: dict[str, float] = {}
    try:
        next_batches = (
            _stack_steps(batches, step, chunk_end(step), stacked_sharding) if step < num_steps else None
        )
        while step < num_steps:
            end = chunk_end(step)
            state, metrics = train_step(state, next_batches)
            if end < num_steps:  # build the next chunk on the host while this one runs
                next_batches = _stack_steps(batches, end, chunk_end(end), stacked_sharding)
            metrics = jax.device_get(metrics)
            _check_finite(metrics, step)
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
            if _crossed(previous, step, train_cfg.checkpoint_every) or finished:
                checkpointer.save(state)
            if _crossed(previous, step, train_cfg.eval_every) and not finished:
                results = run_eval(config.eval.get("num_batches"))
                print_fn(f"eval at step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
            if _crossed(previous, step, train_cfg.sample_every) and not finished:
                samples_now()
        final = {"step": step, **{f"train/{k}": v for k, v in train_means.items()}}
        test_results = run_eval()
        final.update({f"test/{k}": v for k, v in test_results.items()})
        if test_results:
            print_fn(f"test at step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in test_results.items()))
        print_fn(f"samples: {samples_now()}")
        return {
            k: (float(v) if isinstance(v, (float, np.floating)) and math.isfinite(v) else v)
            for k, v in final.items()
        }
    finally:
        checkpointer.close()
        writer.close()
