"""The Code prior panel (vq-prior): a VQ-VAE's code grid drawn by an autoregressive prior, and decoded.

What it shows (van den Oord et al. 2017, VQ-VAE section 3.3; Ramesh et al. 2021):

- **Generation**: the code grid is drawn position by position in raster
  order (step, play, speed), each cell coloured and numbered by its code,
  with the VQ-VAE's decode of the grid so far beside it (cells not drawn yet
  decode from the codebook's mean vector) and the categorical over the K
  codes that the current position was drawn from.
- **Code usage**: how often each code occurs in the validation images' code
  maps and in the prior's samples, most used first; perplexities and the
  total-variation distance between the two say whether the prior matches the
  codes' marginal.
- **Completion**: the top rows of validation images' code maps are kept and
  the rest drawn by the prior, then decoded: completion in code space, where
  one code stands for a 4 x 4 patch.

The work runs off the UI thread (:class:`..jobs.PanelJob`); the model comes
from the live weights or the latest checkpoint (:class:`..live.CheckpointPanel`).
"""
