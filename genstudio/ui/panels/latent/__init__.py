"""The latent explorer: walk the latent space of any model with the ``Latent`` capability.

Autoencoders (encoder and decoder), GANs (G's noise z) and, later, flows all
expose ``decode(z)`` and ``prior_sample``; models with an encoder also map
data to latents. The panel loads its own copy of the model from the run's
latest checkpoint (never the training thread's), and:

1. **Map**: the encoded validation set (or, without an encoder, prior draws)
   projected to 2-D (the latent itself when it has two dimensions, PCA, or
   t-SNE computed off the UI thread), coloured by label; hovering shows the
   example, clicking a point or an empty spot decodes there and makes that
   latent the *current point* the other views start from.
2. **Manifold**: a grid of decodes over two chosen dimensions, the others
   held at the current point (Kingma & Welling 2014, figure 4).
3. **Traversals**: one slider per latent dimension, ranked by the KL of
   q(z_j|x) to the prior when the model reports ``kl_per_dim`` (the
   dimensions a beta-VAE really uses), else by the spread of the encodings;
   live decode as a slider moves, and a row of decodes across each
   dimension's range.
4. **Interpolation**: between two examples (or two seeds), linear or
   spherical (slerp), in N frames, exportable as a GIF.
5. **Classes** (``Conditional`` models): a grid of class by latent sample;
   each column is one latent swept across the classes (style kept, class
   changed).
6. **Codebook** (VQ-VAE): code usage over the validation set, the code map
   of an example, and the decode after the user edits codes.

Heavy work (loading, encoding up to ``MAX_EXAMPLES`` examples, t-SNE) runs
on the Qt thread pool; single decodes (a slider move, a click) run on the UI
thread and must take well under 30 ms (``benchmarks/latent_decode.py``).

Where things live: ``panel.py`` puts the tabs together, owns the current
point and decodes (:class:`..live.CheckpointPanel` loads the model);
``prepare.py`` is the load itself (encode, rank, project; no Qt); one file
per tab (``map_tab``, ``manifold_tab``, ``traversal_tab``,
``interpolation_tab``, ``class_tab``, ``codebook_tab``), the tabs that decode
only while shown on ``lazy_tab``, and the image-or-points view of decodes in
``decoded_view``; the arithmetic in :mod:`..latent_math`.
"""
