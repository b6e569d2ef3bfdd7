"""The GAN view: what GAN Lab (Kahng et al., "GAN Lab: Understanding Complex
Deep Generative Models using Interactive Visual Experimentation", IEEE VIS
2018) shows, on our engine, for every model with the ``Adversarial``
capability (gan, cgan, lsgan, wgan, wgan-gp, sgan, dcgan).

On 2-D data: real points and generated points G(z) (from a fixed batch of z,
so the cloud moves rather than flickers) over the discriminator's output as a
heatmap (green: D says real, purple: D says fake; for lsgan and wgan-gp the
raw score, scaled to its range on the view), with the generator's gradient as
arrows: -d L_G / d x at each generated point, where G's loss (seen through
the current D) pushes it. A mode-coverage counter runs on ``8gaussians``.
On images (:mod:`.image_view`): histograms of D(x) on validation
images and of D(G(z)) on a fixed batch of fakes, the run's D and G loss
curves side by side with the sandbox's steps after the checkpoint, and the
fakes D finds most and least real.

The panel loads its own copy of the model from the run's latest checkpoint
and turns it into a sandbox: Step D, Step G and Step both update that copy
(never the training thread's model), Play repeats steps at a rate whose
speed slider goes down to one step a second (slow motion), and Reset goes
back to the checkpoint. With "Draw data" the user paints 2-D points with the
mouse and the sandbox trains on them; "Save drawing…" writes them as a CSV
that the ``csv`` dataset trains on. Like every training in the studio, the
sandbox steps off the UI thread: a worker thread owns the copy while it steps
and reports snapshots (G's samples, D's heatmap or histograms, the arrows, the
losses) that the panel draws at the display rate, so the window stays
responsive whatever the model's size (a DCGAN step on 28 x 28 images takes
tens of milliseconds). Loading runs on the thread pool.

Where things live: ``panel.py`` loads the model, puts the views together
and draws the worker's snapshots; the stepping and the snapshots in
``worker.py`` (no Qt), the controls and Play in ``sandbox.py``, painting 2-D data in ``drawing.py`` (both mixins of the
panel); D's view of images in ``image_view.py``; a model's own numbers beside the game (wgan's critic
weights against the clip, sgan's classifier accuracy) in ``model_views.py``, computed with each snapshot
by ``diagnostics.py``; the load in ``prepare.py``;
the arithmetic with no Qt in :mod:`..gan_math`, the run's logged losses in
:mod:`..run_data`.
"""
