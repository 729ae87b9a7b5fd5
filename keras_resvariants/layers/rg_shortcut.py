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
    `x * scale + shift`. On a CPU (no GPU or TPU in the backend's
    devices) its gradient is GroupNorm's closed form (two per-channel sums
    of the upstream gradient, then one `dy * scale + x * a + b`) rather
    than the backend's differentiation of each op, and its sums over the
    spatial axes are batched products with a vector of ones; on an
    accelerator, whose compiler fuses the ops, the backend differentiates
    them. Both compute in float32 (also under mixed
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
        if implementation_lib.on_accelerator():
            return group_norm_autodiff_of(self, x)
        return apply_norm(self, x, _group_norm_by_matmul_sums)

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


def apply_norm(layer, x, norm):
    """`norm(x, gamma, beta, *, groups, epsilon, data_format)` with the
    weights and settings of `layer` (an `RGShortcut`), in float32, cast
    back to the dtype of `x`."""
    dtype = x.dtype

    def weight(w):
        return ops.convert_to_tensor(ops.cast(w, "float32"))

    y = norm(ops.cast(x, "float32"), weight(layer.norm.gamma),
             weight(layer.norm.beta), groups=layer.groups,
             epsilon=layer.epsilon, data_format=layer.data_format)
    return ops.cast(y, dtype)


def group_norm_autodiff_of(layer, x):
    """The GroupNorm of `layer` (an `RGShortcut`) applied to `x` in the
    accelerator form, wherever it runs (the benchmarks' "before" of the
    CPU form)."""
    return apply_norm(layer, x, _group_norm_autodiff)


class _Grouping:
    """Shapes of one GroupNorm call: per-channel `(B, C)` statistics seen
    as `(B, G, C/G)`, and back to a shape that broadcasts on the map."""

    def __init__(self, x, groups, data_format):
        self.spatial = spatial_axes(data_format, len(x.shape))
        self.channels = x.shape[channel_axis(data_format)]
        self.groups = groups
        self.per_group = self.channels // groups
        ones = (1,) * len(self.spatial)
        self.map_shape = ((-1,) + ones + (self.channels,)
                          if data_format == "channels_last"
                          else (-1, self.channels) + ones)

    def by_group(self, t):  # (B, C) -> (B, G, C/G)
        return ops.reshape(t, (-1, self.groups, self.per_group))

    def to_map(self, t):  # (B, G, C/G) or (B, G, 1) -> on the map
        t = ops.broadcast_to(
            t, (ops.shape(t)[0], self.groups, self.per_group))
        return ops.reshape(t, self.map_shape)

    def affine(self, mean_c, var_c, gamma, beta, epsilon):
        """Per-example `scale` and `shift` (`(B, G, C/G)`), the group mean
        and `1 / sqrt(var + epsilon)` (`(B, G, 1)`), from the per-channel
        means and variances (`(B, C)`). With equal counts per channel,
        the group variance is the mean of the channel variances plus the
        variance of the channel means."""
        mean_c, var_c = self.by_group(mean_c), self.by_group(var_c)
        mean_g = ops.mean(mean_c, axis=-1, keepdims=True)
        var_g = ops.mean(var_c + ops.square(mean_c - mean_g), axis=-1,
                         keepdims=True)
        inv = ops.rsqrt(var_g + epsilon)
        scale = inv * ops.reshape(gamma, (self.groups, self.per_group))
        shift = (ops.reshape(beta, (self.groups, self.per_group))
                 - mean_g * scale)
        return scale, shift, mean_g, inv


def _group_norm_autodiff(x, gamma, beta, *, groups, epsilon, data_format):
    """GroupNorm from per-channel moments, differentiated by the backend:
    the form for accelerators, whose compilers fuse the reductions."""
    grouping = _Grouping(x, groups, data_format)
    # Two-pass per-channel moments (the variance of x - mean), as
    # TensorFlow's moments: the one-pass E[x^2] - E[x]^2 of some backends
    # (torch) loses every digit of the variance when the mean is large.
    mean_c = ops.mean(x, axis=grouping.spatial, keepdims=True)
    var_c = ops.mean(ops.square(x - ops.stop_gradient(mean_c)),
                     axis=grouping.spatial)
    mean_c = ops.squeeze(mean_c, axis=grouping.spatial)
    scale, shift, _, _ = grouping.affine(mean_c, var_c, gamma, beta,
                                         epsilon)
    return x * grouping.to_map(scale) + grouping.to_map(shift)


def spatial_sums(t, data_format):
    """`(B, C)` sums of `t` over its spatial axes (and their count), as a
    batched product with a vector of ones. On our CPUs (TensorFlow,
    oneDNN) the product and `ops.sum` cost the same alone, but in
    RGShortcut's training step the products measured a few percent
    faster (layer step 0.77-0.80 of the autodiff form, against 0.80-0.86
    with `ops.sum`)."""
    channels_last = data_format == "channels_last"
    shape = ops.shape(t)
    channels = shape[-1] if channels_last else shape[1]
    size = 1
    for axis in spatial_axes(data_format, len(t.shape)):
        size = size * shape[axis]
    if channels_last:
        rows = ops.reshape(t, (-1, size, channels))
        sums = ops.matmul(ops.ones((1, 1, size), t.dtype), rows)
    else:
        rows = ops.reshape(t, (-1, channels, size))
        sums = ops.matmul(rows, ops.ones((1, size, 1), t.dtype))
    return ops.reshape(sums, (-1, channels)), size


def _group_norm_by_matmul_sums(x, gamma, beta, *, groups, epsilon,
                               data_format):
    """The same GroupNorm for CPUs, where each op is its own pass over the
    map: every per-channel sum is a product with ones (`spatial_sums`),
    and the gradient is GroupNorm's closed form, two per-channel sums of
    the upstream gradient (`sum(dy)`, `sum(dy * x)`) and then `dx = dy *
    scale + x * a + b` with per-(example, channel) `a` and `b`: fewer and
    cheaper passes than differentiating the forward's ops."""

    @ops.custom_gradient
    def group_norm(x, gamma, beta):
        grouping = _Grouping(x, groups, data_format)
        sums, size = spatial_sums(x, data_format)
        size = ops.cast(size, "float32")
        mean_c = sums / size
        # Two-pass, as above: the variance of x - mean.
        var_c = spatial_sums(
            ops.square(x - ops.reshape(mean_c, grouping.map_shape)),
            data_format)[0] / size
        scale, shift, mean_g, inv = grouping.affine(mean_c, var_c, gamma,
                                                    beta, epsilon)
        y = x * grouping.to_map(scale) + grouping.to_map(shift)

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream
            s1 = grouping.by_group(spatial_sums(dy, data_format)[0])
            s2 = grouping.by_group(spatial_sums(dy * x, data_format)[0])
            centred = s2 - mean_g * s1  # sum(dy * (x - mean_g))
            d_gamma = ops.reshape(ops.sum(inv * centred, axis=0), (-1,))
            d_beta = ops.reshape(ops.sum(s1, axis=0), (-1,))
            # With g = dy * gamma (the gradient of x_hat) and n values per
            # group: dx = inv / n * (n * g - sum(g) - x_hat * sum(g x_hat)).
            gamma_g = ops.reshape(gamma, (groups, grouping.per_group))
            count = size * grouping.per_group
            sum_g = ops.sum(gamma_g * s1, axis=-1, keepdims=True)
            sum_g_xhat = ops.sum(gamma_g * centred, axis=-1,
                                 keepdims=True) * inv
            a = -inv * inv * sum_g_xhat / count  # (B, G, 1)
            b = -inv * sum_g / count - a * mean_g
            d_x = (dy * grouping.to_map(scale)
                   + (x * grouping.to_map(a) + grouping.to_map(b)))
            return d_x, d_gamma, d_beta

        return y, grad

    return group_norm(x, gamma, beta)
