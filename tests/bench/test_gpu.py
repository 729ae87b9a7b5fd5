"""The GPU benchmark command (`python -m keras_resvariants.bench.gpu`) at
the smoke profile on the CPU with JAX and no TensorFlow: the command a GPU
machine runs, end to end."""

import json
import subprocess
import sys

import pytest

import keras_resvariants as kr
from keras_resvariants.bench import gpu
from tests.testing import jax_env_without_tensorflow


def test_bad_input_is_one_line_and_exit_2(capsys):
    # The default (TensorFlow) backend is refused before anything runs.
    assert gpu.main(["--output", "unused"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "KERAS_BACKEND=jax" in error[0]


def test_smoke_run_on_jax_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    env = jax_env_without_tensorflow(tmp_path)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "keras_resvariants.bench.gpu", "--profile",
         "smoke", "--groups", "bridge_se", "--dtypes", "float32",
         "mixed_bfloat16", "--output", str(out)],
        env=env, cwd=str(tmp_path), capture_output=True, text=True,
        timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "gpu_results.json") as f:
        results = json.load(f)
    rows = results["rows"]
    # Per dtype: the reference, ResNet-20 and Res-SE-Net-20 (no control).
    assert [(r["dtype"], r["name"]) for r in rows] == [
        (dtype, name) for dtype in ("float32", "mixed_bfloat16")
        for name in (gpu.REFERENCE, "resnet_20", "res_se_net_20")]
    # The smoke profile's ResNet-20 at 8x8 has the registry's MAC count.
    resnet = kr.create_model("resnet_20", input_shape=(8, 8, 3), classes=10)
    assert rows[1]["macs"] == kr.count_macs(resnet)
    report = (out / "gpu_benchmarks.md").read_text()
    for dtype in ("float32", "mixed_bfloat16"):
        mine = [r for r in rows if r["dtype"] == dtype]
        reference = mine[0]
        for r in mine:
            assert r["images_per_s"] == pytest.approx(r["batch"]
                                                      / r["step_s"])
            assert r["macs_per_s"] == pytest.approx(
                r["macs"] * r["batch"] / r["step_s"])
            assert r["dense_fraction"] == pytest.approx(
                r["macs_per_s"] / reference["macs_per_s"])
            assert (f"| {r['group']} | {r['label']} | {r['batch']} |"
                    in report)
        assert reference["dense_fraction"] == 1.0
    assert "## mixed_bfloat16" in report and "cpu" in report
