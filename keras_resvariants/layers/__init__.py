"""The five paper layers, one registered class per module."""

# Keep these imports sorted; each layer module registers its classes with
# `keras.saving.register_keras_serializable(package="keras_resvariants")`.
from keras_resvariants.layers.bridge_se import BridgeSE
from keras_resvariants.layers.channel_pad_shortcut import ChannelPadShortcut
from keras_resvariants.layers.grouped_conv2d import GroupedConv2D
from keras_resvariants.layers.implementation import get_implementation
from keras_resvariants.layers.implementation import implementation_scope
from keras_resvariants.layers.implementation import set_implementation
from keras_resvariants.layers.rg_shortcut import RGShortcut
from keras_resvariants.layers.rir_conv import RiRConv
from keras_resvariants.layers.rir_conv import RiRIdentityInit
from keras_resvariants.layers.rir_conv import StreamSplit
from keras_resvariants.layers.ror_add import RoRAdd
from keras_resvariants.layers.seq_conv2d import SeqConv2D

# The layer classes (tests/test_public_api.py checks each is registered and
# documented). The run-time implementation functions imported above are
# public too: `keras_resvariants.layers.set_implementation(...)`.
__all__ = [
    "BridgeSE",
    "ChannelPadShortcut",
    "GroupedConv2D",
    "RGShortcut",
    "RiRConv",
    "RiRIdentityInit",
    "RoRAdd",
    "SeqConv2D",
    "StreamSplit",
]
