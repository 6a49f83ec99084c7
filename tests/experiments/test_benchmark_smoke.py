"""The speed benchmarks: the VAE's FLOP count, and every smoke mode end to end (need the benchmark extra).

The smoke runs call each binary's ``main(argv)`` in the test process: the same argument parsing,
report and stdout as ``python -m experiments.benchmarks.<name> --smoke``, without starting a fresh
interpreter that imports JAX and PyTorch again for each of them (about 5 s of CPU apiece).
"""

import importlib
import json

import pytest

from experiments.benchmarks.vae_speed import step_flops

# One worker runs every smoke benchmark, so PyTorch is imported by one worker only (--dist=loadgroup).
pytestmark = pytest.mark.xdist_group("benchmark_smoke")


def run_main(name: str, *argv: str, capsys) -> str:
    """Runs ``python -m experiments.benchmarks.<name> argv`` in this process; returns its stdout."""
    capsys.readouterr()  # drop whatever the test printed before
    importlib.import_module(f"experiments.benchmarks.{name}").main(list(argv))
    return capsys.readouterr().out


def test_step_flops_counts_every_dense_layer_but_the_input_gradient():
    # Encoder 4-3-(2x2), decoder 2-3-4: S = 12 + 12 + 6 + 12 = 42 multiply-adds per example.
    flops = step_flops((3,), latent_dim=2, num_dims=4, batch=10)
    assert flops["dense_weights"] == 42
    assert flops["forward"] == 2 * 10 * 42
    # Backward doubles the forward, less dL/dx of the first layer (2·4·3 per example).
    assert flops["exact"] == 3 * 2 * 10 * 42 - 2 * 10 * 4 * 3
    assert flops["three_x_forward"] == 3 * flops["forward"]


@pytest.mark.torch
@pytest.mark.slow
def test_smoke_run_writes_positive_timings(tmp_path, capsys):
    pytest.importorskip("torch")  # the PyTorch peer is a benchmark-only extra
    out = tmp_path / "vae_speed.json"
    stdout = run_main("vae_speed", "--smoke", f"--json={out}", capsys=capsys)
    report = json.loads(out.read_text())

    assert report["command"] == f"python -m experiments.benchmarks.vae_speed --smoke --json={out}"
    for name in ("genjax K=1", "genjax K=5", "torch eager"):
        entry = report["contenders"][name]
        assert len(entry["rounds_ms"]) == 2 and min(entry["rounds_ms"]) > 0, (name, entry)
        assert entry["min_ms"] <= entry["median_ms"] <= entry["max_ms"]
    assert report["contenders"]["torch.compile"]["unavailable"].startswith("unavailable:")
    assert all(ratio["median"] > 0 for ratio in report["ratios"].values())
    assert min(report["matmul_gflops"].values()) > 0
    # binarized_mnist: S = 1,359,000 dense weights, B = 128.
    assert report["flops"]["exact"] == 128 * (6 * 1_359_000 - 2 * 784 * 500)
    # XLA's own count adds only elementwise work: a duplicated layer (e.g. the KL metric's second
    # encoder pass surviving CSE) would put it ~19% above the analytic count.
    if report["flops"]["xla"] is not None:
        assert 1.0 <= report["flops"]["xla"] / report["flops"]["exact"] < 1.05
    assert "| genjax K=5 |" in stdout


@pytest.mark.torch
@pytest.mark.slow
def test_flow_speed_smoke_run_compares_equal_sized_flows(tmp_path, capsys):
    pytest.importorskip("torch")  # the PyTorch peer and normflows are benchmark-only extras
    pytest.importorskip("normflows")
    out = tmp_path / "flow_speed.json"
    argv = ["--smoke", "--cases=realnvp_2d", f"--json={out}"]
    stdout = run_main("flow_speed", *argv, capsys=capsys)
    report = json.loads(out.read_text())

    assert report["command"] == "python -m experiments.benchmarks.flow_speed " + " ".join(argv)
    case = report["cases"]["realnvp_2d"]
    # The same architecture on both sides: 16 couplings of 1-64-64-2 MLPs plus a tanh scale each,
    # 16 x (128 + 4,160 + 130 + 1) = 70,704 parameters.
    assert case["parameters"] == {"genjax": 70_704, "torch": 70_704}
    # Zero-initialised couplings are the identity, so both start at the base density of the same batch.
    assert case["initial_nll"]["torch"] == pytest.approx(case["initial_nll"]["genjax"], rel=1e-5)
    for name in ("genjax K=1", "genjax K=5", "torch eager", "torch eager fused-Adam"):
        entry = case["contenders"][name]
        assert len(entry["rounds_ms"]) == 2 and min(entry["rounds_ms"]) > 0, (name, entry)
    assert case["contenders"]["torch.compile"]["unavailable"].startswith("unavailable:")
    assert all(ratio["median"] > 0 for ratio in case["ratios"].values())
    assert "| genjax K=5 |" in stdout


@pytest.mark.torch
@pytest.mark.slow
def test_ar_speed_smoke_run_times_equal_networks_on_both_sides(tmp_path, capsys):
    pytest.importorskip("torch")  # the PyTorch peer is a benchmark-only extra
    out = tmp_path / "ar_speed.json"
    stdout = run_main("ar_speed", "--smoke", f"--json={out}", capsys=capsys)
    report = json.loads(out.read_text())

    assert report["command"] == f"python -m experiments.benchmarks.ar_speed --smoke --json={out}"
    sampling = report["cases"]["sample_pixelcnn"]
    # Copied parameters and genjax's own masks: the torch PixelCNN is the same function.
    assert sampling["parameters"]["genjax"] == sampling["parameters"]["torch"]
    assert sampling["max_abs_logit_difference"] < 1e-5
    assert sampling["samples_binary"] and sampling["network_passes_per_batch"] == 36
    for name in ("genjax fori_loop", "genjax host loop", "genjax row window", "torch eager loop"):
        entry = sampling["contenders"][name]
        assert len(entry["rounds_s_per_batch"]) == 2 and entry["images_per_s"] > 0, (name, entry)
    for case in ("train_made", "train_pixelcnn", "train_gated_pixelcnn"):
        train = report["cases"][case]
        assert train["parameters"]["genjax"] == train["parameters"]["torch"]
        assert case == "train_made" or train["max_abs_logit_difference"] < 1e-5
        assert train["initial_loss"]["torch"] == pytest.approx(train["initial_loss"]["genjax"], rel=1e-5)
        for name in ("genjax K=1", "genjax K=2", "torch eager", "torch eager fused-Adam"):
            entry = train["contenders"][name]
            assert len(entry["rounds_ms"]) == 2 and min(entry["rounds_ms"]) > 0, (case, name, entry)
            assert entry["examples_per_s"] > 0
        assert train["contenders"]["torch.compile"]["unavailable"].startswith("unavailable:")
        assert all(ratio["median"] > 0 for ratio in train["ratios"].values())
    assert "| genjax K=2 |" in stdout and "| genjax fori_loop |" in stdout
    layers = report["cases"]["masked_layers"]
    assert layers["matmul_gflops"] > 0 and len(layers["layers"]) == 4


@pytest.mark.torch
@pytest.mark.slow
def test_gan_speed_smoke_run_times_the_same_dcgan_on_both_sides(tmp_path, capsys):
    pytest.importorskip("torch")  # the PyTorch peer is a benchmark-only extra
    out = tmp_path / "gan_speed.json"
    run_main("gan_speed", "--smoke", f"--json={out}", capsys=capsys)
    case = json.loads(out.read_text())["cases"]["digits8"]
    contenders = case["contenders"]
    # Same parameter count, and copied parameters give the same images and critic outputs.
    assert contenders["genjax"]["params"] == contenders["torch_eager"]["params"]
    assert contenders["torch_eager"]["max_abs_gap_same_params"] < 1e-4
    for name in ("genjax", "torch_eager", "torch_same_work", "torch_fused"):
        assert len(contenders[name]["rounds_ms"]) == 2 and min(contenders[name]["rounds_ms"]) > 0, name
    assert all(ratio["median"] > 0 for ratio in case["speedup_genjax_over_torch"].values())


@pytest.mark.torch
@pytest.mark.slow
def test_diffusion_speed_smoke_run_times_the_same_networks_on_both_sides(tmp_path, capsys):
    pytest.importorskip("torch")  # the PyTorch peer is a benchmark-only extra
    out = tmp_path / "diffusion_speed.json"
    run_main("diffusion_speed", "--smoke", f"--json={out}", capsys=capsys)
    for case in json.loads(out.read_text())["cases"].values():
        contenders = case["contenders"]
        assert contenders["genjax"]["params"] == contenders["torch_eager"]["params"]
        assert contenders["torch_eager"]["max_abs_gap_same_params"] < 1e-4
        assert all(min(contenders[name]["rounds_ms"]) > 0 for name in ("genjax", "torch_eager"))
        assert all(ratio["median"] > 0 for ratio in case["speedup_genjax_over_torch"].values())
