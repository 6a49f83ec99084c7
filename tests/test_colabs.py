"""Every notebook in colabs/ runs top to bottom in smoke mode, and its headline number is plausible."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "colabs").glob("*.ipynb"))
LOG2_17 = math.log2(17)  # bits/dim of the uniform model over the 17 grey levels of the 8x8 digits
# What each notebook prints once its last result is in, for a reader.
FINAL_OUTPUT = {
    "vqvae": "VQ-VAE test bits/dim",
    "vae": "IWAE bound",
    "hvae": "IWAE bound, k= 100",
    "flows": "test bits/dim",
    "autoregressive": "test perplexity",
    "gans": "digits MMD to test",
    "ebm": "EBM test NLL",
    "score": "NCSN digits MMD",
    "ddpm": "DDPM digits bound",
    "kde": "KDE test bits/dim",
    "pca": "closed-form PPCA test bits/dim",
    "autoencoders": "fraction masked",
    "conditional": "guided DDPM classifier accuracy",
}
# The one machine-readable line each notebook prints, "RESULT <name>=<float>", and the range its
# smoke run (a few training steps, fixed seeds, so the same number every run) must land in: what the
# mathematics allows, cut down to exclude what a broken or untrained model scores. The smoke values
# these were chosen against are in brackets. A new notebook needs an entry here.
RESULT_RANGES = {
    # VQ-VAE bound on the digits, bits/dim [3.494]: an upper bound on -log2 p(x) / D >= 0. Its
    # reconstruction term alone is 2.81, so below 3.0 the prior term is missing or unnormalised;
    # the untrained model scores 3.94, so above 3.9 the 40 smoke steps taught it nothing.
    "vqvae": ("vqvae_digits_bits_per_dim", 3.0, 3.9),
    # IWAE bound (k = 100) on binary 8x8 digits, nats [-28.07]: log p(x) <= 0 since every Bernoulli
    # probability is <= 1, and a decoder that learned nothing (p = 1/2 everywhere) scores
    # -64 log 2 = -44.4, so anything lower is a broken encoder, decoder or KL term.
    "vae": ("vae_iwae100_nats", -64 * math.log(2), 0.0),
    # Two-layer HVAE's IWAE bound (k = 100) on binary 8x8 digits, nats [-28.39]: log p(x) <= 0 as for
    # the VAE, and a decoder that learned nothing (p = 1/2 per pixel) scores -64 log 2 = -44.4, so
    # anything lower is a broken encoder, conditional prior, layer KL or training step.
    "hvae": ("hvae_iwae_nats", -64 * math.log(2), 0.0),
    # Glow test bits/dim on the digits [3.117]: >= 0 for discrete data, and the uniform model over
    # 17 grey levels scores log2(17) = 4.087; an untrained or diverged flow scores above it.
    "flows": ("glow_digits_bits_per_dim", 0.0, LOG2_17),
    # Transformer per-token test perplexity on the 8-state Markov chain [3.837]: no model beats
    # exp(H / 16) = 3.694 (H the exact entropy; the 500 test sequences move that by < 1%), so 3.5 is
    # only reachable by one that sees the token it predicts (a causal-mask bug); uniform scores 8.
    "autoregressive": ("transformer_perplexity", 3.5, 8.0),
    # Squared MMD of DCGAN samples to the test digits (RBF, median bandwidth) [0.460]: an unbiased
    # estimate, below 0 only by its noise (train vs test: 0.0004). A dead generator drawing black
    # images scores 0.70, samples far outside [0, 1] score 1.6, NaN fails (uniform noise: 0.36).
    "gans": ("dcgan_digits_mmd2", -0.01, 0.6),
    # Test NLL minus the exact entropy of the 8 Gaussians, nats [1.952]: a KL, >= 0 up to the noise
    # of a 200-point estimate (standard error 0.08). The flat energy on the quadrature box [-6, 6]^2
    # scores log 144 - H = 2.138 and the initial network 2.234: above it, training did not help.
    "ebm": ("ebm_cd_replay_kl_nats", -0.25, math.log(144.0) - 2.8316),
    # Squared MMD of NCSN samples to the test digits [0.321], as for the GAN: grey images (all 0.5)
    # score 0.52, black ones 0.70 and chains that blew up out of [0, 1] 1.6. (Chains that never
    # moved from their uniform start score 0.36: at this kernel and size smoke mode cannot tell.)
    "score": ("ncsn_digits_mmd2", -0.01, 0.5),
    # DDPM variational bound on the digits, bits/dim [4.383]: an upper bound on -log2 p(x) / D >= 0.
    # After 20 steps the network is no better than predicting zero noise (4.25; uniform is 4.09),
    # but one that outputs unit noise scores 6.8 and one that returns x_t 6.3: 5 excludes them.
    "ddpm": ("ddpm_digits_bits_per_dim", 0.0, 5.0),
    # KDE test bits/dim on the digits, bandwidth picked on validation from an 8-point grid [3.381]:
    # the uniform model scores log2(17) = 4.087 and the grid's widest kernel (h = 1) 5.49, so above
    # 4.087 the bandwidth choice failed; a missing "- D log 17" correction gives -0.7. Below 3.0 only
    # if test digits leak into the centres (training digits scored against themselves give 2.68).
    "kde": ("kde_digits_bits_per_dim", 3.0, LOG2_17),
    # Closed-form PPCA (q = 16) test bits/dim on the dequantized digits [3.500]: the same every run (no
    # training). The isotropic Gaussian (q = 0, what a fit that found no direction scores) gives 4.179,
    # and a full-covariance Gaussian, the q = 63 model that nests every smaller q, 2.945 on test; a missing
    # "- D log 17" correction gives -0.59.
    "pca": ("ppca_digits_bits_per_dim", 2.9, 4.18),
    # Undercomplete autoencoder (16-unit code), test squared error per digit summed over the 64 pixels,
    # after 150 smoke steps [0.993]: >= 0, and predicting the training mean image for every test digit
    # scores 4.76 (black images 14.9), so above it nothing was learned; the fully trained model (4000
    # steps, BENCHMARKS.md) reaches 0.36, so below 0.3 after 150 steps the code is being bypassed.
    "autoencoders": ("ae_digits_reconstruction_error", 0.3, 4.76),
    # Conditional VAE's IWAE bound (k = 10) on log p(x | y) of the binary test digits, given their
    # true labels, nats [-27.37]: <= 0 since every Bernoulli probability is <= 1, and a decoder that
    # learned nothing (p = 1/2 per pixel) scores -64 log 2 = -44.4, as for the VAE; a label that
    # broke the encoder or decoder (NaN, or a bound far below) fails.
    "conditional": ("cvae_iwae_nats", -64 * math.log(2), 0.0),
}
RESULT_LINE = re.compile(r"^RESULT (\w+)=(\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory) -> dict:
    """Every notebook in smoke mode, all in one subprocess (tests/colab_smoke_runner.py)."""
    tmp = tmp_path_factory.mktemp("colabs")
    env = {
        **os.environ,
        "GENJAX_COLAB_SMOKE": "1",
        "GENJAX_COLAB_WORKDIR": str(tmp / "work"),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": str(REPO),
        "JAX_PLATFORMS": "cpu",
    }
    # Smoke runs are compile-bound: XLA's cheapest optimisation level roughly halves their CPU time.
    # It changes the printed numbers only in their last digits, far inside the ranges checked here.
    env["XLA_FLAGS"] = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    out = tmp / "results.json"
    # One interpreter for all notebooks: Python and JAX start once. Each notebook gets a fresh
    # namespace and its own workdir (the runner sets GENJAX_COLAB_WORKDIR to work/<notebook>),
    # and a failing notebook does not stop the others.
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "colab_smoke_runner.py"), str(out), *map(str, NOTEBOOKS)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60 * len(NOTEBOOKS) + 120,
    )
    return json.loads(out.read_text()) if out.exists() else {}


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.xdist_group("colabs")  # one worker runs the shared subprocess (pyproject: --dist=loadgroup)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, smoke_runs):
    assert path.stem in RESULT_RANGES, f"add the RESULT line and range of {path.name} to RESULT_RANGES"
    assert path.stem in smoke_runs, "the runner stopped before this notebook"
    run = smoke_runs[path.stem]
    assert run["ok"], run["error"][-3000:]
    assert FINAL_OUTPUT.get(path.stem, "") in run["stdout"]
    print(f"{path.stem}: {run['seconds']:.1f} s")

    name, low, high = RESULT_RANGES[path.stem]
    found = RESULT_LINE.findall(run["stdout"])
    assert [key for key, _ in found] == [name], f"expected one 'RESULT {name}=...' line, got {found}"
    value = float(found[0][1])
    print(f"RESULT {name}={value!r}")
    assert math.isfinite(value) and low <= value <= high, f"{name} = {value} outside [{low}, {high}]"
