"""Two seeds with two jobs.

The architecture seed (RoR's channel split, a builder argument saved with
the model) decides the network; Keras' global seed
(`keras.utils.set_random_seed`, what `train(seed=...)` sets) decides every
random initial weight and all training noise: SeqConv2D's dropout masks and
RoR's drop-layer gates.
"""

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants import layers as L

# One small network per family (and the plain ResNet baseline), built at a
# small input so the suite stays quick.
FAMILY_NETS = {
    "resnet": ("resnet_20", {}),
    "res_se": ("res_se_net_20", {}),
    "rir": ("rir_net_32", {}),
    "seqconv": ("seq_resnet", {"k": 8, "r": 1}),
    "rgs": ("rgsnet", {"width": 0.25}),
    "ror": ("ror_resnet_56", {"width": 8}),
}
SHAPE = (16, 16, 3)


def _build(name, global_seed, **kwargs):
    keras.utils.set_random_seed(global_seed)
    return kr.create_model(name, input_shape=SHAPE, classes=5, **kwargs)


def _trainable(model):
    return {w.path: keras.ops.convert_to_numpy(w) for w in
            model.trainable_weights}


def _zero_initialised(path):
    # The only kernels the papers start at zero: the 3x3 kernels of the
    # second SeqConv layer of every SeqResNet block (identity at init).
    return "_seqconv2/" in path and path.endswith("/kernel")


def test_every_family_is_covered():
    families = {kr.model_info(k)["family"] for k in kr.list_models()}
    assert families == set(FAMILY_NETS)


@pytest.mark.parametrize("family", sorted(FAMILY_NETS))
def test_global_seed_reaches_every_random_kernel(family):
    name, kwargs = FAMILY_NETS[family]
    a = _trainable(_build(name, 1, **kwargs))
    b = _trainable(_build(name, 2, **kwargs))
    a_again = _trainable(_build(name, 1, **kwargs))

    # The same global seed twice: bit-identical weights, all of them.
    assert a.keys() == a_again.keys() == b.keys()
    for path in a:
        np.testing.assert_array_equal(a[path], a_again[path], err_msg=path)

    kernels = [p for p in a if a[p].ndim >= 2]
    zero = [p for p in kernels if _zero_initialised(p)]
    for path in zero:
        assert not np.any(a[path]) and not np.any(b[path]), path
    random_kernels = [p for p in kernels if p not in zero]
    assert random_kernels
    same = [p for p in random_kernels if np.array_equal(a[p], b[p])]
    assert same == [], f"{len(same)} of {len(random_kernels)} kernels " \
        f"ignore the global seed: {same[:5]}"
    if family == "seqconv":
        assert zero, "SeqResNet blocks start with zero 3x3 kernels"


def _splits(model):
    return [tuple(layer.represent_indices) for layer in model.layers
            if isinstance(layer, L.RoRAdd)]


def test_ror_split_follows_the_architecture_seed_only():
    kwargs = {"width": 8, "represent_ratio": 0.25}
    base = _splits(_build("ror_resnet_56", 1, seed=0, **kwargs))
    assert len(base) == 18 and all(base)
    assert _splits(_build("ror_resnet_56", 2, seed=0, **kwargs)) == base
    other = _splits(_build("ror_resnet_56", 1, seed=1, **kwargs))
    assert other != base


def _copy_weights(source, target):
    """Copies every weight except random-generator state."""
    for s, t in zip(source.weights, target.weights):
        assert s.path == t.path
        t.assign(s)


def _training_outputs(name, global_seed, reference, output, **kwargs):
    model = _build(name, global_seed, **kwargs)
    _copy_weights(reference, model)
    # Stop before any stock noise layer (SeqResNet's blender dropout), so
    # only the paper layers' own noise is seen.
    model = keras.Model(model.input, model.get_layer(output).output)
    x = np.random.default_rng(0).normal(size=(8,) + SHAPE).astype("float32")
    # Two calls, so a generator that is re-seeded per call would show.
    return [keras.ops.convert_to_numpy(model(x, training=True))
            for _ in range(2)]


@pytest.mark.parametrize(
    "name, output, kwargs",
    [
        # SeqConv2D's per-group spatial dropout masks.
        ("seq_resnet", "stage3_out", {"k": 8, "r": 1, "dropout": 0.5}),
        # RoR's drop-layer gates (one per example, to see many draws).
        ("ror_resnet_56", "predictions",
         {"width": 8, "drop_rate": 0.5, "drop_mode": "sample"}),
    ],
)
def test_training_noise_follows_the_global_seed(name, output, kwargs):
    reference = _build(name, 0, **kwargs)
    one = _training_outputs(name, 1, reference, output, **kwargs)
    one_again = _training_outputs(name, 1, reference, output, **kwargs)
    two = _training_outputs(name, 2, reference, output, **kwargs)
    for a, b in zip(one, one_again):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(one, two):
        assert not np.allclose(a, b)
    # Inference has no noise: the seeds agree.
    x = np.ones((2,) + SHAPE, "float32")
    for seed in (1, 2):
        model = _build(name, seed, **kwargs)
        _copy_weights(reference, model)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(model(x, training=False)),
            keras.ops.convert_to_numpy(reference(x, training=False)),
            rtol=1e-6, atol=1e-6,
        )


def test_explicit_layer_seeds_stay_reproducible_and_saved():
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 8)).astype("float32")

    def seq(global_seed):
        keras.utils.set_random_seed(global_seed)
        layer = L.SeqConv2D(16, 4, dropout=0.3, seed=7)
        out = layer(x, training=True)[1]
        return layer, keras.ops.convert_to_numpy(out)

    layer, out1 = seq(1)
    _, out2 = seq(2)
    np.testing.assert_array_equal(out1, out2)  # the layer's seed rules
    assert layer.get_config()["seed"] == 7

    def gates(global_seed, gate_seed):
        keras.utils.set_random_seed(global_seed)
        layer = L.RoRAdd(represent_ratio=0.0, drop_rate=0.5,
                         drop_mode="sample", seed=3, gate_seed=gate_seed)
        ones = np.ones((64, 2, 2, 4), "float32")
        return layer, keras.ops.convert_to_numpy(
            layer([ones, ones], training=True))

    layer, g1 = gates(1, 11)
    _, g2 = gates(2, 11)
    np.testing.assert_array_equal(g1, g2)
    assert layer.get_config()["gate_seed"] == 11
    _, u1 = gates(1, None)
    _, u2 = gates(2, None)
    assert not np.array_equal(u1, u2)


def test_old_ror_config_without_gate_seed_loads():
    # A config saved before `gate_seed` existed.
    config = L.RoRAdd(seed=5).get_config()
    del config["gate_seed"]
    layer = L.RoRAdd.from_config(config)
    assert layer.seed == 5 and layer.gate_seed is None
