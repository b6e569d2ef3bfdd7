"""The diffusion panel: scrub the forward and the reverse process of any ``Denoiser`` model, timestep by timestep.

What it teaches (Ho et al. 2020, "Denoising Diffusion Probabilistic Models";
Song et al. 2021, "Denoising Diffusion Implicit Models"):

- **Forward process.** x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
  (DDPM eq. 4): one dataset example (or the whole 2-D cloud), one fixed
  noise draw, and a slider over t, with alpha_bar_t and the signal-to-noise
  ratio alpha_bar / (1 - alpha_bar) read out, and a strip of x_t at evenly
  spaced t.
- **Reverse process.** A sampler (DDPM ancestral or DDIM; annealed Langevin
  for score models) runs once for a fixed seed on the thread pool and every
  step is cached (:mod:`..diffusion_frames`); the slider, play/pause, frame
  step and speed then only look frames up, so scrubbing costs one image
  upload (measured in ``benchmarks/diffusion_scrub.py``). x_t, the predicted
  noise eps_hat and the predicted clean sample x0_hat (DDPM eq. 15) sit side
  by side. On 2-D data: the particle cloud, a few trajectories, and the
  learned field -eps_hat(x, t) (the score direction) as arrows at the
  frame's t.
- **Compare samplers.** Two chains from one seed scrubbed together by the
  fraction of their walk (DDPM with all T steps against DDIM 50, 20, 10).
- **NFE versus quality.** Deterministic DDIM from one x_T at several step
  counts: MMD^2 to the data and the distance to the finest run, against the
  number of network evaluations.
- **Guidance sweep** (conditional models): every class at several
  classifier-free guidance scales from the same noise.
- **Schedules.** beta_t, alpha_bar_t and log SNR, with the timesteps the
  chosen sampler visits marked, and the t of the forward and reverse views.
- **Markov chain.** The intuition behind the forward process: a small
  transition matrix applied again and again forgets where it started and
  converges to its stationary distribution, as q(x_t | x_0) forgets x_0
  and converges to N(0, I).

Capability: registered for ``Denoiser``. The panel loads its own copy of the
model from the run's latest checkpoint (reloading on ``CheckpointSaved``, or
when it is shown again if it was hidden then), never the training thread's.

Where things live: ``panel.py`` puts the tabs together and loads the model
(:class:`..live.CheckpointPanel`; the load itself in ``prepare.py``); one
file per tab (``forward_view``, ``reverse_view`` with its sampler controls in
``sampler_controls`` and its GIF / MP4 / PNG export in ``chain_export``,
``sampler_comparison``, ``schedule_view``, ``guidance_sweep``, ``nfe_view``,
``markov_chain``). With no Qt: the cached chain and its export in
:mod:`..diffusion_frames`, the guidance sweep and NFE experiment in
:mod:`..diffusion_sweeps`, the arithmetic in :mod:`..diffusion_math`.
"""
