"""Tiny real runs of the instrument (1 round, tiny shapes): no timing
assertions, only that the pieces fit together."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_resvariants.bench import analysis
from keras_resvariants.bench.groups import GROUP_NAMES
from keras_resvariants.bench.groups import get_group
from keras_resvariants.bench.harness import run_group
from tests.testing import REPO_ROOT


def test_every_group_is_defined_with_distinct_candidates():
    for name in GROUP_NAMES:
        group = get_group(name, "smoke")
        names = [c.name for c in group.candidates()]
        assert len(set(names)) == len(names)
        assert names[1] == "control" and group.level in ("model", "layer")
        # A floor measures the minimal cost of a targeted variant of its
        # own group, and every profile times it.
        for c in group.variants:
            if c.floor_for is not None:
                of = {v.name: v for v in group.variants}[c.floor_for]
                assert of.target is not None and c.target is None
    floors = {(g, c.floor_for) for g in GROUP_NAMES
              for c in get_group(g, "quick").variants if c.floor_for}
    assert floors == {("ror", "ror"), ("rg", "rgs_b"),
                      ("layer_seqconv", "seq_k8"),
                      ("layer_seqconv_dropout", "seq_k8_drop")}
    with pytest.raises(ValueError, match="group"):
        get_group("nope")
    with pytest.raises(ValueError, match="profile"):
        get_group("ror", "slow")


def test_seqconv_floors_are_chains_of_the_convolutions_they_claim():
    """The two SeqConv floors (`groups._group_chain`): their convolution
    kernels, in order, and that each group's convolution reads the
    previous group's activation (the chain any formulation runs)."""
    for name, floor, kernels in (
        ("layer_seqconv", "seq_chain",
         [(3, 3, 64, 64)] + [(3, 3, 8, 8)] * 7),
        ("layer_seqconv_dropout", "per_group_convs",
         [(3, 3, 64, 8)] * 8),
        ("layer_seqconv_dropout", "per_group_convs_masked",
         [(3, 3, 64, 8)] * 8),
    ):
        group = get_group(name, "smoke")
        model = {c.name: c for c in group.variants}[floor].build()
        convs = [layer for layer in model.layers
                 if isinstance(layer, keras.layers.Conv2D)]
        assert [tuple(c.kernel.shape) for c in convs] == kernels
        bns = [layer for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization)]
        assert [b.gamma.shape[0] for b in bns] == [8] * 8
        # Group i's convolution (i > 0) is computed from group i-1's
        # ReLU: the layers feeding it include that ReLU's output.
        relus = [layer for layer in model.layers
                 if isinstance(layer, keras.layers.ReLU)]
        for i in range(1, len(convs)):
            assert _depends_on(model, convs[i], relus[i - 1]), (floor, i)
            assert not _depends_on(model, convs[i], relus[i]), (floor, i)


def test_seqconv_dropout_floor_masks_each_view_with_its_own_mask():
    """The dropout floor multiplies each group's view, right before its
    convolution, by a mask of its own: one per (sample, channel), 0 or
    1 / (1 - rate) like SeqConv2D's, drawn anew at every call."""
    group = get_group("layer_seqconv_dropout", "smoke")
    model = {c.name: c for c in group.variants}[
        "per_group_convs_masked"].build()
    convs = [layer for layer in model.layers
             if isinstance(layer, keras.layers.Conv2D)]
    products = [layer for layer in model.layers
                if isinstance(layer, keras.layers.Multiply)]
    assert [c.input for c in convs] == [m.output for m in products]
    (draw,) = [layer for layer in model.layers
               if type(layer).__name__ == "_ChannelMasks"]
    x = np.random.default_rng(0).uniform(
        0.5, 1.5, (64,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    masks = keras.ops.convert_to_numpy(draw(x))
    assert masks.shape == (64, 1, 1, 8 * 64)
    assert set(np.unique(masks)) == {0.0, np.float32(1 / 0.9)}
    assert 0.05 < np.mean(masks == 0) < 0.15
    per_group = masks.reshape(64, 8, 64)
    assert len({g.tobytes() for g in per_group.transpose(1, 0, 2)}) == 8
    assert not np.array_equal(masks, keras.ops.convert_to_numpy(draw(x)))
    # Each product is its view times its own slice of the draw: the
    # first group's view is the input itself.
    sub = keras.Model(model.inputs[0], [products[0].output, draw.output])
    product, mask = (keras.ops.convert_to_numpy(t) for t in sub(x))
    np.testing.assert_allclose(product, x * mask[..., :64], rtol=1e-6)


def _depends_on(model, layer, upstream):
    """Whether `upstream` lies on a path from the model's inputs to
    `layer`'s output: a functional model keeps exactly those layers."""
    return upstream in keras.Model(model.inputs, layer.output).layers


def test_layer_group_in_process_counts_params_by_the_spec_formula():
    result = run_group(get_group("layer_rir", "smoke"), "smoke")
    by_name = {c["name"]: c for c in result["candidates"]}
    # Conv2D(64, 3) on 64 channels + BN = RiRConv(32, 32)
    # (docs/design.md#rir).
    formula = 9 * 64 * 64 + 2 * 64
    assert by_name["conv"]["params"] == formula
    assert by_name["rir_identity"]["params"] == formula
    assert by_name["rir_two_tensors"]["params"] == formula
    assert by_name["rir_identity"]["target"]["limit"] == 1.05
    assert result["backend"] == keras.backend.backend()
    for mode in ("train", "infer"):
        times = result["modes"][mode]["times"]
        assert set(times) == set(by_name)
        assert all(len(t) == 1 and t[0] > 0 for t in times.values())
    a = analysis.analyse_group(result, tolerance=10.0)
    assert [v["name"] for v in a["modes"]["train"]["variants"]] == [
        "rir_identity", "rir_none", "rir_two_tensors"]


def test_separate_control_builds_a_second_model():
    result = run_group(get_group("layer_merge", "smoke"), "smoke",
                       separate_control=True)
    assert result["separate_control"] is True
    assert len(result["modes"]["train"]["first_call_s"]) == 3


@pytest.mark.tf_only
def test_cli_writes_table_chart_and_json(tmp_path):
    out = tmp_path / "bench"
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "keras_resvariants.cli", "bench",
         "--profile", "smoke", "--groups", "layer_merge", "--output",
         str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    with open(out / "results.json") as f:
        suite = json.load(f)
    assert [g["name"] for g in suite["groups"]] == ["layer_merge"]
    assert suite["groups"][0]["result"]["pid"] != os.getpid()
    md = (out / "benchmarks.md").read_text()
    assert "RoRAdd vs Add" in md and "Control (plain vs plain)" in md
    assert (out / "benchmarks.png").read_bytes()[:4] == b"\x89PNG"


def test_before_candidate_is_the_same_network_through_keras_grouped_conv():
    import numpy as np

    from keras_resvariants.bench.groups import registry_model
    from keras_resvariants.bench.groups import with_keras_grouped_convs
    from keras_resvariants.layers import GroupedConv2D

    build = registry_model("resnext_29", 8, cardinality=2, base_width=4)
    keras.utils.set_random_seed(0)
    after = build()
    keras.utils.set_random_seed(0)
    before = with_keras_grouped_convs(build)()
    impls = {layer.implementation for layer in before.layers
             if isinstance(layer, GroupedConv2D)}
    assert impls == {"native"}
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(
        "float32")
    np.testing.assert_allclose(np.asarray(before(x)), np.asarray(after(x)),
                               rtol=1e-4, atol=1e-5)


def test_unmasked_candidate_is_the_dropout_net_without_its_masks():
    """`without_dropout_masks`: in training the SeqResNet's SeqConv2D
    layers with dropout compute what the same weights compute without
    dropout (the fast path, the known equal of the loop), while the
    unpatched layers' masks change the outputs; inference is
    untouched."""
    from keras_resvariants.bench.groups import registry_model
    from keras_resvariants.bench.groups import without_dropout_masks
    from keras_resvariants.layers import SeqConv2D

    build = registry_model("seq_resnet", 8, k=8, r=1, dropout=0.3)
    masked = build()
    unmasked = without_dropout_masks(build)()
    plain = registry_model("seq_resnet", 8, k=8, r=1, dropout=0.0)()
    assert any(isinstance(layer, SeqConv2D) and layer.dropout > 0
               for layer in unmasked._flatten_layers())
    for model in (unmasked, plain):
        model.set_weights(masked.get_weights())
    for model in (masked, unmasked):
        # The tail's one keras SpatialDropout2D is not SeqConv2D's: off.
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.SpatialDropout2D):
                layer.rate = 0.0
    x = np.random.default_rng(0).standard_normal((4, 8, 8, 3)).astype(
        "float32")

    def run(model, training):
        return keras.ops.convert_to_numpy(model(x, training=training))

    # Inference first: a training call moves the BN statistics.
    np.testing.assert_allclose(run(unmasked, False), run(masked, False),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run(unmasked, True), run(plain, True),
                               rtol=1e-4, atol=1e-4)
    assert not np.allclose(run(masked, True), run(plain, True), atol=1e-3)


def test_rg_floor_candidate_keeps_only_the_shortcuts_elementwise_part():
    """`with_rg_floor`: every RGShortcut of the b-RGSNet computes
    `ReLU(x) * gamma + beta` with its own weights (NumPy), in training and
    inference, with that function's gradients, while the unpatched
    network's shortcuts normalise; the rest of the network is the
    same."""
    from keras_resvariants.bench.groups import get_group
    from keras_resvariants.bench.groups import registry_model
    from keras_resvariants.bench.groups import with_rg_floor
    from keras_resvariants.layers import RGShortcut
    from tests.testing import input_gradients
    from tests.testing import trainable_gradients

    build = registry_model("rgsnet", 8, variant="b", depth=26, width=0.25)
    model = build()
    floor = with_rg_floor(build)()
    floor.set_weights(model.get_weights())
    shortcuts = [layer for layer in floor._flatten_layers()
                 if isinstance(layer, RGShortcut)]
    assert shortcuts
    rng = np.random.default_rng(0)
    for layer in shortcuts:
        layer.norm.gamma.assign(
            rng.uniform(0.5, 2.0, layer.norm.gamma.shape))
        layer.norm.beta.assign(rng.standard_normal(layer.norm.beta.shape))
        x = rng.standard_normal((2, 4, 4, layer.norm.gamma.shape[0]))
        x = x.astype("float32")
        gamma = keras.ops.convert_to_numpy(layer.norm.gamma)
        beta = keras.ops.convert_to_numpy(layer.norm.beta)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(layer(x)),
            np.maximum(x, 0) * gamma + beta, rtol=1e-5, atol=1e-5)
    # Same weights again (the floor's shortcut weights were redrawn): the
    # two networks differ only in the shortcuts' moments.
    model.set_weights(floor.get_weights())
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    for training in (False, True):
        assert not np.allclose(
            keras.ops.convert_to_numpy(floor(x, training=training)),
            keras.ops.convert_to_numpy(model(x, training=training)),
            atol=1e-3)
    # Its gradients are those of ReLU(x) * gamma + beta (NumPy), with a
    # random projection of the output as the loss.
    def one_shortcut():
        inp = keras.Input((3, 4, 8))
        return keras.Model(inp, RGShortcut(groups=2)(inp))

    single = with_rg_floor(one_shortcut)()
    layer = next(layer for layer in single._flatten_layers()
                 if isinstance(layer, RGShortcut))
    layer.norm.gamma.assign(rng.uniform(0.5, 2.0, 8))
    x = rng.standard_normal((2, 3, 4, 8)).astype("float32")
    d_gamma, d_beta, d_x = (trainable_gradients(single, x)
                            + input_gradients(single, x))
    projection = np.random.default_rng(0).standard_normal(x.shape)
    gamma = keras.ops.convert_to_numpy(layer.norm.gamma)
    np.testing.assert_allclose(
        d_gamma, (projection * np.maximum(x, 0)).sum(axis=(0, 1, 2)),
        rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d_beta, projection.sum(axis=(0, 1, 2)),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d_x, projection * gamma * (x > 0),
                               rtol=1e-4, atol=1e-4)
    # The group's table names it as the b variant's floor.
    group = get_group("rg", profile="quick")
    by_name = {c.name: c for c in group.variants}
    assert by_name["rgs_b_floor"].floor_for == "rgs_b"
    assert by_name["rgs_b"].target is not None


def test_rg_before_candidate_is_the_same_net_with_autodiff_group_norm(
        monkeypatch):
    """`with_autodiff_group_norm`: the b-RGSNet whose shortcuts run the
    accelerator form (no products with ones) computes what the CPU form
    computes with the same weights: outputs and weight gradients."""
    from keras_resvariants.bench.groups import get_group
    from keras_resvariants.bench.groups import registry_model
    from keras_resvariants.bench.groups import with_autodiff_group_norm
    from keras_resvariants.layers import implementation
    from keras_resvariants.layers import rg_shortcut
    from tests.testing import count_calls
    from tests.testing import trainable_gradients

    monkeypatch.setattr(implementation, "on_accelerator", lambda: False)
    # 32x32 images, 4 of them: BatchNorm's batch statistics at the last
    # stage (4x4) are not so few that rounding decides the gradients.
    build = registry_model("rgsnet", 32, variant="b", depth=26, width=0.25)
    model = build()
    before = with_autodiff_group_norm(build)()
    before.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype(
        "float32")
    sums = count_calls(monkeypatch, rg_shortcut, "spatial_sums")
    results = []
    for net, summed in ((before, False), (model, True)):
        sums.clear()
        results.append([keras.ops.convert_to_numpy(net(x, training=False))]
                       + trainable_gradients(net, x))
        assert bool(sums) == summed
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    names = [c.name for c in get_group("rg", profile="quick").variants]
    assert names[-1] == "rgs_b_autodiff"
    monkeypatch.setattr(implementation, "on_accelerator", lambda: True)
    names = [c.name for c in get_group("rg", profile="quick").variants]
    assert "rgs_b_autodiff" not in names


def test_before_candidate_is_the_same_rir_net_on_split_streams():
    import numpy as np

    from keras_resvariants.bench.groups import registry_model
    from keras_resvariants.bench.groups import with_split_rir_transitions
    from keras_resvariants.layers import StreamSplit

    build = registry_model("rir_net_32", 8)
    keras.utils.set_random_seed(0)
    after = build()
    keras.utils.set_random_seed(0)
    before = with_split_rir_transitions(build)()

    def joins(model):
        return sum(isinstance(layer, keras.layers.Concatenate)
                   for layer in model.layers)

    # The stem's concatenation, and in the "before" both transitions'.
    assert (joins(after), joins(before)) == (1, 3)
    assert sum(isinstance(layer, StreamSplit) for layer in after.layers) == 2
    assert joins(build()) == 1  # the switch is restored
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(
        "float32")
    for training in (False, True):
        np.testing.assert_allclose(
            np.asarray(before(x, training=training)),
            np.asarray(after(x, training=training)), rtol=1e-5, atol=1e-5)
