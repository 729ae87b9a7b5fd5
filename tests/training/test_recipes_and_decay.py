"""Recipes, learning-rate schedules and the papers' L2 weight decay."""

import json
import math
import os

import keras
import numpy as np
import pytest

from keras_resvariants import recipes
from keras_resvariants.training import apply_weight_decay
from keras_resvariants.training import make_optimizer
from keras_resvariants.training import make_schedule
from keras_resvariants.training import weight_decay_penalty
from tests.reference.training_ref import multistep_lr_ref
from tests.reference.training_ref import torch_sgd_step_ref
from tests.training.tiny_net import tiny_all_layers_net

# The papers' numbers (RoR §4.1, RGSNet §4.2, Res-SE-Net §5.2 and Table 3,
# SeqConv §4.2; RiR prints none, so He et al.'s CIFAR schedule, see
# docs/design.md#rir): (lr, batch, wd, momentum, nesterov, milestones as
# fractions of training).
PAPER = {
    "ror": (0.01, 128, None, 0.9, False, (0.5, 0.75)),
    "rgs_cifar": (0.1, 128, 5e-4, 0.9, False, (82 / 164, 124 / 164)),
    "res_se_net": (0.1, 128, 1e-4, 0.9, False, (32e3 / 64e3, 48e3 / 64e3)),
    "seqconv": (0.1, 64, 1e-4, 0.9, True, (150 / 300, 225 / 300)),
    "rir": (0.1, 128, 1e-4, 0.9, False, (32e3 / 64e3, 48e3 / 64e3)),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_recipes_carry_the_papers_numbers(name):
    lr, batch, wd, momentum, nesterov, fractions = PAPER[name]
    r = recipes.get_recipe(name)
    assert r.learning_rate == lr and r.batch_size == batch
    assert r.momentum == momentum and r.nesterov is nesterov
    if wd is not None:  # RoR's paper gives none
        assert r.weight_decay == wd
    np.testing.assert_allclose(r.milestone_fractions(), fractions)
    assert r.lr_decay == 0.1 and r.schedule == "step"


def test_seqconv_recipe_trains_with_dropout_and_rir_says_its_source():
    assert dict(recipes.get_recipe("seqconv").model_kwargs) == {
        "dropout": 0.1}
    assert "He et al" in recipes.get_recipe("rir").source


def test_model_arguments_take_what_the_network_accepts_then_the_run():
    # The SeqConv recipe's dropout reaches a SeqResNet, not a ResNet-20.
    seqconv = recipes.get_recipe("seqconv")
    assert dict(seqconv.model_kwargs)["dropout"] == 0.1
    assert recipes.model_arguments(seqconv.model_kwargs, None,
                                   accepted={"k", "r", "dropout"}) == {
        "dropout": 0.1}
    assert recipes.model_arguments(seqconv.model_kwargs, {"k": 16},
                                   accepted={"depth"}) == {"k": 16}
    assert recipes.model_arguments(seqconv.model_kwargs, {"dropout": 0.0},
                                   accepted={"dropout"}) == {"dropout": 0.0}


def test_family_recipes():
    assert recipes.recipe_for_model("res_se_net_20").name == "res_se_net"
    assert recipes.recipe_for_model("ror_resnet_56").name == "ror"
    assert recipes.recipe_for_model("rir_net_32").name == "rir"
    assert recipes.recipe_for_model("seq_resnet").name == "seqconv"
    assert recipes.recipe_for_model("rgsnet").name == "rgs_cifar"
    # The baselines have their own paper's recipe (He et al.), the schedule
    # RiR borrows: the same numbers under RiR's name.
    he = recipes.recipe_for_model("resnet_20")
    assert he.name == "resnet" and "He et al" in he.source
    rir = recipes.get_recipe("rir")
    fields = ("learning_rate", "batch_size", "weight_decay", "iterations",
              "milestones", "milestone_unit", "momentum", "nesterov")
    assert [getattr(he, f) for f in fields] == [getattr(rir, f)
                                                for f in fields]
    assert (he.learning_rate, he.iterations, he.milestones) == (
        0.1, 64000, (32000, 48000))


def test_unknown_model_or_family_has_no_recipe():
    # Never another paper's recipe: an unknown name is an error.
    with pytest.raises(ValueError, match="Unknown model name.*not_a_net"):
        recipes.recipe_for_model("not_a_net")
    with pytest.raises(ValueError, match="`family` must be one of"):
        recipes.family_recipe("densenet")


def test_iteration_recipe_on_cifar_matches_the_paper_iterations():
    r = recipes.get_recipe("res_se_net")
    steps = 50000 // 128  # CIFAR-10 at batch 128, last partial batch dropped
    epochs = r.default_epochs(steps)
    assert abs(epochs * steps - 64000) <= steps / 2
    total = epochs * steps
    b1, b2 = r.boundaries(total)
    # The 32k/48k milestones land within one epoch of the paper's step.
    assert abs(b1 - 32000) < steps and abs(b2 - 48000) < steps
    assert (b1, b2) == (round(total * 32000 / 64000),
                        round(total * 48000 / 64000))


def test_iteration_recipe_scales_with_epochs_and_dataset_size():
    r = recipes.get_recipe("res_se_net")
    steps = 2048 // 128  # a Fashion-MNIST subset
    total = 10 * steps
    assert r.boundaries(total) == (total // 2, round(total * 0.75))


def test_epoch_schedule_equals_pytorch_multistep_per_epoch():
    r = recipes.get_recipe("rgs_cifar")
    steps = 7
    schedule = make_schedule(r, r.epochs * steps)
    for epoch in (0, 81, 82, 83, 123, 124, 163):
        expected = multistep_lr_ref(0.1, (82, 124), epoch)
        for step in (epoch * steps, epoch * steps + steps - 1):
            got = float(keras.ops.convert_to_numpy(schedule(step)))
            np.testing.assert_allclose(got, expected, rtol=1e-6)
            np.testing.assert_allclose(
                r.learning_rate_at(step, r.epochs * steps), expected,
                rtol=1e-12)


def test_epoch_schedule_scales_with_fewer_epochs():
    r = recipes.get_recipe("seqconv")
    steps, epochs = 5, 8
    schedule = make_schedule(r, epochs * steps)
    got = [float(keras.ops.convert_to_numpy(schedule(s)))
           for s in range(epochs * steps)]
    # 150/300 and 225/300 of 8 epochs = epochs 4 and 6.
    expected = [multistep_lr_ref(0.1, (4, 6), s // steps)
                for s in range(epochs * steps)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_quick_recipe_is_one_cosine_cycle():
    r = recipes.get_recipe("quick")
    schedule = make_schedule(r, 100)
    for step in (0, 25, 50, 99):
        expected = 0.1 * 0.5 * (1 + math.cos(math.pi * step / 100))
        np.testing.assert_allclose(
            float(keras.ops.convert_to_numpy(schedule(step))), expected,
            rtol=1e-5, atol=1e-7)


def test_optimizer_uses_the_schedule_at_its_iteration():
    r = recipes.get_recipe("ror")
    opt = make_optimizer(r, total_steps=8)
    w = keras.Variable(np.ones(3, "float32"))
    opt.build([w])
    rates = []
    for _ in range(8):
        rates.append(float(keras.ops.convert_to_numpy(opt.learning_rate)))
        opt.apply([keras.ops.zeros(3)], [w])
    assert rates == pytest.approx(
        [r.learning_rate_at(s, 8) for s in range(8)])
    assert rates[3] == pytest.approx(0.01) and rates[4] == pytest.approx(
        0.001) and rates[6] == pytest.approx(1e-4)


@pytest.mark.parametrize("changes,argument", [
    ({"milestones": (0.5, 1.5)}, "milestones"),
    ({"milestones": (0.7, 0.5)}, "milestones"),
    ({"iterations": 100}, "epochs"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"schedule": "poly"}, "schedule"),
    ({"momentum": 1.0}, "momentum"),
])
def test_invalid_recipe_fields_raise_naming_them(changes, argument):
    with pytest.raises(ValueError, match=argument):
        recipes.get_recipe("ror").with_overrides(**changes)


def test_unknown_recipe_name():
    with pytest.raises(ValueError, match="recipe.*quick"):
        recipes.get_recipe("fast")


def _kernel_paths(model):
    """Conv/dense kernels by *name* (independent of the rank rule)."""
    return {w.path for w in model.trainable_weights
            if w.path.split("/")[-1].endswith("kernel")}


def test_default_decay_covers_every_trainable_variable():
    model = tiny_all_layers_net((12, 12, 1), 10)
    decayed = apply_weight_decay(model, 1e-3)
    # As PyTorch's SGD(model.parameters(), weight_decay=λ): kernels, BN/GN
    # scales and offsets, biases, the custom layers' variables.
    assert [w.path for w in decayed] == [
        w.path for w in model.trainable_weights]
    assert all(w.regularizer is not None for w in model.trainable_weights)
    paths = {w.path for w in decayed}
    assert any("gamma" in p for p in paths) and any("bias" in p
                                                    for p in paths)
    for layer in ("seq", "rir", "bridge_se", "rg"):
        assert any(p.startswith(layer + "/") for p in paths), layer
    # Non-trainable state (moving statistics, RoR's refine mask): never.
    assert model.non_trainable_weights and all(
        w.regularizer is None for w in model.non_trainable_weights)
    assert not any("refine_mask" in p for p in paths)


def test_kernels_scope_covers_every_kernel_and_nothing_else():
    model = tiny_all_layers_net((12, 12, 1), 10)
    apply_weight_decay(model, 1e-3)  # then narrowed: idempotent per scope
    decayed = apply_weight_decay(model, 1e-3, scope="kernels")
    assert {w.path for w in decayed} == _kernel_paths(model)
    # BN/GN scales and offsets, biases: not decayed.
    others = [w for w in model.trainable_weights
              if w.path not in _kernel_paths(model)]
    assert others and all(w.regularizer is None for w in others)
    assert any("gamma" in w.path for w in others)
    assert any("bias" in w.path for w in others)


@pytest.mark.parametrize("scope", ["all", "kernels"])
def test_penalty_is_half_lambda_squared_norm(scope):
    lam = 3e-3
    model = tiny_all_layers_net((12, 12, 1), 10)
    apply_weight_decay(model, lam, scope=scope)
    values = [keras.ops.convert_to_numpy(w).astype(np.float64)
              for w in model.trainable_weights
              if scope == "all" or w.path in _kernel_paths(model)]
    expected = lam / 2 * sum(float((k**2).sum()) for k in values)
    np.testing.assert_allclose(weight_decay_penalty(model), expected,
                               rtol=1e-5)
    losses = sum(float(keras.ops.convert_to_numpy(x)) for x in model.losses)
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    apply_weight_decay(model, 0.0, scope=scope)
    assert weight_decay_penalty(model) == 0.0 and not model.losses


def test_sgd_step_equals_pytorch_coupled_weight_decay():
    lam, lr = 0.05, 0.1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype("float32")
    y = rng.standard_normal((8, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(1, use_bias=False)])
    w0 = rng.standard_normal((3, 1)).astype("float32")
    model.layers[0].kernel.assign(w0)
    apply_weight_decay(model, lam)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    model.train_on_batch(x, y)
    w0 = w0.astype(np.float64)
    grad = 2.0 / len(x) * x.T.astype(np.float64) @ (x @ w0 - y)
    expected = torch_sgd_step_ref(w0, grad, lr, lam)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[0].kernel), expected,
        rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("scope", ["all", "kernels"])
def test_decay_survives_save_and_load(tmp_path, scope):
    lam = 1e-2
    model = tiny_all_layers_net((12, 12, 1), 10)
    apply_weight_decay(model, lam, scope=scope)
    before = weight_decay_penalty(model)
    path = os.path.join(str(tmp_path), "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    stock = [layer for layer in loaded.layers
             if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    # Stock conv/dense kernels keep the decay through their config.
    assert stock and all(
        layer.kernel.regularizer is not None
        and float(layer.kernel_regularizer.l2) == pytest.approx(lam / 2)
        for layer in stock)
    # So do the dense bias and the BN scales and offsets, for scope "all".
    dense = loaded.get_layer("predictions")
    norms = [layer for layer in loaded.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    others = [dense.bias] + [w for layer in norms
                             for w in (layer.gamma, layer.beta)]
    assert norms and all(
        (w.regularizer is not None) == (scope == "all") for w in others)
    # Re-applying (what train() does on resume) restores the full penalty.
    apply_weight_decay(loaded, lam, scope=scope)
    np.testing.assert_allclose(weight_decay_penalty(loaded), before,
                               rtol=1e-6)


def test_invalid_weight_decay():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="weight_decay"):
        apply_weight_decay(model, -1e-4)
    with pytest.raises(ValueError, match="`scope` must be one of 'all', "
                                         "'kernels'. Received: scope="):
        apply_weight_decay(model, 1e-4, scope="norms")


def test_recipes_decay_every_parameter_by_default():
    for name in recipes.list_recipes():
        r = recipes.get_recipe(name)
        assert r.weight_decay_scope == "all"
        assert r.to_dict()["weight_decay_scope"] == "all"
    r = recipes.get_recipe("rgs_cifar").with_overrides(
        weight_decay_scope="kernels")
    assert r.to_dict()["weight_decay_scope"] == "kernels"
    with pytest.raises(ValueError, match="`weight_decay_scope` must be one "
                                         "of 'all', 'kernels'. Received: "
                                         "weight_decay_scope='bn'"):
        r.with_overrides(weight_decay_scope="bn")


def test_recipe_from_dict_round_trip_and_old_dicts():
    for name in recipes.list_recipes():
        r = recipes.get_recipe(name)
        config = json.loads(json.dumps(r.to_dict()))  # as in run_config.json
        assert recipes.Recipe.from_dict(config) == r
    # A recipe dict written before `weight_decay_scope` existed.
    old = recipes.get_recipe("seqconv").to_dict()
    del old["weight_decay_scope"]
    loaded = recipes.Recipe.from_dict(old)
    assert loaded.weight_decay_scope == "all"
    assert loaded == recipes.get_recipe("seqconv")
    with pytest.raises(ValueError, match="config"):
        recipes.Recipe.from_dict(dict(old, lr=0.1))
