"""RGShortcut: the nonlinear `GroupNorm(ReLU(x))` shortcut of RGSNet."""

import keras
from keras import ops

from keras_resvariants._validation import check_positive_float
from keras_resvariants._validation import check_positive_int
from keras_resvariants.layers import implementation as implementation_lib
from keras_resvariants.layers._utils import channel_axis
from keras_resvariants.layers._utils import legacy_config
from keras_resvariants.layers._utils import spatial_axes
from keras_resvariants.layers._utils import standardize_data_format


@keras.saving.register_keras_serializable(package="keras_resvariants")
class RGShortcut(keras.layers.Layer):
    """Nonlinear shortcut `GroupNorm(ReLU(x))` from RGSNet.

    Drop-in replacement for the identity term of a residual block: the block
    computes `RGShortcut()(x) + F(x)` instead of `x + F(x)`. The layer only
    computes the shortcut; merging is the block's job.

    Group normalisation normalises each example over the spatial axes and
    the `C / groups` channels of each group, then applies a per-channel
    affine `gamma * x_hat + beta` (`gamma = 1`, `beta = 0` at init). It has
    no batch statistics, so training and inference behave the same.

    The layer owns a `keras.layers.GroupNormalization(groups, axis,
    epsilon)` sub-layer (`axis`: the channel axis of `data_format`): its
    `gamma` and `beta` are this layer's weights, and the `"keras"`
    implementation calls it directly. The default `"fast"` implementation
    computes the same function with the same weights but faster on CPU:
    per-channel means and variances over the spatial axes, pooled per group
    on the small `(batch, channels)` tensors (group variance = mean over the
    group's channels of `var_c + (mean_c - group_mean)**2`, which is exact
    and avoids the cancellation of `E[x**2] - E[x]**2`), then one fused
    `x * scale + shift`. Both compute in float32 (also under mixed
    precision) and cast the result to the compute dtype.

    The implementation is a run-time choice, not part of the layer: it is
    not in the config, and the layer reads it each time it is called
    (inside a compiled function: when it is traced). Set it for every
    instance with `keras_resvariants.layers.set_implementation(
    "RGShortcut", "keras")` or `implementation_scope(...)`, or for one
    instance with `layer.implementation = "keras"` (`None`, the default,
    follows the process-wide choice; not saved). See
    `keras_resvariants.layers.implementation`.

    Reference:
        - Zhang et al., "Revisiting Residual Networks with Nonlinear
          Shortcuts", BMVC 2019.
        - Wu and He, "Group Normalization", ECCV 2018.

    Args:
        groups: int. Number of GroupNorm groups; must divide the channel
            count of the input. Defaults to `32`.
        epsilon: float > 0. Added to the group variance. Defaults to `1e-5`.
        implementation: deprecated, not saved in the config: sets
            `layer.implementation` (a per-instance override of the
            run-time choice) and warns. Defaults to `None`.
        data_format: `None`, `"channels_last"` or `"channels_first"`:
            which axis holds the channels. `None` means
            `keras.config.image_data_format()`. Defaults to `None`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: tensor of shape `(batch, ..., channels)` (typically
            `(batch, height, width, channels)`), or `(batch, channels,
            ...)` with `data_format="channels_first"`.

    Returns:
        Tensor with the shape and dtype of `inputs`.

    Example:

    >>> layer = keras_resvariants.layers.RGShortcut(groups=4)
    >>> tuple(layer(np.ones((2, 8, 8, 16), "float32")).shape)
    (2, 8, 8, 16)
    """

    def __init__(
        self,
        groups=32,
        epsilon=1e-5,
        implementation=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.groups = check_positive_int("groups", groups)
        self.epsilon = check_positive_float("epsilon", epsilon)
        if implementation is not None:
            implementation_lib.deprecated_argument(type(self),
                                                  implementation)
        self.implementation = implementation
        self.norm = keras.layers.GroupNormalization(
            groups=self.groups,
            axis=channel_axis(self.data_format),
            epsilon=self.epsilon,
            dtype=self.dtype_policy,
            name="group_norm",
        )

    implementation = implementation_lib.instance_property()

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                "RGShortcut expects inputs of shape (batch, ..., channels) "
                "(channels_last) or (batch, channels, ...) (channels_first) "
                f"with at least one spatial axis. Received: {input_shape}"
            )
        channels = input_shape[channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(
                "RGShortcut needs a known channel dimension (axis "
                f"{channel_axis(self.data_format)}, {self.data_format}). "
                f"Received input shape: {input_shape}"
            )
        if channels % self.groups:
            raise ValueError(
                "`groups` must divide the number of input channels "
                f"({channels}). Received: groups={self.groups}"
            )
        self.norm.build(input_shape)

    def call(self, inputs):
        x = ops.relu(inputs)
        if implementation_lib.resolve(self) == "keras":
            return self.norm(x)
        return self._fast_group_norm(x)

    def _fast_group_norm(self, x):
        dtype = x.dtype
        x = ops.cast(x, "float32")
        spatial = spatial_axes(self.data_format, len(x.shape))
        channels = x.shape[channel_axis(self.data_format)]
        per_group = channels // self.groups
        # Per-example, per-channel moments over the spatial axes: (B, C),
        # two-pass (the variance of x - mean), as TensorFlow's moments: the
        # one-pass E[x^2] - E[x]^2 of some backends (torch) loses every
        # digit of the variance when the mean is large.
        mean_c = ops.mean(x, axis=spatial, keepdims=True)
        var_c = ops.mean(ops.square(x - ops.stop_gradient(mean_c)),
                         axis=spatial)
        mean_c = ops.squeeze(mean_c, axis=spatial)
        # Pool per group on the small (B, G, C/G) tensors. With equal counts
        # per channel, the group variance is the mean of the channel
        # variances plus the variance of the channel means.
        mean_c = ops.reshape(mean_c, (-1, self.groups, per_group))
        var_c = ops.reshape(var_c, (-1, self.groups, per_group))
        mean_g = ops.mean(mean_c, axis=-1, keepdims=True)
        var_g = ops.mean(
            var_c + ops.square(mean_c - mean_g), axis=-1, keepdims=True
        )
        inv = ops.rsqrt(var_g + self.epsilon)  # (B, G, 1)
        gamma = ops.reshape(
            ops.cast(self.norm.gamma, "float32"), (self.groups, per_group)
        )
        beta = ops.reshape(
            ops.cast(self.norm.beta, "float32"), (self.groups, per_group)
        )
        scale = inv * gamma  # (B, G, C/G)
        shift = beta - mean_g * scale
        # Back to (B, 1, ..., 1, C) (channels_first: (B, C, 1, ..., 1)) for
        # one fused multiply-add on the map.
        if self.data_format == "channels_last":
            bshape = (-1,) + (1,) * len(spatial) + (channels,)
        else:
            bshape = (-1, channels) + (1,) * len(spatial)
        scale = ops.reshape(scale, bshape)
        shift = ops.reshape(shift, bshape)
        return ops.cast(x * scale + shift, dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "epsilon": self.epsilon,
            "data_format": self.data_format,
        }

    @classmethod
    def from_config(cls, config):
        # Old configs: no `data_format` (channels_last), or an
        # `implementation` (ignored: a run-time choice now).
        return super().from_config(legacy_config(
            implementation_lib.drop_legacy_argument(config)))
