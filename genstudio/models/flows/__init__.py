"""Normalizing flows: NICE, RealNVP, Glow (coupling flows) and MAF, IAF (autoregressive flows).

Shared pieces: ``layers`` (invertible layers and the multi-scale stack),
``made_layers`` (MADE and the autoregressive affine layer), ``base`` (the
preprocessing with its Jacobian, the prior, training and the capabilities).
"""
