"""Builds each paper layer into a small network and trains it for a step.

Also builds one network of each family through the registry and prints its
trainable parameters next to the paper's. Runs offline on synthetic data in
about a minute on 2 CPU cores:

    python examples/quickstart.py
"""

import time

import keras
import numpy as np

import keras_resvariants as kr
from keras_resvariants import layers as L


def tiny_nets():
    """One small functional model per paper layer (32x32x3, 10 classes)."""
    x = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(16, 3, padding="same", name="stem")(x)
    yield "RoRAdd", x, L.RoRAdd(seed=1)(
        [h, keras.layers.Conv2D(16, 3, padding="same")(h)])
    yield "RGShortcut", x, keras.layers.Add()(
        [L.RGShortcut(groups=4)(h), keras.layers.Conv2D(16, 3,
                                                        padding="same")(h)])
    proj = keras.layers.BatchNormalization()(
        keras.layers.Conv2D(32, 1, strides=2)(h))
    yield "BridgeSE", x, L.BridgeSE(reduction=4)(proj)
    r, m = L.RiRConv(8, 8)([keras.layers.Conv2D(8, 3, padding="same")(x),
                            keras.layers.Conv2D(8, 3, padding="same")(x)])
    yield "RiRConv", x, keras.layers.Concatenate()([r, m])
    yield "SeqConv2D", x, L.SeqConv2D(32, 8, return_raw=False)(h)


def train_step(name, model, x, y):
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    start = time.perf_counter()
    loss = model.train_on_batch(x, y)
    print(f"{name:>14}: {model.count_params():>10,} params, one training "
          f"step loss {float(loss):.3f} ({time.perf_counter() - start:.1f} s)")


def main():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(16,))
    print(f"keras-resvariants {kr.__version__}, Keras {keras.__version__}, "
          f"backend {keras.backend.backend()}")
    print("\nEach paper layer in a small network:")
    for name, inputs, features in tiny_nets():
        logits = keras.layers.Dense(10)(
            keras.layers.GlobalAveragePooling2D()(features))
        train_step(name, keras.Model(inputs, logits), x, y)

    print(f"\n{len(kr.list_models())} registered networks; one per family:")
    for key in ("resnet_20", "ror_resnet_56", "rgsnet", "res_se_net_20",
                "rir_net_32", "seq_resnet"):
        info = kr.model_info(key)
        model = kr.create_model(key, classes=10, input_shape=(32, 32, 3),
                                classifier_activation=None)
        count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        paper = info["paper_params"] or "-"
        print(f"{info['builder']:>14}: {count:>10,} trainable (paper: "
              f"{paper})")
        if key == "res_se_net_20":
            train_step(info["builder"], model, x, y)


if __name__ == "__main__":
    main()
