"""The one graph builder shared by every family: specs in, layers out."""

from keras_resvariants.blocks import specs
from keras_resvariants.blocks.context import BuildContext
from keras_resvariants.blocks.network import apply_features

__all__ = ["BuildContext", "apply_features", "specs"]
