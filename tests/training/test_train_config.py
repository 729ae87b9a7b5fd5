"""One training configuration: `TrainConfig` is what `train()` takes as
keywords and what `resvariants train` builds from its command line."""

import dataclasses
import importlib
import inspect

import pytest

from keras_resvariants import cli
from keras_resvariants.training import TrainConfig
from keras_resvariants.training import cli as train_cli
from keras_resvariants.training import train

# The module (the package's `train` attribute is the function).
train_module = importlib.import_module("keras_resvariants.training.train")
FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


def _parse(argv):
    return cli.build_parser().parse_args(["train", *argv])


def test_signature_of_train_is_the_config_fields():
    parameters = inspect.signature(train).parameters
    assert list(parameters) == FIELDS
    for field in dataclasses.fields(TrainConfig):
        assert parameters[field.name].default == field.default, field.name
    # model, dataset and recipe stay positional, as before.
    kinds = [p.kind for p in parameters.values()]
    assert kinds[:3] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 3
    assert set(kinds[3:]) == {inspect.Parameter.KEYWORD_ONLY}


@pytest.fixture
def captured(monkeypatch):
    """Replaces the run by a recorder of the config it is given."""
    seen = []
    monkeypatch.setattr(train_module, "_train", seen.append)
    return seen


def test_train_builds_the_config_from_keywords_or_takes_one(captured):
    train("rir_net_32", "cifar10", "quick", epochs=3, seed=7)
    expected = TrainConfig(model="rir_net_32", dataset="cifar10",
                           recipe="quick", epochs=3, seed=7)
    assert captured[-1] == expected
    train(expected, seed=8)
    assert captured[-1] == dataclasses.replace(expected, seed=8)
    assert expected.seed == 7  # frozen: replace returned a copy
    with pytest.raises(TypeError, match="epoch"):
        train("resnet_20", epoch=3)


def test_every_field_but_callbacks_has_a_command_line_option():
    args = _parse([])
    missing = [name for name in FIELDS if not hasattr(args, name)]
    assert missing == ["callbacks"]


def test_the_command_line_and_the_api_give_the_same_config():
    args = _parse([
        "--model", "res_se_net_20", "--dataset", "fashion_mnist",
        "--recipe", "quick", "--epochs", "3", "--batch-size", "64",
        "--lr", "0.05", "--weight-decay", "0.0005",
        "--weight-decay-scope", "kernels", "--train-subset", "512",
        "--validation-split", "0.1", "--validation-seed", "3",
        "--steps-per-epoch", "5", "--output", "runs/x", "--seed", "4",
        "--model-arg", "reduction=8", "--jit-compile", "off",
        "--verbose", "2", "--restart", "--no-tensorboard", "--no-plot",
    ])
    config = train_cli.config_from_args(args)
    assert config.command.startswith("resvariants ")
    assert dataclasses.replace(config, command=None) == TrainConfig(
        model="res_se_net_20", dataset="fashion_mnist", recipe="quick",
        epochs=3, batch_size=64, learning_rate=0.05, weight_decay=0.0005,
        weight_decay_scope="kernels", train_subset=512,
        validation_split=0.1, validation_seed=3, steps_per_epoch=5,
        output_dir="runs/x", seed=4, model_kwargs={"reduction": 8},
        jit_compile=False, verbose=2, restart=True, tensorboard=False,
        plot=False)


def test_command_line_defaults_are_the_config_defaults():
    config = train_cli.config_from_args(_parse([]))
    defaults = TrainConfig()
    differ = {name for name in FIELDS
              if getattr(config, name) != getattr(defaults, name)}
    # The CLI always writes a run folder and records its command line.
    assert differ == {"output_dir", "command", "model_kwargs"}
    assert config.output_dir == "runs/resnet_20-fashion_mnist-auto"
    assert config.model_kwargs == {}
