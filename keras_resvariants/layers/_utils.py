"""Image data format helpers shared by the layers, blocks and builders."""

import keras

DATA_FORMATS = ("channels_last", "channels_first")


def standardize_data_format(data_format, name="data_format"):
    """Returns `"channels_last"` or `"channels_first"`.

    `None` means `keras.config.image_data_format()`, read now (as Keras'
    own `Conv2D` does), so the returned value is what a config stores.
    """
    if data_format is None:
        return keras.config.image_data_format()
    if not isinstance(data_format, str) or data_format not in DATA_FORMATS:
        raise ValueError(
            f"`{name}` must be one of None, 'channels_last', "
            f"'channels_first'. Received: {name}={data_format!r}"
        )
    return data_format


def channel_axis(data_format):
    """The channel axis of a batch: `-1` (channels_last) or `1`."""
    return -1 if data_format == "channels_last" else 1


def spatial_axes(data_format, rank):
    """The spatial axes of a batch of rank `rank`, as a tuple."""
    if data_format == "channels_last":
        return tuple(range(1, rank - 1))
    return tuple(range(2, rank))


def channel_broadcast_shape(data_format, rank, channels):
    """Shape that broadcasts a `(channels,)` vector over a rank-`rank`
    batch, batch axis included: `(1, ..., 1, C)` or `(1, C, 1, ...)`."""
    if data_format == "channels_last":
        return (1,) * (rank - 1) + (channels,)
    return (1, channels) + (1,) * (rank - 2)


def legacy_config(config):
    """A copy of `config` with `data_format="channels_last"` if absent.

    Configs saved before the layers took `data_format` come from an NHWC
    only package: they must keep meaning channels_last whatever the global
    format is when they are loaded.
    """
    config = dict(config)
    config.setdefault("data_format", "channels_last")
    return config
