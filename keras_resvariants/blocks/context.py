"""Build-time settings shared by every part of one network."""

import dataclasses

import keras

from keras_resvariants.layers._utils import channel_axis
from keras_resvariants.layers._utils import standardize_data_format
from keras_resvariants.layers.grouped_conv2d import GroupedConv2D


@dataclasses.dataclass
class BuildContext:
    """What every part needs to create its layers.

    Attributes:
        seed: int. Architecture seed: the RoR channel split of the `i`-th
            block that asks (`next_block_seed`) is seeded with `seed + i`.
            Nothing else reads it: initial weights and training noise
            follow Keras' global seed (`keras.utils.set_random_seed`).
        bn_momentum, bn_epsilon: BatchNorm settings (PyTorch defaults
            mapped to Keras, docs/design.md).
        conv_init, dense_init: initializer configs (fresh objects are
            made per layer so no two layers share one).
        data_format: `"channels_last"` or `"channels_first"`, given to
            every layer the network creates. Defaults to
            `keras.config.image_data_format()` when the context is made,
            so the builders follow the global format as keras.applications
            do.
    """

    seed: int = 0
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    conv_init: dict = dataclasses.field(
        default_factory=lambda: {
            "class_name": "VarianceScaling",
            "config": {"scale": 2.0, "mode": "fan_out",
                       "distribution": "untruncated_normal"},
        }
    )
    dense_init: str | dict = "glorot_uniform"
    block_index: int = 0
    data_format: str = dataclasses.field(
        default_factory=keras.config.image_data_format
    )

    def __post_init__(self):
        self.data_format = standardize_data_format(self.data_format)

    @property
    def channel_axis(self):
        """`-1` (channels_last) or `1` (channels_first)."""
        return channel_axis(self.data_format)

    def channels(self, x):
        """The channel count of the (symbolic) tensor `x`."""
        return x.shape[self.channel_axis]

    def next_block_seed(self):
        seed = self.seed + self.block_index
        self.block_index += 1
        return seed

    def conv(self, x, filters, kernel_size, *, strides=1, groups=1,
             use_bias=False, name):
        # Grouped convolutions use `GroupedConv2D`: the same layer and
        # weights as `Conv2D(groups=...)`, computed as per-group convs on
        # TensorFlow, whose grouped-conv path (XLA on CPU) trains ~100x
        # slower than a dense conv.
        conv_class = keras.layers.Conv2D if groups == 1 else GroupedConv2D
        return conv_class(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            groups=groups,
            use_bias=use_bias,
            kernel_initializer=keras.initializers.get(self.conv_init),
            data_format=self.data_format,
            name=name,
        )(x)

    def bn(self, x, *, name):
        return keras.layers.BatchNormalization(
            axis=self.channel_axis,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            name=name,
        )(x)

    def relu(self, x, *, name):
        return keras.layers.ReLU(name=name)(x)

    def conv_bn_relu(self, x, filters, kernel_size, *, strides=1, groups=1,
                     name):
        x = self.conv(x, filters, kernel_size, strides=strides,
                      groups=groups, name=f"{name}_conv")
        x = self.bn(x, name=f"{name}_bn")
        return self.relu(x, name=f"{name}_relu")
