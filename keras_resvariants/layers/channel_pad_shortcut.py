import keras

from keras_resvariants import _validation as v


@keras.saving.register_keras_serializable(package="keras_resvariants")
class ChannelPadShortcut(keras.layers.Layer):
    """Parameter-free "option A" shortcut: subsample, then zero-pad channels.

    The shortcut He et al. use on CIFAR when a block changes shape, and the
    one ResNet in ResNet uses by default: `x[:, ::s, ::s, :]` followed by
    zero channels appended up to `filters`. With `strides=1` and as many
    channels as `filters` it is the identity.

    Reference:
        - He et al., "Deep Residual Learning for Image Recognition", 2015.

    Args:
        filters: int. Output channels; must be >= the input's channels.
        strides: int. Spatial subsampling factor. Defaults to `1`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: 4D tensor `(batch, height, width, channels)`.

    Returns:
        Tensor `(batch, ceil(height / strides), ceil(width / strides),
        filters)`, matching a `"same"`-padded strided convolution.

    Example:

    >>> layer = keras_resvariants.layers.ChannelPadShortcut(8, strides=2)
    >>> tuple(layer(np.ones((2, 4, 4, 4), "float32")).shape)
    (2, 2, 2, 8)
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = v.check_positive_int("filters", filters)
        self.strides = v.check_positive_int("strides", strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        if len(input_shape) != 4:
            raise ValueError(
                "`ChannelPadShortcut` expects a 4D input. Received: "
                f"input_shape={input_shape}"
            )
        if channels is not None and channels > self.filters:
            raise ValueError(
                "`filters` must be >= the input channels, since option-A "
                f"shortcuts only pad. Received: filters={self.filters} for "
                f"{channels} input channels."
            )

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            x = x[:, :: self.strides, :: self.strides, :]
        extra = self.filters - x.shape[-1]
        if extra:
            x = keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])
        return x

    def compute_output_shape(self, input_shape):
        def down(size):
            return None if size is None else -(-size // self.strides)

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
        }
