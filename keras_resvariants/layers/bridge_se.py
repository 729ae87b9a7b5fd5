"""BridgeSE: squeeze-and-excitation on a projection (bridge) shortcut."""

import keras
from keras import ops

from keras_resvariants._validation import check_positive_int
from keras_resvariants.layers._utils import channel_axis
from keras_resvariants.layers._utils import channel_broadcast_shape
from keras_resvariants.layers._utils import legacy_config
from keras_resvariants.layers._utils import spatial_axes
from keras_resvariants.layers._utils import standardize_data_format


@keras.saving.register_keras_serializable(package="keras_resvariants")
class BridgeSE(keras.layers.Layer):
    """Squeeze-and-excitation applied to a projected shortcut (Res-SE-Net).

    Res-SE-Net rescales the *bridge* (projection) shortcut of each
    down-sampling block, `s = BN(conv1x1_stride2(x))`, channel by channel:

        z = GlobalAveragePool(s)                       # (batch, C)
        e = sigmoid(W2 @ relu(W1 @ z + b1) + b2)       # (batch, C)
        out = s * e                                    # broadcast over H, W

    with `W1: C -> C // reduction` and `W2: C // reduction -> C` (dense
    layers with biases). Trainable parameters:
    `2 * C * (C // reduction) + C // reduction + C`. The squeeze (mean) and
    the excitation run in float32, also under mixed precision; the
    rescaling runs in the compute dtype. Training and inference behave the
    same.

    Reference:
        - Varshaneya et al., "Res-SE-Net: Boosting Performance of ResNets
          by Enhancing Bridge-connections", 2019.
        - Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018.

    Args:
        reduction: int. Reduction ratio `r`; the hidden width is
            `C // reduction`, which must be at least 1. Defaults to `16`.
        data_format: `None`, `"channels_last"` or `"channels_first"`:
            which axis holds the channels (squeezed over the others).
            `None` means `keras.config.image_data_format()`. Defaults to
            `None`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: the projected shortcut, a tensor of shape
            `(batch, ..., channels)` (typically `(batch, height, width,
            channels)`), or `(batch, channels, ...)` with
            `data_format="channels_first"`.

    Returns:
        Tensor with the shape and dtype of `inputs`.

    Example:

    >>> layer = keras_resvariants.layers.BridgeSE(reduction=16)
    >>> tuple(layer(np.ones((2, 8, 8, 32), "float32")).shape)
    (2, 8, 8, 32)
    >>> sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    162
    """

    def __init__(self, reduction=16, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.data_format = standardize_data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                "BridgeSE expects inputs of shape (batch, ..., channels) "
                "(channels_last) or (batch, channels, ...) (channels_first) "
                f"with at least one spatial axis. Received: {input_shape}"
            )
        channels = input_shape[channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(
                "BridgeSE needs a known channel dimension (axis "
                f"{channel_axis(self.data_format)}, {self.data_format}). "
                f"Received input shape: {input_shape}"
            )
        hidden = channels // self.reduction
        if hidden < 1:
            raise ValueError(
                "`reduction` must be at most the number of input channels "
                f"({channels}) so that channels // reduction >= 1. "
                f"Received: reduction={self.reduction}"
            )
        # Created directly (not as Dense sub-layers) and kept in float32
        # (`autocast=False`) so the excitation is float32 under mixed
        # precision.
        self.squeeze_kernel = self.add_weight(
            name="squeeze_kernel",
            shape=(channels, hidden),
            initializer="glorot_uniform",
            dtype="float32",
            autocast=False,
        )
        self.squeeze_bias = self.add_weight(
            name="squeeze_bias",
            shape=(hidden,),
            initializer="zeros",
            dtype="float32",
            autocast=False,
        )
        self.excite_kernel = self.add_weight(
            name="excite_kernel",
            shape=(hidden, channels),
            initializer="glorot_uniform",
            dtype="float32",
            autocast=False,
        )
        self.excite_bias = self.add_weight(
            name="excite_bias",
            shape=(channels,),
            initializer="zeros",
            dtype="float32",
            autocast=False,
        )

    def call(self, inputs):
        rank = len(inputs.shape)
        spatial = spatial_axes(self.data_format, rank)
        squeezed = ops.mean(ops.cast(inputs, "float32"), axis=spatial)
        hidden = ops.relu(
            ops.matmul(squeezed, self.squeeze_kernel) + self.squeeze_bias
        )
        excitation = ops.sigmoid(
            ops.matmul(hidden, self.excite_kernel) + self.excite_bias
        )
        channels = inputs.shape[channel_axis(self.data_format)]
        excitation = ops.reshape(
            ops.cast(excitation, inputs.dtype),
            (-1,) + channel_broadcast_shape(self.data_format, rank,
                                            channels)[1:],
        )
        return inputs * excitation

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "reduction": self.reduction,
            "data_format": self.data_format,
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(legacy_config(config))
