"""Training that reproduces the papers: `train()`, weight decay, schedules,
distribution. Importing this package does not import TensorFlow (beyond
what the Keras backend itself imports)."""

from keras_resvariants.training.compiling import compile_for_recipe
from keras_resvariants.training.compiling import loss_and_metrics
from keras_resvariants.training.distribution import MULTI_WORKER_MESSAGE
from keras_resvariants.training.distribution import DistributionPlan
from keras_resvariants.training.distribution import setup_distribution
from keras_resvariants.training.regularization import apply_weight_decay
from keras_resvariants.training.regularization import decayed_variables
from keras_resvariants.training.regularization import kernel_variables
from keras_resvariants.training.regularization import weight_decay_penalty
from keras_resvariants.training.schedules import make_optimizer
from keras_resvariants.training.schedules import make_schedule
from keras_resvariants.training.train import TrainConfig
from keras_resvariants.training.train import TrainResult
from keras_resvariants.training.train import train

__all__ = [
    "DistributionPlan",
    "MULTI_WORKER_MESSAGE",
    "TrainConfig",
    "TrainResult",
    "apply_weight_decay",
    "compile_for_recipe",
    "decayed_variables",
    "kernel_variables",
    "loss_and_metrics",
    "make_optimizer",
    "make_schedule",
    "setup_distribution",
    "train",
    "weight_decay_penalty",
]
