"""The discretized logistic mixture likelihood of PixelCNN++ (Salimans et al., ICLR 2017, section 2.1).

8-bit values v in {0, ..., 255} are rescaled to x = v / 127.5 - 1 in [-1, 1], so
one bin is 2/255 wide and its half-width is ``HALF_BIN`` = 1/255. A logistic
component with mean mu and scale s = exp(log_scale) gives bin v the mass
(eq. 2)

    P(x | mu, s) = sigmoid((x + 1/255 - mu) / s) - sigmoid((x - 1/255 - mu) / s),

with the edge cases that make the 256 masses sum to one: at v = 0 the lower
edge is -inf (the whole left tail, sigmoid((x + 1/255 - mu) / s)) and at
v = 255 the upper edge is +inf (the right tail, 1 - sigmoid((x - 1/255 - mu) / s)).
A mixture of K such components, with the R, G, B means of a pixel linearly
coupled to the channels before them (eq. 3: mu_G + a x_R, mu_B + b x_R + c x_G)
and one component indicator shared by the channels of a pixel, is PixelCNN++'s
per-pixel distribution.

Log-probabilities follow the reference implementation
(openai/pixel-cnn, ``discretized_mix_logistic_loss``): the edge bins' tails as
log sigmoid, never as the log of a difference; inside, the log of the
difference of two sigmoids is rewritten so that nothing cancels (see
:func:`logistic_bin_log_prob`), which keeps it exact where the reference
switches to the density at the bin centre. Every branch is finite for every
input, so ``torch.where`` never mixes a NaN gradient in.

API (tensors on any device; float32 or float64):

- :func:`mixture_params_size` / :func:`unpack_mixture`: the raw network output
  (N x P x H x W, P = K (1 + 2C + C(C-1)/2)) to :class:`LogisticMixture`.
- :func:`logistic_bin_log_prob`: log P(x | mu, log_scale) per element (eq. 2).
- :func:`mixture_log_prob`: log p(pixel) of the whole mixture per example and
  position, all channels jointly (N x H x W).
- :func:`channel_bin_log_probs`: log p(x_c = v | x_<c) for all 256 v and each
  channel given the true earlier channels (N x C x 256 x H x W), with
  :func:`component_bin_log_probs` and :func:`component_weights` for showing the
  components.
- :func:`sample_mixture`: a draw, as the reference does (component by
  Gumbel-max, then the logistic by inverting its CDF, clamped and rounded to
  a bin), as 8-bit levels.
- :func:`to_unit` / :func:`to_levels`: 8-bit levels <-> [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LEVELS = 256
HALF_BIN = 1.0 / 255.0
#: Smallest log scale (the reference's clamp at -7): a narrower logistic puts all its mass in one bin anyway.
MIN_LOG_SCALE = -7.0


def to_unit(levels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """8-bit levels 0..255 -> bin centres in [-1, 1], computed in ``dtype`` (float64 bins tile exactly in float64)."""
    return levels.to(dtype) / 127.5 - 1.0


def to_levels(x: torch.Tensor) -> torch.Tensor:
    """Values in [-1, 1] -> the nearest 8-bit level (long)."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5).long()


def logistic_bin_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(x | mean, exp(log_scale)) of the bin centred at ``x`` (in [-1, 1]; broadcasts), eq. 2 with its edge cases."""
    log_scale = log_scale.clamp(min=MIN_LOG_SCALE)
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus_in = inv_s * (centred + HALF_BIN)  # upper bin edge, in units of the scale
    min_in = inv_s * (centred - HALF_BIN)  # lower bin edge
    # v = 0: the whole left tail up to the upper edge; v = 255: the whole right tail from the lower edge
    # (the reference's log_cdf_plus and log_one_minus_cdf_min).
    log_cdf_plus = F.logsigmoid(plus_in)
    log_one_minus_cdf_min = F.logsigmoid(-min_in)
    # Inside: log(sigmoid(b) - sigmoid(a)) with b = plus_in, a = min_in, b - a = w = (2/255) / s. Writing
    # sigmoid(a) / sigmoid(b) = 1 / (1 + q), q = sigmoid(-b) expm1(w), gives
    #   log(sigmoid(b) - sigmoid(a)) = log sigmoid(b) + log q - log1p(q),
    # with no difference of nearly equal numbers anywhere: exact in both tails and for tiny bins (where the
    # reference falls back to the density at the bin centre), finite with a finite gradient for every w > 0.
    w = inv_s * (2 * HALF_BIN)
    log_q = F.logsigmoid(-plus_in) + torch.log(torch.expm1(w))
    inner = F.logsigmoid(plus_in) + log_q - F.softplus(log_q)  # log1p(q) = softplus(log q)
    return torch.where(x < -1 + HALF_BIN, log_cdf_plus, torch.where(x > 1 - HALF_BIN, log_one_minus_cdf_min, inner))


def mixture_params_size(channels: int, components: int) -> int:
    """Raw network outputs per position: K logits, then K (means, log scales) per channel, then K coefficients per channel pair."""
    return components * (1 + 2 * channels + channels * (channels - 1) // 2)


@dataclass
class LogisticMixture:
    """A mixture per position: logits N x K x H x W; means, log_scales N x C x K x H x W; coeffs N x P x K x H x W.

    ``coeffs[:, p]`` couples channel c to an earlier channel c' (pairs in the order of :func:`channel_pairs`),
    already squashed by tanh as in the reference implementation.
    """

    logits: torch.Tensor
    means: torch.Tensor
    log_scales: torch.Tensor
    coeffs: torch.Tensor

    @property
    def channels(self) -> int:
        return self.means.shape[1]

    @property
    def components(self) -> int:
        return self.logits.shape[1]

    def float(self) -> "LogisticMixture":
        """In float32 (or wider): a bf16 network's output loses the tails' digits otherwise."""
        up = (lambda t: t if t.dtype == torch.float64 else t.float())
        return LogisticMixture(up(self.logits), up(self.means), up(self.log_scales), up(self.coeffs))

    def select(self, index) -> "LogisticMixture":
        """The mixture of some positions: ``index`` applied to the trailing (H, W) dims (e.g. ``(..., i, j)``)."""
        return LogisticMixture(self.logits[index], self.means[index], self.log_scales[index], self.coeffs[index])


def channel_pairs(channels: int) -> list[tuple[int, int]]:
    """(c, c') with c' < c, in coefficient order: (1, 0), (2, 0), (2, 1) for RGB (eq. 3's a, b, c)."""
    return [(c, cp) for c in range(channels) for cp in range(c)]


def unpack_mixture(raw: torch.Tensor, channels: int, components: int) -> LogisticMixture:
    """Split a network's N x P x H x W output (P = :func:`mixture_params_size`) into a :class:`LogisticMixture`."""
    n, p, h, w = raw.shape
    k, c = components, channels
    if p != mixture_params_size(c, k):
        raise ValueError(f"expected {mixture_params_size(c, k)} mixture parameters per position for {c} channels "
                         f"and {k} components, got {p}")
    logits = raw[:, :k]
    rest = raw[:, k:].reshape(n, -1, k, h, w)
    means, log_scales = rest[:, :c], rest[:, c : 2 * c].clamp(min=MIN_LOG_SCALE)
    coeffs = torch.tanh(rest[:, 2 * c :])
    return LogisticMixture(logits, means, log_scales, coeffs)


def coupled_means(mix: LogisticMixture, x: torch.Tensor) -> torch.Tensor:
    """Eq. 3: each channel's means plus the coefficients times the earlier channels' true values (x: N x C x H x W in [-1, 1])."""
    means = mix.means
    if mix.channels == 1:
        return means
    extra = [torch.zeros_like(means[:, 0]) for _ in range(mix.channels)]
    for p, (c, cp) in enumerate(channel_pairs(mix.channels)):
        extra[c] = extra[c] + mix.coeffs[:, p] * x[:, cp].unsqueeze(1)
    return means + torch.stack(extra, 1)


def component_channel_log_probs(mix: LogisticMixture, x: torch.Tensor) -> torch.Tensor:
    """log P_k(x_c | x_<c) per component: N x C x K x H x W (x: N x C x H x W in [-1, 1])."""
    return logistic_bin_log_prob(x.unsqueeze(2), coupled_means(mix, x), mix.log_scales)


def mixture_log_prob(mix: LogisticMixture, x: torch.Tensor) -> torch.Tensor:
    """log p(x) of each position, all channels jointly: logsumexp_k [log pi_k + sum_c log P_k(x_c | x_<c)] (N x H x W)."""
    mix = mix.float()
    lp = component_channel_log_probs(mix, x.to(mix.means.dtype)).sum(1)
    return torch.logsumexp(F.log_softmax(mix.logits, 1) + lp, 1)


def component_weights(mix: LogisticMixture, x: torch.Tensor) -> torch.Tensor:
    """log weights of the components for each channel given the earlier ones: N x C x K x H x W.

    The component is shared by a pixel's channels, so once R is known the
    weights for G are the posterior log pi_k + log P_k(x_R) (normalised); for
    R they are the prior log pi_k.
    """
    mix = mix.float()
    lp = component_channel_log_probs(mix, x.to(mix.means.dtype))
    before = torch.cumsum(lp, 1) - lp  # sum over c' < c
    w = F.log_softmax(mix.logits, 1).unsqueeze(1) + before
    return w - torch.logsumexp(w, 2, keepdim=True)


def bin_centres(device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 256 bin centres in [-1, 1]."""
    return to_unit(torch.arange(LEVELS, device=device), dtype)


def component_bin_log_probs(mix: LogisticMixture, x: torch.Tensor) -> torch.Tensor:
    """log P_k(v | x_<c) of every bin v for each channel and component: N x C x K x 256 x H x W.

    Each channel's means are coupled to the *true* earlier channels of ``x``
    (its own value in ``x`` is ignored).
    """
    mix = mix.float()
    means = coupled_means(mix, x.to(mix.means.dtype))
    v = bin_centres(means.device, means.dtype).view(1, 1, 1, LEVELS, 1, 1)
    return logistic_bin_log_prob(v, means.unsqueeze(3), mix.log_scales.unsqueeze(3))


def channel_bin_log_probs(mix: LogisticMixture, x: torch.Tensor) -> torch.Tensor:
    """log p(x_c = v | x_<c) for all 256 v: N x C x 256 x H x W, each row a normalised distribution.

    The mixture of the components' 256-bin masses under :func:`component_weights`.
    Summing the true values' entries over the channels gives :func:`mixture_log_prob`.
    """
    comp = component_bin_log_probs(mix, x)
    weights = component_weights(mix, x).unsqueeze(3)
    return torch.logsumexp(weights + comp, 2)


def sample_mixture(mix: LogisticMixture, generator: torch.Generator | None = None) -> torch.Tensor:
    """One draw per position as 8-bit levels (N x C x H x W, long), the reference implementation's way.

    Pick the component with the Gumbel-max trick, then each channel in turn
    by the inverse logistic CDF, mean coupled to the channels drawn before it
    (eq. 3), clamped to [-1, 1] and rounded to the nearest bin: exactly a draw
    from the discretized mixture, since the edge bins take the tails. A later
    channel's mean is coupled to the earlier channels' bin centres, the values
    :func:`mixture_log_prob` conditions on.
    """
    mix = mix.float()
    n, k, h, w = mix.logits.shape
    c = mix.channels
    dev = mix.logits.device
    gen_dev = generator.device if generator is not None else dev
    eps = 1e-5
    u = torch.rand((n, k, h, w), generator=generator, device=gen_dev).to(dev).clamp(eps, 1 - eps)
    comp = (mix.logits - torch.log(-torch.log(u))).argmax(1, keepdim=True)  # N x 1 x H x W

    def pick(t: torch.Tensor) -> torch.Tensor:  # N x C' x K x H x W -> N x C' x H x W at the chosen component
        return t.gather(2, comp.unsqueeze(1).expand(-1, t.shape[1], -1, -1, -1)).squeeze(2)

    means, log_scales = pick(mix.means), pick(mix.log_scales)
    coeffs = pick(mix.coeffs) if mix.coeffs.shape[1] else mix.coeffs[:, :, 0]
    u = torch.rand((n, c, h, w), generator=generator, device=gen_dev).to(dev).clamp(eps, 1 - eps)
    noise = torch.log(u) - torch.log1p(-u)  # inverse logistic CDF
    xs: list[torch.Tensor] = []
    pairs = channel_pairs(c)
    for ch in range(c):
        mu = means[:, ch]
        for p, (cc, cp) in enumerate(pairs):
            if cc == ch:
                mu = mu + coeffs[:, p] * xs[cp]
        # The later channels' means see this channel's bin centre, as the likelihood does (the reference
        # passes the unrounded value on, which is not quite the distribution it scores).
        xs.append(to_unit(to_levels(mu + torch.exp(log_scales[:, ch]) * noise[:, ch]), mu.dtype))
    return to_levels(torch.stack(xs, 1))
