"""Every bad builder argument gets a ValueError naming it; the registry."""

import inspect

import keras
import pytest

import keras_resvariants as kr
from keras_resvariants.models._registry import _APP_PARAMS

# One network per family is enough: validation is shared code.
FAMILY_REPS = ["ResNet20", "ResSENet20", "RoRResNet56", "RGSNet",
               "RiRNet32", "SeqResNet"]


@pytest.mark.parametrize("builder", FAMILY_REPS)
@pytest.mark.parametrize(
    "kwargs,argument",
    [
        (dict(pooling="sum", include_top=False), "pooling"),
        (dict(classes=0), "classes"),
        (dict(classes=2.5), "classes"),
        (dict(weights="imagenet"), "weights"),
        (dict(weights="/no/such/file.weights.h5"), "weights"),
        (dict(include_top="yes"), "include_top"),
        (dict(classifier_activation="no_such_act"), "classifier_activation"),
        (dict(input_shape=(32, 32)), "input_shape"),
        (dict(input_shape=(32, 32, 0)), "input_shape"),
        (dict(input_shape=(2, 2, 3), include_top=False), "input_shape"),
    ],
)
def test_bad_arguments_name_the_argument(builder, kwargs, argument):
    with pytest.raises(ValueError) as err:
        getattr(kr, builder)(**kwargs)
    message = str(err.value)
    assert f"`{argument}`" in message
    assert "Received" in message
    if kwargs.get("include_top") is False:
        assert "include_top=True" not in message


def test_input_tensor_shape_mismatch():
    tensor = keras.Input((32, 32, 3))
    with pytest.raises(ValueError, match="input_shape"):
        kr.ResNet20(input_tensor=tensor, input_shape=(16, 16, 3))


def test_unknown_hyperparameter_lists_accepted():
    with pytest.raises(TypeError, match="represent_ratio"):
        kr.RoRResNet56(represent_rate=0.1)


@pytest.mark.parametrize(
    "builder,kwargs,argument",
    [
        ("RoRResNet56", dict(represent_ratio=1.5), "represent_ratio"),
        ("RoRResNet56", dict(drop_rate=-0.1), "drop_rate"),
        ("RoRResNet56", dict(drop_mode="layer"), "drop_mode"),
        ("RGSNet", dict(depth=27), "depth"),
        ("RGSNet", dict(width=0.3), "width"),
        ("RGSNet", dict(variant="z"), "variant"),
        ("SeqResNet", dict(k=7), "k"),
        ("SeqResNet", dict(blocks_per_stage=(1, 2)), "blocks_per_stage"),
        ("RiRNet", dict(mode="highway"), "mode"),
        ("ResNet101", dict(width=0), "width"),
    ],
)
def test_bad_hyperparameters(builder, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        getattr(kr, builder)(**kwargs)


def test_minimum_size_is_accepted_and_documented():
    info = kr.model_info("resnet_50")
    assert info["min_input_size"] == 32
    size = info["min_input_size"]
    model = kr.ResNet50(include_top=False, input_shape=(size, size, 3))
    assert model.output.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match=">= 32"):
        kr.ResNet50(include_top=False, input_shape=(31, 64, 3))


def test_default_input_shapes():
    assert kr.ResNet20().input.shape == (None, 32, 32, 3)
    assert kr.ResNet20(include_top=False).input.shape == (None, None, None, 3)
    assert kr.model_info("seq_resnext_24")["default_input_shape"] == (
        224, 224, 3)


def test_every_builder_has_the_applications_signature():
    names = [p.name for p in _APP_PARAMS]
    for key in kr.list_models():
        builder = getattr(kr, kr.model_info(key)["builder"])
        params = list(inspect.signature(builder).parameters.values())
        assert [p.name for p in params[: len(names)]] == names
        assert [p.default for p in params[: len(names)]] == [
            p.default for p in _APP_PARAMS]
        assert all(p.kind is p.KEYWORD_ONLY for p in params[len(names):])
        doc = builder.__doc__
        assert "Reference:" in doc and "Args:" in doc and "Returns:" in doc
        for p in params[len(names):]:
            assert f"    {p.name}:" in doc


def test_registry_lists_the_issue_networks():
    required = [
        "SeqResNeXt24", "SeqResNetB42", "SeqResNetB22", "SeqResNet",
        "SeqResNetB", "ResNet20", "ResNet32", "ResNet44", "ResNet56",
        "ResNet110", "SEResNet110", "ResSENet20", "ResSENet32", "ResSENet44",
        "ResSENet56", "ResSENet110", "RoRResNet56", "RoRResNet110",
        "RoRResNet164", "ResNeXt29", "RoRResNeXt29", "ResNet101",
        "RoRResNet101", "BRGSNet50", "DRGSNet50", "ResRGSNet50", "RiRNet32",
        "RiRNet18Wide", "SEResNeXt29", "RoRSEResNeXt29", "SDepthResNet56",
    ]
    listed = {kr.model_info(k)["builder"] for k in kr.list_models()}
    assert set(required) <= listed
    assert set(kr.list_models("*ror*")) == {
        k for k in kr.list_models(family="ror") if k.startswith("ror")}


def test_create_model_and_model_info():
    model = kr.create_model("res_se_net_20", input_shape=(32, 32, 3),
                            classes=10)
    assert model.name == "res_se_net_20"
    info = kr.model_info("ResSENet20")
    assert info["key"] == "res_se_net_20" and info["params"] == 273_216
    with pytest.raises(ValueError, match="name"):
        kr.create_model("no_such_model")


def test_look_ups_reject_unknown_names():
    with pytest.raises(ValueError, match=r"`family` must be .*'ror'.*"
                       r"Received: family='roR'"):
        kr.list_models(family="roR")
    with pytest.raises(ValueError, match="Received: pattern=3"):
        kr.list_models(3)
    with pytest.raises(ValueError, match="Received: arch='resnet_21'"):
        kr.list_weights("resnet_21")
    # Every known family is accepted and partitions the registry.
    families = {kr.model_info(k)["family"] for k in kr.list_models()}
    assert sorted(k for f in families for k in kr.list_models(family=f)) \
        == kr.list_models()


def _hyperparameter_cases():
    return [pytest.param(key, name, id=f"{key}-{name}")
            for key in kr.list_models()
            for name in kr.model_info(key)["hyperparameters"]]


@pytest.mark.parametrize("key, name", _hyperparameter_cases())
def test_bad_hyperparameters_name_the_users_argument(key, name):
    # Neither a negative number nor a stray string is a valid value of any
    # builder hyperparameter; the error must name what the user passed.
    for bad in (-1, "bogus"):
        with pytest.raises(ValueError) as error:
            kr.create_model(key, input_shape=(32, 32, 3), classes=10,
                            **{name: bad})
        message = str(error.value)
        assert f"`{name}`" in message and f"{name}={bad!r}" in message, (
            message)
