"""Frechet Inception Distance (Heusel et al. 2017), optional: needs Inception weights on disk.

    FID = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

over Inception-v3 pool features (2048-D) of the two image sets. The matrix square root's
trace is computed from symmetric eigendecompositions, tr (S_1 S_2)^(1/2) =
tr (S_1^(1/2) S_2 S_1^(1/2))^(1/2), which stays real for positive semi-definite S (no scipy).

Sky frames are HDR; Inception sees LDR photographs, so frames are tone-mapped with the
reference operator (auto exposure, skyviewer.sky.tonemap.preview) to 8-bit sRGB first.
The weights cannot be downloaded here: pass --inception with either
  * pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (needs the pytorch-fid package), or
  * a TorchScript Inception (torch.jit.save) mapping uint8 (B, 3, H, W) images to (B, 2048)
    features, called as `model(images, return_features=True)` like StyleGAN3's detector.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np

from skyviewer.errors import UserError
from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.tonemap import preview

FID_INPUT_PX = 299


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, D) features -> mean (D,) and covariance (D, D) (unbiased)."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Frechet distance between N(mu1, s1) and N(mu2, s2)."""
    r1 = _sqrt_psd(s1)
    cross = np.linalg.eigvalsh(r1 @ s2 @ r1)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


def load_inception(path: Path):
    """The feature extractor: uint8 (B, H, W, 3) images -> (B, 2048) numpy features."""
    import torch

    if not path.is_file():
        raise UserError(f"{path}: no such Inception weights file (FID needs them locally; see docs/eval.md)")
    try:
        model = torch.jit.load(str(path), map_location="cpu").eval()
        return lambda img: _run(lambda x: model(x, return_features=True), img, scale=False)
    except RuntimeError:
        pass  # not TorchScript: try pytorch-fid's state dict
    try:
        from pytorch_fid import inception as pf
    except ImportError as e:
        raise UserError(f"{path}: not TorchScript; a pytorch-fid .pth needs `pip install pytorch-fid`") from e
    state = torch.load(path, map_location="cpu", weights_only=True)
    with mock.patch.object(pf, "load_state_dict_from_url", lambda *a, **k: state):
        model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    return lambda img: _run(lambda x: model(x)[0][:, :, 0, 0], img, scale=True)


def _run(forward, images: np.ndarray, scale: bool, batch: int = 32) -> np.ndarray:
    """Feed uint8 (B, H, W, 3) images in batches; pytorch-fid wants floats in [0, 1] at 299 px."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch])).permute(0, 3, 1, 2)
            if scale:
                x = F.interpolate(x.float() / 255.0, size=(FID_INPUT_PX,) * 2, mode="bilinear")
            out.append(forward(x).double().numpy())
    return np.concatenate(out)


def tone_mapped(radiance: np.ndarray) -> np.ndarray:
    """(B, N, N, 3) linear radiance -> (B, N, N, 3) uint8, auto-exposed like the previews."""
    mask = fisheye_mask(radiance.shape[1])
    return np.stack([preview(np.asarray(f, np.float64), mask=mask) for f in radiance])


def fid(generated: np.ndarray, reference: np.ndarray, inception_path: Path) -> float:
    """FID between two sets of (B, N, N, 3) linear-radiance frames."""
    features = load_inception(inception_path)
    stats = [gaussian_stats(features(tone_mapped(x))) for x in (generated, reference)]
    return frechet_distance(*stats[0], *stats[1])
