"""Distribution: MirroredStrategy over 2 logical CPUs (TF), two JAX
processes over loopback, and the refusal of TF multi-worker training."""

import json
import os

import keras
import numpy as np
import pytest

from keras_resvariants.training import MULTI_WORKER_MESSAGE
from keras_resvariants.training import setup_distribution
from tests.training.subprocesses import describe
from tests.training.subprocesses import free_port
from tests.training.subprocesses import run_parallel
from tests.training.subprocesses import run_script

FM = os.path.exists("/usr/share/datasets/fashion-mnist")
needs_fm = pytest.mark.skipif(
    not FM, reason="Debian's dataset-fashion-mnist is not installed")

MIRRORED = """
import json, sys
import numpy as np
from keras_resvariants import data
from keras_resvariants.training import train
from tests.training.tiny_net import tiny_all_layers_net

runs = {}
for dist in ("mirrored", "none"):
    r = train(tiny_all_layers_net, "fashion_mnist", "quick", epochs=1,
              batch_size=128, train_subset=384, test_subset=100, seed=0,
              distribution=dist, logical_cpus=2, verbose=0,
              learning_rate=0.02, pipeline="tf.data")
    runs[dist] = r
mirrored, single = runs["mirrored"], runs["none"]
# The same weights evaluated under the strategy and on one device.
test = data.make_datasets("fashion_mnist", batch_size=64, train_subset=64,
                          test_subset=100, pipeline="tf.data").test
mirrored.model.set_weights(single.model.get_weights())
ev = {k: m.model.evaluate(test, verbose=0, return_dict=True)
      for k, m in runs.items()}
print("RESULT" + json.dumps({
    "replicas": [mirrored.metrics["distribution"]["num_replicas"],
                 single.metrics["distribution"]["num_replicas"]],
    "kinds": [mirrored.metrics["distribution"]["kind"],
              single.metrics["distribution"]["kind"]],
    "loss": [mirrored.history.history["loss"][-1],
             single.history.history["loss"][-1]],
    "eval": ev,
    "layers": sorted({type(l).__name__ for l in mirrored.model.layers}),
}))
"""


@pytest.mark.tf_only
@needs_fm
def test_fit_under_mirrored_strategy_matches_single_device():
    result = run_script(MIRRORED, backend="tensorflow")
    assert result.returncode == 0, describe(result)
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT")]
    out = json.loads(line[-1][len("RESULT"):])
    assert out["replicas"] == [2, 1]
    assert out["kinds"] == ["mirrored", "none"]
    assert {"SeqConv2D", "RiRConv", "BridgeSE", "RoRAdd",
            "RGShortcut"} <= set(out["layers"])
    # Training loss of one epoch (3 steps of 128) from the same initial
    # weights and batches; BatchNorm statistics over 64 examples per replica
    # instead of 128 make it differ a little (~1%).
    mirrored_loss, single_loss = out["loss"]
    assert mirrored_loss == pytest.approx(single_loss, rel=0.03)
    # Identical weights evaluate identically (padded batches included).
    ev = out["eval"]
    for key in ("accuracy", "cross_entropy"):
        assert ev["mirrored"][key] == pytest.approx(ev["none"][key],
                                                    rel=1e-5, abs=1e-6)


JAX_WORKER = """
import json, sys
import numpy as np
port, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from keras_resvariants.training import train
from tests.training.tiny_net import tiny_plain_net

r = train(tiny_plain_net, "fashion_mnist", "quick", epochs=2,
          batch_size=32, train_subset=96, test_subset=50, seed=0, verbose=0,
          learning_rate=0.05, output_dir=out,
          coordinator_address="127.0.0.1:" + port, num_processes=2,
          process_id=pid)
np.savez(f"{out}/weights{pid}.npz",
         *[np.asarray(w.value) for w in r.model.trainable_weights])
with open(f"{out}/result{pid}.json", "w") as f:
    json.dump({"loss": r.history.history["loss"],
               "test_accuracy": r.metrics["test_accuracy"],
               "distribution": r.metrics["distribution"]}, f)
"""


@needs_fm
def test_two_jax_processes_on_loopback_end_with_identical_weights(tmp_path):
    pytest.importorskip("jax")
    out = str(tmp_path)
    port = free_port()
    results = run_parallel(
        [(JAX_WORKER, (port, i, out)) for i in range(2)], backend="jax",
        timeout=300,
    )
    for result in results:
        assert result[0] == 0, describe(result)
    reports = []
    for i in range(2):
        with open(os.path.join(out, f"result{i}.json")) as f:
            reports.append(json.load(f))
    for i, report in enumerate(reports):
        assert report["distribution"]["process_count"] == 2
        assert report["distribution"]["process_index"] == i
        assert report["distribution"]["num_replicas"] == 2
    assert reports[0]["loss"] == reports[1]["loss"]
    assert reports[0]["test_accuracy"] == reports[1]["test_accuracy"]
    w0 = np.load(os.path.join(out, "weights0.npz"))
    w1 = np.load(os.path.join(out, "weights1.npz"))
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
    # Per-worker backups, chief-only outputs.
    assert os.path.exists(os.path.join(out, "backup", "worker0",
                                       "latest.weights.h5"))
    assert os.path.exists(os.path.join(out, "backup", "worker1",
                                       "latest.weights.h5"))
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["distribution"]["process_count"] == 2
    assert metrics["epochs_completed"] == 2


def test_tf_multi_worker_is_refused_with_a_pointer_to_jax(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
        "task": {"type": "worker", "index": 0},
    }))
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TF_CONFIG only matters on the TensorFlow backend")
    with pytest.raises(NotImplementedError) as info:
        setup_distribution("auto")
    message = str(info.value)
    assert message == MULTI_WORKER_MESSAGE
    assert "keras-team/keras#20585" in message
    assert "KERAS_BACKEND=jax" in message and "--coordinator" in message
    assert "MultiWorkerMirroredStrategy" in message


@pytest.mark.tf_only
def test_tf_multi_process_arguments_are_refused():
    with pytest.raises(NotImplementedError, match="KERAS_BACKEND=jax"):
        setup_distribution("auto", coordinator_address="127.0.0.1:1",
                           num_processes=2, process_id=0)


def test_distribution_argument_checks():
    with pytest.raises(ValueError, match="distribution"):
        setup_distribution("horovod")
    with pytest.raises(ValueError, match="process_id"):
        setup_distribution("auto", coordinator_address="127.0.0.1:1",
                           num_processes=2)
    other = ("data_parallel" if keras.backend.backend() == "tensorflow"
             else "mirrored")
    with pytest.raises(ValueError, match=f"distribution='{other}'"):
        setup_distribution(other)
