"""The Autoregressive panel: watch p(x) = prod_d p(x_d | x_<d) at work, position by position.

What it shows (PixelRNN / PixelCNN, van den Oord et al. 2016; Gated PixelCNN,
van den Oord et al. 2016; MADE, Germain et al. 2015; WaveNet, van den Oord
et al. 2016):

- **Generation**: the sample fills in, in the model's order (a pixel, a
  row for the Row LSTM, or a chunk of audio samples per step), with play /
  pause, single steps and a speed slider. A worker thread draws; the UI only
  paints, and Stop or a new run interrupts it between two steps.
- **Distribution**: hovering a pixel (or a time of a waveform) plots the
  model's distribution of that position given the positions before it: 256
  bars for softmax outputs and mu-law audio, p(0) and p(1) for binarised
  images.
- **Receptive field**: |d logits / d input| of one output from the live
  weights, summed over a few inputs: the PixelCNN blind spot is the blue
  wedge of earlier pixels with zero gradient, which the Gated PixelCNN does
  not have. For WaveNet, the dilation stack with the samples that reach the
  output, and the same gradient measured.
- **Completion**: hide part of validation images (presets, or a rectangle
  dragged with the mouse) and let ``complete`` fill it; originals, masked
  inputs and several completions side by side.
- **MADE masks**: each layer's connectivity mask and their product, which
  in generation order is strictly lower-triangular.
- The status line: the generation order, the exact NLL on a validation
  batch (``model.evaluate``), and the sampling speed with and without the
  model's cache, measured on request.

Capability: registered for ``Autoregressive``. The panel loads its own copy
of the model from the run's latest checkpoint and reloads it on
``CheckpointSaved`` (when shown); the training thread's model is never touched.

Where things live: ``panel.py`` loads the model and puts the tabs together;
one file per tab (``generation_tab`` with its ``distribution_view``,
``receptive_field_tab``, ``completion_tab``, ``made_masks_tab``); the sample
grid that knows its cells in ``pixel_grid``; the generation thread in
``generation_worker``; the load in ``prepare``; the Qt-free arithmetic in
:mod:`..autoregressive_math` and, for the model,
:mod:`genstudio.models.autoregressive.inspect`.
"""
