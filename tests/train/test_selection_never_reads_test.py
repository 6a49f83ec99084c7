"""Selection by validation never reads the test split: a poisoned test split proves it (issue 19).

The test split of a tiny FVSBN run is replaced by a source that raises on any
read while it is *armed*. It stays armed through training, every validation
evaluation, early stopping and the restore of the best checkpoint, and is
disarmed only by the loop's own "selected step ..." line, which it prints
after selection and before its one test pass. The run selecting an early
step (``select_mode=max``) makes the loop restore the best checkpoint, so that
path runs armed too. Negative controls show the poison bites: a loop that
validated on the test split dies at its first evaluation, and a config that
selects by a test metric is rejected before anything is read.
"""

import dataclasses

import numpy as np
import pytest

from experiments.configs import autoregressive as ar_configs
from genjax import data as data_lib
from genjax.data.dataset import Source
from genjax.errors import ConfigError
from genjax.train import train_and_evaluate
from genjax.train.logging import read_metrics
from genjax.train.restore import evaluate_workdir

# The runs train, checkpoint and sample (about 6 CPU s together): slow tier, one worker for the module.
pytestmark = pytest.mark.xdist_group("selection_never_reads_test")
NUM_TEST = 200
EVAL_BATCH = 100
_LOAD_DATASET = data_lib.load_dataset  # the real loader, whatever a test has patched since


class PoisonedRead(AssertionError):
    """A read of the test split while selection may still be running."""


class PoisonedSource(Source):
    """The real split's rows, but reading them while ``armed`` raises; every read is recorded."""

    def __init__(self, base: Source):
        self.base = base
        self.num_examples, self.has_labels = base.num_examples, base.has_labels
        self.num_classes, self.cond_shape = base.num_classes, base.cond_shape
        self.armed = True
        self.reads: list[np.ndarray] = []

    def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        if self.armed:
            raise PoisonedRead(f"the test split was read before selection ended (rows {indices[:4]}...)")
        self.reads.append(np.asarray(indices).copy())
        return self.base.gather(indices)

    def rows_read(self) -> np.ndarray:
        return np.concatenate(self.reads) if self.reads else np.zeros(0, np.int64)


def _config(**train):
    config = ar_configs.get_config("fvsbn_toy_binary")
    config.data.update(num_test=NUM_TEST, batch_size=64, eval_batch_size=EVAL_BATCH)
    config.train.update(
        num_steps=40,
        steps_per_call=5,
        log_every=5,
        eval_every=5,
        checkpoint_every=20,
        sample_every=0,
        select_mode="max",  # selects an early step, so the best checkpoint is restored
        early_stopping_patience=2,
    )
    config.train.update(**train)
    config.eval.update(num_samples=8)
    return config


def _poisoning(monkeypatch, *, validate_on_test: bool = False, armed: bool = True) -> list[PoisonedSource]:
    """Every dataset loaded from now on gets a poisoned test split; returns them as they are made."""
    made: list[PoisonedSource] = []

    def poisoned_load(data_config):
        dataset = _LOAD_DATASET(data_config)
        test = PoisonedSource(dataset.test)
        test.armed = armed
        made.append(test)
        # The negative control: a leaky loop that validated (and so selected) on the test split.
        validation = test if validate_on_test else dataset.validation
        return dataclasses.replace(dataset, test=test, validation=validation)

    monkeypatch.setattr(data_lib, "load_dataset", poisoned_load)
    return made


@pytest.fixture(scope="module")
def poisoned_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("poisoned") / "run"
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        made = _poisoning(monkeypatch)

        def print_fn(line: str) -> None:
            lines.append(line)
            if line.startswith("selected step"):  # selection is over: the one test pass may read
                made[-1].armed = False

        results = train_and_evaluate(_config(), workdir, print_fn=print_fn)
        assert len(made) == 1
        return workdir, results, lines, made[0]


@pytest.mark.slow
def test_training_selection_and_the_best_checkpoint_never_read_the_test_split(poisoned_run):
    workdir, results, lines, test = poisoned_run
    # The run got through training, validations, early stopping and the best-checkpoint restore armed.
    validations = [r["step"] for r in read_metrics(workdir) if r["split"] == "validation"]
    assert validations == [5, 10, 15] and results["step"] == 15  # stopped early: patience 2
    assert results["selection/step"] == 5  # not the last step: restored from the best checkpoint
    assert any(line.startswith("early stopping at step 15") for line in lines)
    assert np.isfinite(results["validation/nll"])


@pytest.mark.slow
def test_the_test_split_is_read_exactly_once_at_the_end_on_the_selected_step(poisoned_run):
    workdir, results, _, test = poisoned_run
    np.testing.assert_array_equal(np.sort(test.rows_read()), np.arange(NUM_TEST))  # one pass, each row once
    assert len(test.reads) == NUM_TEST // EVAL_BATCH
    logged = [r for r in read_metrics(workdir) if r["split"] == "test"]
    assert [r["step"] for r in logged] == [results["selection/step"]]
    assert np.isfinite(results["test/nll"]) and results["test/num_examples"] == NUM_TEST


@pytest.mark.slow
def test_restoring_and_validating_a_run_does_not_read_the_test_split_and_testing_it_reads_it_once(
    poisoned_run, monkeypatch
):
    workdir, results, _, _ = poisoned_run
    made = _poisoning(monkeypatch)  # armed: a read raises
    report = evaluate_workdir(None, workdir, "validation", checkpoint="best")  # test not asked for
    assert report["nll"] == pytest.approx(results["validation/nll"], rel=1e-6)
    assert len(made) == 1 and made[0].reads == []
    made = _poisoning(monkeypatch, armed=False)  # asked for: read once, by the same evaluator
    report = evaluate_workdir(None, workdir, "test", checkpoint="best")
    np.testing.assert_array_equal(np.sort(made[0].rows_read()), np.arange(NUM_TEST))
    assert report["step"] == results["selection/step"]
    assert report["nll"] == pytest.approx(results["test/nll"], rel=1e-6)


@pytest.mark.slow
def test_the_poison_catches_a_loop_that_selects_on_the_test_split(monkeypatch, tmp_path):
    _poisoning(monkeypatch, validate_on_test=True)
    with pytest.raises(PoisonedRead, match="read before selection ended"):
        train_and_evaluate(_config(num_steps=5), tmp_path / "leaky", print_fn=lambda *_: None)


def test_selecting_by_a_test_metric_is_rejected_before_any_data_is_loaded(monkeypatch, tmp_path):
    made = _poisoning(monkeypatch)
    with pytest.raises(ConfigError, match=r"^train\.select_by: got 'test/nll'; allowed: auto.*validation/"):
        train_and_evaluate(_config(select_by="test/nll"), tmp_path / "cheat", print_fn=lambda *_: None)
    assert made == []  # rejected while validating the config, before any split is even loaded


@pytest.mark.slow
def test_a_grid_member_with_evaluate_test_false_never_reads_the_test_split(monkeypatch, tmp_path):
    made = _poisoning(monkeypatch)  # armed for the whole run: any read raises
    lines: list[str] = []
    results = train_and_evaluate(_config(evaluate_test=False), tmp_path / "member", print_fn=lines.append)
    assert made[0].reads == [] and not any(key.startswith("test/") for key in results)
    assert any(line.startswith("selected step") for line in lines)
    assert [r for r in read_metrics(tmp_path / "member") if r["split"] == "test"] == []
    # The member the grid chooses is tested afterwards, once, on its selected step.
    made = _poisoning(monkeypatch, armed=False)
    report = evaluate_workdir(None, tmp_path / "member", "test", checkpoint="best")
    assert report["step"] == results["selection/step"] and len(made[0].reads) == NUM_TEST // EVAL_BATCH


def test_evaluate_test_must_be_a_bool(monkeypatch, tmp_path):
    made = _poisoning(monkeypatch)
    config = _config()
    with config.train.unlocked():  # ml_collections' type safety stops a plain override; a hand-built
        del config.train["evaluate_test"]  # config (or a config file) can still hold anything
        config.train.evaluate_test = "no"
    with pytest.raises(ConfigError, match=r"^train\.evaluate_test: got 'no'; allowed: True, False$"):
        train_and_evaluate(config, tmp_path / "bad", print_fn=lambda *_: None)
    assert made == []
