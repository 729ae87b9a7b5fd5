"""`apply_weight_decay` + Keras SGD against PyTorch's SGD update rule.

The reference re-implements `torch.optim.SGD(params, lr, momentum,
nesterov, weight_decay)` in NumPy (float64) from its documented update:

    g = grad + weight_decay * w
    b = g (first step) or momentum * b + g
    g = g + momentum * b (Nesterov) or b
    w = w - lr * g

The raw loss gradients come from the backend's own autodiff on a copy of
the network that carries no regularizer, evaluated at the reference's own
weights, so nothing of `apply_weight_decay` or of Keras' SGD is reused.
"""

import keras
import numpy as np
import pytest

import keras_resvariants
from keras_resvariants.training import apply_weight_decay
from keras_resvariants.training import weight_decay_penalty
from keras_resvariants.training.regularization import decayed_variables

LR = 0.1
LAMBDA = 5e-2
RTOL = 1e-5
ATOL = 1e-6


def _small_net():
    """Conv2D with bias, BatchNormalization, Dense with bias."""
    image = keras.Input((6, 6, 2), name="image")
    x = keras.layers.Conv2D(3, 3, padding="same", use_bias=True,
                            name="conv")(image)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(4, use_bias=True, name="dense")(x)
    return keras.Model(image, out, name="small")


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 6, 6, 2)).astype("float32")
    y = rng.standard_normal((8, 4)).astype("float32")
    return x, y


def _initial_weights(model):
    """Random non-zero values for every trainable variable (zero biases or
    betas would hide their decay, which is `λ·w`)."""
    rng = np.random.default_rng(1)
    values = []
    for w in model.trainable_weights:
        value = 0.5 * rng.standard_normal(tuple(w.shape))
        if w.path.endswith("gamma"):
            value = 1.0 + value
        values.append(value.astype("float32"))
    return values


def _loss_gradients(model, weights, x, y):
    """Gradient of the batch-mean squared error w.r.t. every trainable
    variable of `model` (no regularizer) at `weights`, BatchNorm in
    training mode (batch statistics), with the backend's autodiff."""
    for w, value in zip(model.trainable_weights, weights):
        w.assign(np.asarray(value, "float32"))

    def loss_of(pred):
        return keras.ops.mean(keras.ops.square(pred - y))

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        return [np.asarray(g, np.float64) for g in grads]
    if backend == "jax":
        import jax

        non_trainable = [w.value for w in model.non_trainable_variables]

        def fn(trainable):
            pred, _ = model.stateless_call(trainable, non_trainable, x,
                                           training=True)
            return loss_of(pred)

        trainable = [w.value for w in model.trainable_variables]
        return [np.asarray(g, np.float64) for g in jax.grad(fn)(trainable)]
    pytest.skip(f"no autodiff helper for the {backend} backend")


def _torch_sgd_reference(steps, momentum, nesterov, decays, x, y):
    """Weights after `steps` steps of PyTorch's SGD rule; `decays[i]` is
    the weight decay of trainable variable `i`."""
    plain = _small_net()
    weights = [w.astype(np.float64) for w in _initial_weights(plain)]
    buffers = [None] * len(weights)
    for _ in range(steps):
        grads = _loss_gradients(plain, weights, x, y)
        for i, (w, g) in enumerate(zip(weights, grads)):
            g = g + decays[i] * w
            if momentum:
                buffers[i] = g if buffers[i] is None else (
                    momentum * buffers[i] + g)
                g = g + momentum * buffers[i] if nesterov else buffers[i]
            weights[i] = w - LR * g
    return weights


def _keras_sgd(steps, momentum, nesterov, scope):
    model = _small_net()
    for w, value in zip(model.trainable_weights, _initial_weights(model)):
        w.assign(value)
    apply_weight_decay(model, LAMBDA, scope=scope)
    model.compile(
        optimizer=keras.optimizers.SGD(LR, momentum=momentum,
                                       nesterov=nesterov),
        loss="mse",
    )
    x, y = _data()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model, [keras.ops.convert_to_numpy(w)
                   for w in model.trainable_weights]


def _assert_discriminates(a, b):
    """The two references differ by far more than the tolerance, so the
    comparison below does tell decayed from undecayed."""
    gap = np.linalg.norm(a - b)
    assert gap > 100 * (ATOL * np.sqrt(a.size) + RTOL * np.linalg.norm(b))


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("momentum,nesterov", [
    (0.0, False), (0.9, False), (0.9, True)])
def test_keras_sgd_with_decay_equals_pytorch_sgd_weight_decay(
        steps, momentum, nesterov):
    x, y = _data()
    model, got = _keras_sgd(steps, momentum, nesterov, scope="all")
    count = len(model.trainable_weights)
    assert count == 6  # conv kernel, bias; bn gamma, beta; dense kernel, bias
    expected = _torch_sgd_reference(steps, momentum, nesterov,
                                    [LAMBDA] * count, x, y)
    undecayed = _torch_sgd_reference(steps, momentum, nesterov,
                                     [0.0] * count, x, y)
    for w, value, ref, plain in zip(model.trainable_weights, got, expected,
                                    undecayed):
        _assert_discriminates(ref, plain)
        np.testing.assert_allclose(value, ref, rtol=RTOL, atol=ATOL,
                                   err_msg=w.path)


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("nesterov", [False, True])
def test_kernels_scope_leaves_norms_and_biases_undecayed(steps, nesterov):
    x, y = _data()
    model, got = _keras_sgd(steps, 0.9, nesterov, scope="kernels")
    is_kernel = [len(w.shape) >= 2 for w in model.trainable_weights]
    assert sum(is_kernel) == 2 and len(is_kernel) == 6
    decays = [LAMBDA if k else 0.0 for k in is_kernel]
    expected = _torch_sgd_reference(steps, 0.9, nesterov, decays, x, y)
    for w, value, ref in zip(model.trainable_weights, got, expected):
        np.testing.assert_allclose(value, ref, rtol=RTOL, atol=ATOL,
                                   err_msg=w.path)
    if steps == 1:
        # One step from the same weights: every kernel moved exactly as
        # with decay, every bias, gamma and beta exactly as without.
        decayed = _torch_sgd_reference(1, 0.9, nesterov, [LAMBDA] * 6, x, y)
        plain = _torch_sgd_reference(1, 0.9, nesterov, [0.0] * 6, x, y)
        for w, value, kernel, on, off in zip(model.trainable_weights, got,
                                             is_kernel, decayed, plain):
            _assert_discriminates(on, off)
            np.testing.assert_allclose(value, on if kernel else off,
                                       rtol=RTOL, atol=ATOL, err_msg=w.path)


def test_penalty_of_each_scope_is_half_lambda_squared_norm():
    model = _small_net()
    for w, value in zip(model.trainable_weights, _initial_weights(model)):
        w.assign(value)
    values = {w.path: keras.ops.convert_to_numpy(w).astype(np.float64)
              for w in model.trainable_weights}
    every = LAMBDA / 2 * sum(float((a**2).sum()) for a in values.values())
    kernels = LAMBDA / 2 * sum(float((a**2).sum())
                               for a in values.values() if a.ndim >= 2)
    apply_weight_decay(model, LAMBDA)
    np.testing.assert_allclose(weight_decay_penalty(model), every, rtol=1e-5)
    apply_weight_decay(model, LAMBDA, scope="kernels")
    np.testing.assert_allclose(weight_decay_penalty(model), kernels,
                               rtol=1e-5)
    apply_weight_decay(model, LAMBDA, scope="all")
    np.testing.assert_allclose(weight_decay_penalty(model), every, rtol=1e-5)
    assert len(model.losses) == len(model.trainable_weights)


def test_all_scope_sets_the_stock_layers_regularizer_arguments():
    model = _small_net()
    apply_weight_decay(model, LAMBDA)
    conv, bn, dense = (model.get_layer(n) for n in ("conv", "bn", "dense"))
    for layer, argument in ((conv, "kernel_regularizer"),
                            (conv, "bias_regularizer"),
                            (bn, "gamma_regularizer"),
                            (bn, "beta_regularizer"),
                            (dense, "kernel_regularizer"),
                            (dense, "bias_regularizer")):
        reg = getattr(layer, argument)
        assert reg is not None, (layer.name, argument)
        assert float(reg.get_config()["l2"]) == pytest.approx(LAMBDA / 2)
    # Switching to kernels-only removes the other terms again.
    apply_weight_decay(model, LAMBDA, scope="kernels")
    assert conv.kernel_regularizer is not None
    assert dense.kernel_regularizer is not None
    assert conv.bias_regularizer is None and dense.bias_regularizer is None
    assert bn.gamma_regularizer is None and bn.beta_regularizer is None
    assert bn.gamma.regularizer is None and dense.bias.regularizer is None


def test_invalid_scope_names_it_and_the_accepted_values():
    model = _small_net()
    with pytest.raises(ValueError, match=r"`scope` must be one of 'all', "
                                         r"'kernels'\. Received: "
                                         r"scope='biases'"):
        apply_weight_decay(model, LAMBDA, scope="biases")
    with pytest.raises(ValueError, match="scope"):
        decayed_variables(model, scope=None)


# One network of each family, small where the builder allows it.
FAMILY_NETS = [
    ("resnet_20", {}),
    ("res_se_net_20", {}),
    ("rir_net_32", {}),
    ("seq_resnet", {}),
    ("rgsnet", {"width": 0.25}),
    ("ror_resnet_56", {"width": 8}),
]


@pytest.mark.parametrize("name,kwargs", FAMILY_NETS,
                         ids=[n for n, _ in FAMILY_NETS])
def test_decayed_variables_of_each_family(name, kwargs):
    model = keras_resvariants.create_model(
        name, input_shape=(32, 32, 3), classes=10, **kwargs)
    trainable = model.trainable_weights
    rank2 = [w for w in trainable if len(w.shape) >= 2]
    assert 0 < len(rank2) < len(trainable)

    decayed = apply_weight_decay(model, 1e-4)  # the default scope, "all"
    assert len(decayed) == len(trainable)
    assert {id(w) for w in decayed} == {id(w) for w in trainable}
    assert all(w.regularizer is not None for w in trainable)
    suffixes = {w.path.split("/")[-1] for w in decayed}
    assert {"gamma", "beta"} <= suffixes
    assert all(w.regularizer is None for w in model.non_trainable_weights)
    assert len(model.losses) == len(trainable)

    decayed = apply_weight_decay(model, 1e-4, scope="kernels")
    assert len(decayed) == len(rank2)
    assert {id(w) for w in decayed} == {id(w) for w in rank2}
    assert sum(w.regularizer is not None for w in trainable) == len(rank2)
    assert len(decayed_variables(model, "kernels")) == len(rank2)
    assert len(decayed_variables(model)) == len(trainable)
    assert all(w.regularizer is None for w in model.non_trainable_weights)
    if name.startswith("ror"):
        assert any("refine_mask" in w.path
                   for w in model.non_trainable_weights)
