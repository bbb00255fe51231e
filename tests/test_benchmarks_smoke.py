"""The benchmarks run end to end at toy sizes and print well-formed JSON (their figures are not checked: speed
and quality are measured by running them at full size, never in tests). The shared helpers are checked by value."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def common(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _common

    return _common


def test_convolutions_alone_counts_every_convolution_and_its_flops(common):
    """A 3x3 convolution 2 -> 4 on 5x6 and a 2x2 stride-2 transposed convolution 4 -> 3 back to 10x12: FLOPs by
    hand are 2 * 9 * 2 * 4 * 30 = 4,320 and 2 * 4 * 4 * 3 * 30 = 2,880 per image (a multiply-add is 2)."""
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.ConvTranspose2d(4, 3, 2, stride=2))
    x = torch.randn(3, 2, 5, 6)
    forward = common.convolutions_alone(model, x, train=False, repeats=1)
    assert forward["layers"] == 2
    assert forward["flops"] == 3 * (4320 + 2880)
    # training: the first layer's input needs no gradient, so it costs forward + weight gradient (2x), the second
    # forward + input gradient + weight gradient (3x)
    backward = common.convolutions_alone(model, x, train=True, repeats=1)
    assert backward["flops"] == 3 * (2 * 4320 + 3 * 2880)


def test_the_peak_is_the_faster_gemm_library(common, monkeypatch):
    monkeypatch.setattr(common, "blas_gemm_gflops", lambda: 100.0)
    monkeypatch.setattr(common, "onednn_gemm_gflops", lambda: 250.0)
    sampler = common.PeakSampler()
    for _ in range(3):
        sampler.sample()
    report = sampler.report()
    assert report["matmul_peak_gflops"] == 250.0
    assert report["peak_samples_by_library_gflops"] == {"blas_mm": [100.0] * 3, "onednn_1x1_conv": [250.0] * 3}
    row = {"gflops": 200.0}
    sampler.add_fractions([row])
    assert row["fraction_of_peak"] == 0.8


@pytest.mark.slow
@pytest.mark.parametrize("script,args,key", [
    ("predict_throughput.py", ["--n", "3", "--size", "32", "--batch", "2", "--repeats", "1", "--compile"],
     "end_to_end_images_per_s"),
    ("train_throughput.py", ["--batch", "1", "--size", "32", "--repeats", "1"], "pixelwise_unet_convolutions_alone"),
])
def test_speed_benchmark_runs(script, args, key):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert key in result and result["matmul_peak_gflops"] > 0


def test_restore_layout_benchmark_runs():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "restore_layout.py"), "--batch", "1", "--patch", "16",
                           "--size", "24", "--repeats", "1", "--models", "dncnn,post"], capture_output=True, text=True,
                          timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)["networks"]
    assert set(rows) == {"dncnn", "post"}
    for row in rows.values():
        assert row["weights_channels_last"] and row["max_abs_difference"] < 1e-4 and row["train_speedup"] > 0


@pytest.mark.slow
def test_large_image_benchmark_runs():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "large_image.py"), "--size", "96", "--tile", "32",
                           "--base", "4", "--depth", "2"], capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["pixelwise"]["peak_rss_mib"] > 0 and result["monai"]["peak_rss_mib"] > 0
    assert result["pixelwise_under_target"] is True


def test_within_class_spread_by_hand(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from diffusion import _within_class_spread

    images = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    # class 0: images 0, 1, 2 -> per-pixel mean squared differences 1, 1/2, 1/2 per pair, mean 2/3;
    # class 1: image 3 alone (no pair) is left out
    assert _within_class_spread(images, [0, 0, 0, 1]) == pytest.approx(2 / 3)
    assert _within_class_spread(images[[0, 0, 1, 1]], [0, 0, 1, 1]) == 0.0  # copies: no spread


@pytest.mark.slow
def test_diffusion_benchmark_runs_and_reuses_its_draws(tmp_path):
    """Toy sizes: both judges (outlier exposure, then plain on the same DDPM with --reuse), the short-training
    control, and the kept draws: scored again by the same judge, they give the same figures."""
    rng = np.random.default_rng(0)
    data = tmp_path / "digits.npz"
    np.savez(data, images=(rng.random((40, 8, 8)) * 255).astype(np.uint8), labels=np.arange(40) % 10)
    common = ["--data", str(data), "--out", str(tmp_path / "out"), "--T", "4", "--base", "4", "--mults", "1,2",
              "--samples", "4", "--draws", "2", "--threads", "1", "--classifier-minutes", "0.01"]

    def bench(*args):
        done = subprocess.run([sys.executable, str(BENCHMARKS / "diffusion.py"), *common, *args],
                              capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    first = bench("--minutes", "0.02", "--control-minutes", "0.01")  # the default judge: outlier exposure
    assert len(first["draws"]) == 2 and first["control_ddpm_short_training"]["epochs"] >= 1
    assert first["classifier"]["outlier_exposure"] == 0.5 and (tmp_path / "out" / "classifier-oe").is_dir()
    assert "scribbles_never_trained_on" in first["classifier"]["confident_fraction_on_non_digits"]
    assert len(list((tmp_path / "out" / "ddpm" / "draws").glob("*.npy"))) == 2
    plain = bench("--reuse", "--retrain-classifier", "--outlier-exposure", "0")
    assert plain["classifier"]["outlier_exposure"] == 0 and (tmp_path / "out" / "classifier").is_dir()
    assert plain["ddpm"]["epochs"] == first["ddpm"]["epochs"]
    again = bench("--reuse")  # the first run's judge, on the kept draws
    assert again["draws"] == first["draws"]
    ddim = bench("--reuse", "--steps", "2")  # the same DDPM through DDIM: its draws kept apart
    assert ddim["ddpm"]["sampler"] == "DDIM, 2 steps, eta 0" and len(ddim["draws"]) == 2
    assert len(list((tmp_path / "out" / "ddpm" / "draws").glob("*_ddim2_eta0.npy"))) == 2
    pc = bench("--reuse", "--corrector-steps", "1")  # predictor-corrector: its own kept draws
    assert pc["ddpm"]["sampler"].endswith("1 Langevin corrector step(s), r 0.1")
    assert len(list((tmp_path / "out" / "ddpm" / "draws").glob("*_beta_pc1_r0.1.npy"))) == 2
    assert pc["diversity"]["nearest_train_mse"] > 0 and pc["diversity"]["ddpm_val_images_nearest_train_mse"] > 0


@pytest.mark.slow
def test_diffusion_benchmark_scores_a_conditional_ddpm_by_guidance(tmp_path):
    """Toy sizes: a class-conditional DDPM, its unconditional draws and, per guidance weight, its draws of each
    class in turn, with the share the judge classifies as the class asked for."""
    rng = np.random.default_rng(0)
    data = tmp_path / "digits.npz"
    np.savez(data, images=(rng.random((40, 8, 8)) * 255).astype(np.uint8), labels=np.arange(40) % 10)
    done = subprocess.run([sys.executable, str(BENCHMARKS / "diffusion.py"), "--data", str(data), "--out",
                           str(tmp_path / "out"), "--T", "4", "--base", "4", "--mults", "1,2", "--samples", "10",
                           "--draws", "2", "--threads", "1", "--classifier-minutes", "0.01", "--minutes", "0.02",
                           "--conditional", "--guidance", "0,1.5"],
                          capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["ddpm"]["conditional"] and result["ddpm"]["label_dropout"] == 0.1 and len(result["draws"]) == 2
    by_guidance = result["conditional_samples_by_guidance"]
    assert sorted(by_guidance) == ["0", "1.5"]
    for scored in by_guidance.values():
        assert len(scored["draws"]) == 2 and 0 <= scored["confident_agreement_mean"] <= scored["agreement_mean"] <= 1
    assert len(list((tmp_path / "out" / "ddpm" / "draws").glob("*_each_w1.5.npy"))) == 2



def _bench(monkeypatch, capsys, script: str, *args: str) -> dict:
    """Run a benchmark's main() in this process (no interpreter start-up) and read its JSON."""
    import importlib

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", [script, *args])
    capsys.readouterr()
    importlib.import_module(script.removesuffix(".py")).main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_label_efficiency_and_unet_vs_vit_benchmarks_run(tmp_path, monkeypatch, capsys):
    """Toy sizes: pretraining, then scratch and pretrained runs at one label fraction compared on the same test
    cases; and the U-Net against the ViT through segment compare."""
    from pixelwise.data.synthetic import write_polyps_folder

    data = str(write_polyps_folder(tmp_path / "polyps", n=20, size=16, seed=0))
    tiny = ["--data", data, "--size", "16", "--base-channels", "2", "--depth", "1", "--epochs", "1", "--batch-size",
            "4", "--split", "0.6,0.2,0.2"]
    result = _bench(monkeypatch, capsys, "label_efficiency.py", *tiny, "--out", str(tmp_path / "le"), "--minutes",
                    "0.5", "--pretrain-minutes", "0.02", "--fractions", "0.5", "--pretrain-batch-size", "4",
                    "--pretrain-on", "train")
    (row,) = result["fractions"]
    assert row["labelled_cases"] == 6 and row["test_cases"] == 4  # 20 cases: 4 val, 4 test, half of the 12 left
    assert row["dice_gain"]["ci_low"] <= row["dice_gain"]["mean"] <= row["dice_gain"]["ci_high"]
    assert len(list((tmp_path / "le" / "pretrain-images" / "images").iterdir())) == 12
    versus = _bench(monkeypatch, capsys, "unet_vs_vit.py", *tiny, "--out", str(tmp_path / "uv"), "--minutes", "0.05",
                    "--patch-size", "4", "--dim", "8", "--heads", "2", "--vit-depth", "1")
    assert versus["test_cases"] == 4 and set(versus["vit_minus_unet"]) == {"dice", "iou"}
    small_vit = ["--patch-size", "4", "--dim", "8", "--heads", "2", "--vit-depth", "1"]
    vit = _bench(monkeypatch, capsys, "label_efficiency.py", *tiny, *small_vit, "--model", "vit", "--method", "mae",
                 "--out", str(tmp_path / "le-vit"), "--minutes", "0.5", "--pretrain-minutes", "0.02", "--fractions",
                 "0.5", "--pretrain-batch-size", "4")
    assert vit["model"] == "vit" and vit["config"]["dim"] == 8 and vit["fractions"][0]["test_cases"] == 4
    pseudo = _bench(monkeypatch, capsys, "label_efficiency.py", *tiny, "--method", "pseudo", "--out",
                    str(tmp_path / "le-pseudo"), "--minutes", "0.5", "--pretrain-minutes", "0.05", "--fractions", "0.5")
    (row,) = pseudo["fractions"]
    assert row["teacher"]["epochs"] == 1 and 0 <= row["teacher"]["dice"] <= 1
    split = json.loads((tmp_path / "le-pseudo" / "pretrained-0.5" / "split.json").read_text())
    assert len(split["labelled"]) == 6 and len(split["pseudo_labelled"]) == 6


@pytest.mark.slow
def test_restore_quality_benchmark_trains_then_reuses_its_run(tmp_path, monkeypatch, capsys):
    """Toy sizes: the denoise part trains a tiny U-Net and scores it beside TV; --reuse --ensemble scores the same
    run again, reporting the run's own settings rather than the part's defaults."""
    from pixelwise.data.io import write_image
    from pixelwise.data.samples import sample, to_uint8

    for folder, name, size in (("train", "camera", 24), ("train", "camera", 32), ("train", "astronaut", 24),
                               ("train", "astronaut", 32), ("train", "shepp_logan", 24), ("test", "camera", 28)):
        write_image(tmp_path / folder / f"{name}-{size}.png", to_uint8(sample(name, grey=True, size=size)))
    tiny = ["--parts", "denoise", "--train", str(tmp_path / "train"), "--denoise-test", str(tmp_path / "test"),
            "--runs", str(tmp_path / "runs"), "--minutes", "0.02", "--set", "denoise.width=4", "--set",
            "denoise.depth=2", "--set", "denoise.patch=16", "--set", "denoise.batch_size=2", "--set",
            "denoise.steps_per_epoch=2", "--set", "denoise.val_size=16"]
    trained = _bench(monkeypatch, capsys, "restore_quality.py", *tiny)["results"]["denoise"]
    assert trained["test_images"] == 1 and trained["config"]["width"] == 4 and trained["steps"] >= 2
    low, high = trained["network_minus_tv_ci95_db"]
    assert low <= trained["network_minus_tv_db"] <= high
    reused = _bench(monkeypatch, capsys, "restore_quality.py", *tiny[:8], "--reuse", "--ensemble")
    row = reused["results"]["denoise"]
    assert reused["ensemble"] and row["config"]["width"] == 4 and row["config"]["operator"] == "denoise"
    assert row["steps"] == trained["steps"]


def test_sr_over_srcnn_pairs_by_image(monkeypatch):
    """Gains 0.5 and 1.0 dB by hand (the rows in different orders): mean 0.75, below the 0.9 dB moonshot; runs
    scored on different images are refused."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import restore_quality

    sr = [{"case": "a", "psnr_network": 30.0}, {"case": "b", "psnr_network": 32.0}]
    srcnn = [{"case": "b", "psnr_network": 31.0}, {"case": "a", "psnr_network": 29.5}]
    row = restore_quality.sr_over_srcnn(sr, srcnn)
    assert row["mean_db"] == 0.75 and row["sr_better_on"] == "2 of 2" and not row["moonshot_met"]
    assert row["ci95_db"][0] >= 0.5 and row["ci95_db"][1] <= 1.0
    assert restore_quality.sr_over_srcnn(sr, [{**r, "psnr_network": r["psnr_network"] - 1} for r in sr])[
        "moonshot_met"]
    with pytest.raises(RuntimeError, match="different test images"):
        restore_quality.sr_over_srcnn(sr, srcnn[:1])


@pytest.mark.slow
def test_restore_quality_benchmark_pairs_sr_with_srcnn(tmp_path, monkeypatch, capsys):
    """Toy sizes: the sr and srcnn parts train on the same images and are scored on the same two test images;
    the paired gain is the difference of their mean PSNRs (the mean of differences, by hand)."""
    from pixelwise.data.io import write_image
    from pixelwise.data.samples import sample, to_uint8

    for folder, name, size in (("train", "camera", 30), ("train", "astronaut", 36), ("test", "camera", 33),
                               ("test", "astronaut", 27)):
        write_image(tmp_path / folder / f"{name}-{size}.png", to_uint8(sample(name, grey=True, size=size)))
    settings = [f"--set={part}.{key}" for part in ("sr", "srcnn")
                for key in ("width=4", "patch=12", "batch_size=2", "steps_per_epoch=2", "val_size=12")]
    result = _bench(monkeypatch, capsys, "restore_quality.py", "--parts", "sr,srcnn", "--train",
                    str(tmp_path / "train"), "--sr-test", str(tmp_path / "test"), "--runs", str(tmp_path / "runs"),
                    "--minutes", "0.02", "--set", "sr.depth=2", *settings)["results"]
    assert result["sr"]["config"]["model"] == "post" and result["srcnn"]["config"]["model"] == "srcnn"
    assert result["sr"]["test_images"] == result["srcnn"]["test_images"] == 2
    means = [result[part]["mean"]["network"]["psnr"] for part in ("sr", "srcnn")]
    assert result["sr_minus_srcnn"]["mean_db"] == pytest.approx(means[0] - means[1], abs=1e-3)
    assert result["sr_minus_srcnn"]["moonshot_met"] == (means[0] - means[1] >= 0.9)


@pytest.mark.slow
def test_simclr_probe_benchmark_runs(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    data = tmp_path / "digits.npz"
    np.savez(data, images=(rng.random((50, 28, 28)) * 255).astype(np.uint8), labels=np.arange(50) % 5)
    result = _bench(monkeypatch, capsys, "simclr_probe.py", "--data", str(data), "--out", str(tmp_path / "out"),
                    "--minutes", "0.05", "--supervised-minutes", "0.02", "--base-channels", "2", "--depth", "1",
                    "--batch-size", "8", "--epochs", "1")
    assert result["train_images"] == 40 and result["test_images"] == 10
    assert set(result["accuracy"]) == {"pretrained", "random", "supervised"}


@pytest.mark.slow
def test_solve_lambda_benchmark_runs_at_toy_size():
    """The fast weight search and the exhaustive one it replaced, both cases, on a 32x32 crop (16x16 for the old
    search): seconds on one thread."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "solve_lambda.py"), "--size", "32", "--reference-size",
                           "16", "--threads", "1"], capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    cases = json.loads(done.stdout)["cases"]
    assert set(cases) == {"blur", "ct"}
    for row in cases.values():
        assert row["new"]["weights_tried"] <= 17 and row["reference"]["weights_tried"] == 7
        assert "psnr_gain" in row and row["speedup"] > 0


@pytest.mark.slow
def test_solve_lambda_benchmark_times_plug_and_plays_menus(prior_runs):
    """PnP's searched loop with today's level counts (8, 24) and the menu before (8, 24, 40), on a 24 x 24 crop:
    the loops each searched and a PSNR for both."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "solve_lambda.py"), "--size", "24", "--cases", "",
                           "--denoiser", str(prior_runs / "dn"), "--pnp-cases", "blur", "--threads", "1"],
                          capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["cases"] == {} and set(out["pnp"]) == {"blur"}
    row = out["pnp"]["blur"]
    assert (row["new"]["loops_searched"], row["reference"]["loops_searched"]) == (4, 6)
    assert row["new"]["loop"][1] in (8, 24) and row["reference"]["loop"][1] in (8, 24, 40)
    assert row["psnr_gain"] == pytest.approx(row["new"]["psnr"] - row["reference"]["psnr"], abs=2e-3)


@pytest.mark.slow
def test_pnp_priors_benchmark_runs_at_toy_size(prior_runs, tmp_path):
    """PnP against TV on two 24x24 photographs (inpainting), and DPS and CSGM against TV on three digits, with the
    tiny trained runs of conftest.prior_runs."""
    from pixelwise.data.io import write_image
    from pixelwise.data.samples import sample, to_uint8

    for name in ("camera", "astronaut"):
        write_image(tmp_path / f"{name}.png", to_uint8(sample(name, grey=True, size=32)))
    done = subprocess.run([sys.executable, str(BENCHMARKS / "pnp_priors.py"), "--photos", str(tmp_path),
                           "--denoiser", str(prior_runs / "dn"), "--size", "24", "--operators", "inpaint",
                           "--digits", "3", "--diffusion", str(prior_runs / "ddpm"), "--generator",
                           str(prior_runs / "vae"), "--threads", "1"],
                          capture_output=True, text=True, timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    photo = result["photos"]["inpaint"]
    assert len(photo["per_image"]) == 2 and photo["pnp"]["gain_over_tv"]["n"] == 2 and photo["pnp_lambda"] > 0
    loops = photo["pnp_loops_searched"]  # HQS and ADMM at 8 and 24 levels, each with its weight; the best kept
    best = max(loops, key=lambda e: e["psnr"])
    assert len(loops) == 4 and photo["pnp_loop"] == {"pnp_algorithm": best["pnp_algorithm"],
                                                     "iterations": best["iterations"]}
    assert photo["pnp_lambda"] == pytest.approx(best["lambda"])
    assert set(result["digits"]) == {"inpaint", "sr4"}
    for row in result["digits"].values():
        assert {"dps", "csgm", "tv"} <= set(row) and len(row["per_image"]) == 3


@pytest.mark.slow
def test_pnp_priors_benchmark_given_weight_and_oracle(prior_runs, tmp_path):
    """--pnp-lambda fixes PnP's weight; --oracle searches around it on the test photographs themselves, so its mean
    PSNR is at least that of the given weight (scored first, on the same photographs and measurements). A weight
    for an operator that does not exist is refused by argparse (exit 2), naming it."""
    from pixelwise.data.io import write_image
    from pixelwise.data.samples import sample, to_uint8

    for name in ("camera", "astronaut"):
        write_image(tmp_path / f"{name}.png", to_uint8(sample(name, grey=True, size=32)))
    base = [sys.executable, str(BENCHMARKS / "pnp_priors.py"), "--photos", str(tmp_path), "--denoiser",
            str(prior_runs / "dn"), "--size", "20", "--operators", "inpaint", "--threads", "1"]
    done = subprocess.run([*base, "--pnp-lambda", "inpaint=0.5", "--oracle"], capture_output=True, text=True,
                          timeout=600, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(done.stdout)["photos"]["inpaint"]
    assert row["pnp_lambda"] == 0.5 and row["pnp_lambda_rule"].startswith("given")
    assert row["pnp_loop"].startswith("the default") and "pnp_loops_searched" not in row
    oracle = row["oracle"]
    assert oracle["weights_tried"] >= 3 and len(oracle["per_image"]) == 2
    assert oracle["psnr"]["mean"] >= row["pnp"]["psnr"]["mean"] - 1e-9
    assert oracle["psnr"]["mean"] == pytest.approx(np.mean(oracle["per_image"]), abs=2e-3)
    for bad, words in (("blur=0.5", "'blur' is not an operator"), ("inpaint=-1", "positive number")):
        refused = subprocess.run([*base, "--pnp-lambda", bad], capture_output=True, text=True, timeout=120,
                                 cwd=BENCHMARKS)
        assert refused.returncode == 2 and words in refused.stderr and not refused.stdout
