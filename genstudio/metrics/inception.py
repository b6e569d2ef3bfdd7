"""The standard Inception-v3 FID, from weights the user already has on disk.

Published FIDs use an ImageNet Inception-v3's 2048-d pool3 features
(Heusel et al. 2017). genstudio never downloads those weights: when the
user points ``--inception PATH`` or ``GENSTUDIO_INCEPTION_WEIGHTS`` at a
torchvision ``inception_v3`` state dict (``.pth``/``.pt`` saved with
``torch.save(model.state_dict())``, or ``.safetensors``), ``genstudio eval``
adds ``fid_inception`` and its floor beside the dataset's own-classifier
FID. Images are resized to 299 x 299 (bilinear), grey images repeated to
three channels, and normalised with the ImageNet statistics torchvision's
weights expect. Note: the TensorFlow Inception of the original FID code
(pytorch-fid's ``pt_inception`` weights) differs slightly from
torchvision's, so numbers are close to, not equal to, papers' FIDs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from genstudio.core.config import ConfigError

ENV_VAR = "GENSTUDIO_INCEPTION_WEIGHTS"
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def inception_weights_path(path: str | Path | None = None) -> Path | None:
    """The weights file named by ``path`` or else ``$GENSTUDIO_INCEPTION_WEIGHTS``; None when neither is set.

    Raises ConfigError when a named file does not exist.
    """
    source = "--inception"
    if path is None or str(path) == "":
        path = os.environ.get(ENV_VAR) or None
        source = ENV_VAR
    if path is None:
        return None
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"{source} names '{p}', which is not a file; point it at a torchvision inception_v3 state dict "
            f"(.pth or .safetensors) on this machine (genstudio never downloads it), or unset it to skip the Inception FID"
        )
    return p


class InceptionFeatures:
    """torchvision's Inception-v3 with its classifier removed: images in [0, 1] to 2048-d pool3 features."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu"):
        from torchvision.models import inception_v3

        p = Path(path)
        try:
            if p.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(p))
            else:
                state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line message
            raise ConfigError(f"cannot read Inception weights '{p}': {type(e).__name__}: {e}") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ConfigError(f"'{p}' is not a state dict (a mapping of names to tensors); save one with torch.save(model.state_dict(), path)")
        net = inception_v3(weights=None, aux_logits="AuxLogits.fc.weight" in state, init_weights=False, transform_input=False)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"'{p}' is not a torchvision inception_v3 state dict: missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}"
            )
        net.fc = torch.nn.Identity()  # the 2048-d average-pooled features, as in the FID paper
        self.net = net.eval().to(device)
        self.path = p

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def features(self, x: torch.Tensor, batch: int = 32) -> torch.Tensor:
        """N x 2048 features (CPU, float32) of N x C x H x W images in [0, 1], C = 1 or 3."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"the Inception FID takes 1- or 3-channel images, got shape {tuple(x.shape)}")
        mean = torch.tensor(_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(_STD, device=self.device).view(1, 3, 1, 1)
        out = []
        for i in range(0, len(x), batch):
            b = x[i : i + batch].float().to(self.device).clamp(0, 1)
            if b.shape[1] == 1:
                b = b.expand(-1, 3, -1, -1)
            b = F.interpolate(b, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(self.net((b - mean) / std).cpu())
        return torch.cat(out)
