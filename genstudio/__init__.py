"""genstudio: a desktop studio to train and look inside classic generative models."""

__version__ = "0.1.0"
