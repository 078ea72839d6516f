"""How model frames reach the viewer's GL texture, for the HUD.

The viewer's frames come from its worker thread as host arrays (runtime/timeline.py SkyFrame),
so each one crosses to the host and is uploaded through SkyTextures' pixel buffers. Where
CUDA-GL interop could run (render/cuda_gl.py: a CUDA model and NVIDIA's GL), a host that decodes
in its render thread writes frames straight into those buffers (DomeRenderer.push_device, which
`skyviewer bench`'s GPU frame row times); the viewer's queue of pending frames would need a device
copy of each, which it does not keep yet. The HUD names the path and why.
"""

from __future__ import annotations

import moderngl

from skyviewer.render.cuda_gl import interop_blocker
from skyviewer.runtime.model import SkyModel

WORKER_FRAMES = "frames queue on the host"


def upload_path(model: SkyModel, ctx: moderngl.Context) -> str:
    """The HUD's description of the upload path in use, e.g. "host copy: model on CPU"."""
    return f"host copy: {interop_blocker(model.device, ctx) or WORKER_FRAMES}"
