"""ChannelPadShortcut: He et al.'s parameter-free option-A shortcut."""

import keras

from keras_resvariants import _validation as v
from keras_resvariants.layers._utils import legacy_config
from keras_resvariants.layers._utils import standardize_data_format


@keras.saving.register_keras_serializable(package="keras_resvariants")
class ChannelPadShortcut(keras.layers.Layer):
    """Parameter-free "option A" shortcut: subsample, then zero-pad channels.

    The shortcut He et al. use on CIFAR when a block changes shape, and the
    one ResNet in ResNet uses by default: `x[:, ::s, ::s, :]` followed by
    zero channels appended up to `filters` (`x[:, :, ::s, ::s]` and zero
    channels on axis 1 with `data_format="channels_first"`). With
    `strides=1` and as many channels as `filters` it is the identity.

    Reference:
        - He et al., "Deep Residual Learning for Image Recognition", 2015.

    Args:
        filters: int. Output channels; must be >= the input's channels.
        strides: int. Spatial subsampling factor. Defaults to `1`.
        data_format: `None`, `"channels_last"` or `"channels_first"`.
            `None` means `keras.config.image_data_format()`. Defaults to
            `None`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: 4D tensor `(batch, height, width, channels)`, or
            `(batch, channels, height, width)` with
            `data_format="channels_first"`.

    Returns:
        Tensor `(batch, ceil(height / strides), ceil(width / strides),
        filters)` (channels first: `(batch, filters, ...)`), matching a
        `"same"`-padded strided convolution.

    Example:

    >>> layer = keras_resvariants.layers.ChannelPadShortcut(8, strides=2)
    >>> tuple(layer(np.ones((2, 4, 4, 4), "float32")).shape)
    (2, 2, 2, 8)
    """

    def __init__(self, filters, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = v.check_positive_int("filters", filters)
        self.strides = v.check_positive_int("strides", strides)
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "`ChannelPadShortcut` expects a 4D input. Received: "
                f"input_shape={input_shape}"
            )
        channels = input_shape[self._channel_axis]
        if channels is not None and channels > self.filters:
            raise ValueError(
                "`filters` must be >= the input channels, since option-A "
                f"shortcuts only pad. Received: filters={self.filters} for "
                f"{channels} input channels."
            )

    @property
    def _channel_axis(self):
        return 3 if self.data_format == "channels_last" else 1

    def call(self, inputs):
        x = inputs
        s = self.strides
        channels_last = self.data_format == "channels_last"
        if s > 1:
            x = x[:, ::s, ::s, :] if channels_last else x[:, :, ::s, ::s]
        extra = self.filters - x.shape[self._channel_axis]
        if extra:
            pads = [[0, 0], [0, 0], [0, 0], [0, 0]]
            pads[self._channel_axis] = [0, extra]
            x = keras.ops.pad(x, pads)
        return x

    def compute_output_shape(self, input_shape):
        def down(size):
            return None if size is None else -(-size // self.strides)

        if self.data_format == "channels_first":
            return (
                input_shape[0],
                self.filters,
                down(input_shape[2]),
                down(input_shape[3]),
            )
        return (
            input_shape[0],
            down(input_shape[1]),
            down(input_shape[2]),
            self.filters,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "data_format": self.data_format,
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(legacy_config(config))
