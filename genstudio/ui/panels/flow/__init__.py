"""The flow panel: a normalizing flow opened up, for every model with the ``Invertible`` capability
(nice, realnvp, glow, maf, iaf).

A flow is a chain of invertible stages from data x to a latent z with a simple
prior, and its likelihood is exact (RealNVP eq. 3):
log p(x) = log p_Z(f(x)) + sum_k log |det J_k|. The panel shows each term.

On 2-D data:
- the learned density exp(log p(x)) as a heatmap under the validation points,
  with samples from the model overlaid on demand, and the validation NLL
  beside the data's own differential entropy (the best any model can do), so
  the gap is visible;
- a slider through the stages: a regular grid of lines and the data pushed
  from data space to the base, stage by stage, or (``base → data``) a regular
  grid in the base and prior samples pulled back to data space, where they
  become the model's samples;
- the log-det map: log |det J| of the whole flow, or of the stage chosen by
  the slider, as a heatmap over the plane (where it stretches, the density
  is concentrated);
- which direction is fast (MAF: density in one pass, sampling in D; IAF the
  reverse) with both directions timed on the loaded model.

On images: samples at temperatures 0 to 1 (Glow section 5: z scaled by T),
the latent of a validation example split into its scales, the measured
invertibility error and the exact bits/dim.

Everything is computed once per checkpoint on the thread pool
(:mod:`genstudio.models.flows.inspect`: a 200 x 200 grid through every
layer); the slider and the switches only look cached arrays up. The panel
loads its own copy of the model from the run's latest checkpoint and reloads
on ``CheckpointSaved`` (while hidden, only when shown again).

Where things live: ``panel.py`` loads and puts the pages together (status,
speed and readout lines); ``plane_views.py`` draws the 2-D page (density,
warp, log-det), ``image_views.py`` the image page (temperatures, latents);
``prepare.py`` computes every cached view off the UI thread; the drawing
arithmetic with no Qt is in :mod:`..flow_math`, the flow's in
:mod:`genstudio.models.flows.inspect`.
"""
