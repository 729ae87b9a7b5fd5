"""`tools/gpu_session.sh`, the one call a lent GPU machine runs, rehearsed
at tiny scale (SMOKE=1) on the CPU with JAX and TensorFlow unimportable:
what comes back in $OUT is what a session unpacks."""

import json
import os
import shutil
import subprocess
import tarfile

import pytest

from keras_resvariants.bench import study
from tests.testing import REPO_ROOT
from tests.testing import jax_env_without_tensorflow


@pytest.mark.slow
def test_smoke_session_packs_results_weights_and_benchmark(tmp_path):
    pytest.importorskip("jax")
    out, smoke = tmp_path / "out", tmp_path / "smoke"
    env = jax_env_without_tensorflow(
        tmp_path, SMOKE="1", OUT=str(out), SMOKE_DIR=str(smoke),
        STUDY_S="600", BENCH_S="300")
    committed = sorted(os.listdir(os.path.join(REPO_ROOT, "results",
                                               "fashion_mnist")))
    # An older result (15 epochs, far better on validation) whose run
    # folder is not on this machine, as results/ holds on the device.
    older = os.path.join("res_se", "resnet_20-quick-e15-s0.json")
    os.makedirs(smoke / "results" / "res_se")
    shutil.copy(os.path.join(REPO_ROOT, "results", "fashion_mnist", older),
                smoke / "results" / older)
    done = subprocess.run(
        ["bash", os.path.join(REPO_ROOT, "tools", "gpu_session.sh")],
        env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 trained, 0 skipped, 0 failed" in done.stdout
    # At most 8 files come back from a device call.
    files = sorted(os.path.relpath(os.path.join(d, f), out)
                   for d, _, names in os.walk(out) for f in names)
    assert files == ["bench/gpu_benchmarks.md", "bench/gpu_results.json",
                     "session.log", "study.tgz", "weights.tgz"]
    # The result files travel and follow the schema, with their curves.
    with tarfile.open(out / "study.tgz") as tar:
        names = tar.getnames()
        records = [json.load(tar.extractfile(n)) for n in names
                   if n.endswith(".json") and "/results/" in n]
    assert len(records) == 5
    records = [r for r in records if r["epochs"] == 1]  # trained here
    assert len(records) == 4
    for record in records:
        study.check_result(record)
        assert len(record["curve"]["val_accuracy"]) == 1
    assert any(n.endswith("accuracy.md") for n in names)
    # Weights: each network's best seed on validation among the runs
    # trained here, with what publishing reads beside it.
    with tarfile.open(out / "weights.tgz") as tar:
        weights = [n for n in tar.getnames() if n.endswith("best.keras")]
        assert sorted(os.path.basename(os.path.dirname(n))
                      for n in weights) == sorted(
            r["run_name"] for r in records)
        for n in weights:
            folder = os.path.dirname(n)
            for name in ("run_config.json", "metrics.json"):
                assert f"{folder}/{name}" in tar.getnames()
    with open(out / "bench" / "gpu_results.json") as f:
        assert [r["name"] for r in json.load(f)["rows"]] == [
            "dense_conv", "resnet_20", "res_se_net_20"]
    # A rehearsal never writes into the committed results.
    assert sorted(os.listdir(os.path.join(
        REPO_ROOT, "results", "fashion_mnist"))) == committed
