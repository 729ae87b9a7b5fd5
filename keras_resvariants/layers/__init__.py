"""The five paper layers, one registered class per module."""

# Keep these imports sorted; each layer module registers its classes with
# `keras.saving.register_keras_serializable(package="keras_resvariants")`.
