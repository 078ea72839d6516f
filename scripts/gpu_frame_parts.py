"""Where a new model frame's time goes on a CUDA + NVIDIA GL machine (docs/benchmarks.md, "On a
GPU"): `skyviewer bench --only model` times the whole frame; this times its parts, each ending
synchronised (an ONNX Runtime run returns when its work is done, finish() waits for the GL), as
medians over 60 runs in one process. Run by `scripts/gpu_check.sh frame`.

    python3 scripts/gpu_frame_parts.py [--resolution 2048] [--package default]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from skyviewer.render.camera import Camera
from skyviewer.render.context import create_offscreen_context, finish
from skyviewer.render.cuda_gl import interop_blocker
from skyviewer.render.dome import DomeRenderer, DomeView
from skyviewer.render.targets import OffscreenTarget
from skyviewer.runtime.model import SkyModel

RUNS = 60


def median_ms(part: Callable[[], object], runs: int = RUNS) -> float:
    for _ in range(2):  # warm-up: allocations, graph capture
        part()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        part()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=2048)
    parser.add_argument("--package", default="default")
    args = parser.parse_args()

    ctx = create_offscreen_context()
    model = SkyModel(args.package, providers="cuda", resolution=args.resolution)
    model.reset(seed=0)
    blocker = interop_blocker(model.device, ctx)
    where = f"{ctx.info['GL_RENDERER']}; {model.resolution} px; graphs: {model.graph_capture}"
    print(f"{where}; interop: {blocker or 'yes'}")
    if blocker is not None:
        return
    dome = DomeRenderer(ctx, model.resolution, gpu_frames=True)
    target = OffscreenTarget(ctx, (1280, 720), hdr=False)
    view = DomeView(Camera(180, 20, 70), key_nits=3000.0, blend=1.0, frame_index=0)
    rng = np.random.default_rng(0)
    encoded = model.step_encoded()

    parts = {
        "noise draw on the host (one step's)": lambda: rng.standard_normal((1, 4, 64, 64), np.float32),
        "step + decode (step_encoded)": model.step_encoded,
        "push_device: map, radiance into the buffer, unmap, GL copy queued": lambda: dome.push_device(
            lambda pointer: model.decode_into(encoded, pointer)
        ),
        "  the same + finish (the GL copy and the meter done)": lambda: (
            dome.push_device(lambda pointer: model.decode_into(encoded, pointer)),
            finish(ctx),
        ),
        "meter: pass, mips, 8-byte read": lambda: dome.meter.measure(dome.sky.next).nits(),
        "dome draw 1280x720 + finish": lambda: (dome.render(target.framebuffer, view), finish(ctx)),
        "radiance to the host instead (step())'s conversion": lambda: model.decode(encoded),
    }
    for name, part in parts.items():
        print(f"  {name:<66} {median_ms(part):8.3f} ms")


if __name__ == "__main__":
    main()
