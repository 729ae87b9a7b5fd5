"""The accuracy benchmark's machinery on a tiny synthetic Fashion-MNIST."""

import gzip
import json

import numpy as np
import pytest

from keras_resvariants.bench import accuracy


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fashion_mnist(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 48), ("t10k", 24)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz",
                   rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz",
                   rng.integers(0, 10, (n,)))
    return str(tmp_path)


def test_score_is_the_test_accuracy_of_the_trained_model(tiny_fashion_mnist,
                                                        tmp_path):
    import keras

    from keras_resvariants import data

    entry = accuracy.PAIRS["res_se"][2]
    record = accuracy.train_and_score(
        entry, epochs=1, seed=0, batch_size=16, test_limit=20,
        data_dir=tiny_fashion_mnist, output_dir=str(tmp_path), verbose=0)
    assert record["run_dir"] == str(tmp_path / "res_se_net_20-quick-e1-s0")
    # Independent re-scoring of the saved model on the same test images.
    model = keras.models.load_model(f"{record['run_dir']}/last.keras")
    info = data.get_dataset_info("fashion_mnist")
    (_, _), (x_test, y_test) = data.load_fashion_mnist(tiny_fashion_mnist)
    logits = model.predict(data.normalize_numpy(x_test[:20], info),
                           verbose=0)
    expected = np.mean(np.argmax(logits, -1) == np.asarray(y_test[:20]))
    assert record["test_accuracy"] == pytest.approx(expected)
    assert record["test_examples"] == 20 and record["train_examples"] == 48
    assert record["params"] == sum(int(np.prod(w.shape))
                                   for w in model.trainable_weights)
    # A finished run is read back, not retrained.
    mtime = (tmp_path / "res_se_net_20-quick-e1-s0" / "metrics.json"
             ).stat().st_mtime
    again = accuracy.train_and_score(
        entry, epochs=1, seed=0, batch_size=16, test_limit=20,
        data_dir=tiny_fashion_mnist, output_dir=str(tmp_path), verbose=0)
    assert again == record
    assert (tmp_path / "res_se_net_20-quick-e1-s0" / "metrics.json"
            ).stat().st_mtime == mtime


def test_summary_statistics_from_known_accuracies():
    records = [
        {"label": "base", "seed": s, "test_accuracy": a}
        for s, a in enumerate([0.80, 0.82, 0.84])
    ] + [
        {"label": "var", "seed": s, "test_accuracy": a}
        for s, a in enumerate([0.83, 0.84, 0.88])
    ]
    base, var = accuracy.summarize_family(records, "base")
    assert base["mean"] == pytest.approx(0.82)
    assert base["std"] == pytest.approx(np.std([0.80, 0.82, 0.84], ddof=1))
    deltas = [0.03, 0.02, 0.04]
    assert var["delta_mean"] == pytest.approx(np.mean(deltas))
    assert var["delta_std"] == pytest.approx(np.std(deltas, ddof=1))
    # 95% t-interval 0.03 ± 4.303 * 0.01 / sqrt(3) = [0.0052, 0.0548].
    assert var["delta_low"] == pytest.approx(0.03 - 4.3027 * 0.01 / 3 ** .5)
    assert var["delta_high"] == pytest.approx(0.03 + 4.3027 * 0.01 / 3 ** .5)
    assert var["verdict"] == "better"
    flat = [dict(r, test_accuracy=0.8 + 0.001 * r["seed"]) for r in records]
    assert accuracy.summarize_family(flat, "base")[1]["verdict"] == (
        "no detectable difference")
    one = [r for r in records if r["seed"] == 0]
    row = accuracy.summarize_family(one, "base")[1]
    assert row["verdict"] == "insufficient seeds"
    assert row["delta_low"] is None and row["delta_mean"] == (
        pytest.approx(0.03))


def test_run_names_and_train_command():
    entry = accuracy.PAIRS["seqconv"][2]
    assert entry.run_name("quick", 30, 2) == "seq_resnet-k8-r1-quick-e30-s2"
    assert entry.run_name("quick", 1, 0, batch_size=64, train_subset=256,
                          test_subset=128, steps_per_epoch=2) == (
        "seq_resnet-k8-r1-quick-e1-s0-b64-n256-t128-spe2")
    command = accuracy.train_command(entry, epochs=3, seed=1,
                                     output_dir="out", train_subset=256,
                                     extra=["--no-tensorboard"])
    assert command[1:4] == ["-m", "keras_resvariants.cli", "train"]
    pairs = dict(zip(command[4::2], command[5::2]))
    assert pairs["--model"] == "seq_resnet" and pairs["--epochs"] == "3"
    assert pairs["--validation-split"] == "auto"
    assert pairs["--train-subset"] == "256" and "--test-subset" not in pairs
    assert command[-5:] == ["--model-arg", "k=8", "--model-arg", "r=1",
                            "--no-tensorboard"]


def test_run_accuracy_writes_reports(tiny_fashion_mnist, tmp_path,
                                     monkeypatch):
    # The cheapest pair, so the test stays fast.
    monkeypatch.setitem(accuracy.PAIRS, "rir", (
        "claim", accuracy.Entry("resnet_cifar", "ResNet-26",
                                (("depth", 26), ("width", 0.25))),
        accuracy.Entry("rir_net", "RiR-8", (("blocks_per_stage", 1),))))
    out = tmp_path / "out"
    result = accuracy.run_accuracy(
        ["rir"], epochs=1, seeds=[0], batch_size=16, test_limit=24,
        data_dir=tiny_fashion_mnist, output_dir=str(out), log=None)
    labels = [r["label"] for r in result["families"]["rir"]["records"]]
    assert labels == ["ResNet-26", "RiR-8"]
    with open(out / "accuracy.json") as f:
        assert json.load(f)["test_examples"] == 24
    md = (out / "accuracy.md").read_text()
    assert "| rir | ResNet-26 (baseline) |" in md and "RiR-8" in md
    with pytest.raises(ValueError, match="families"):
        accuracy.run_accuracy(["nope"], data_dir=tiny_fashion_mnist,
                              output_dir=str(out), log=None)
