"""Write a sky package from a start and a step snapshot (the format: docs/package.md).

    export_package([start_snapshot, step_snapshot], Path("models/mysky"), PackageInfo(...), fp16=True)

For each model: torch -> ONNX with the training side's exporter (static batch-1 shapes,
opset 15), onnx.checker, the engines' op-set check (runtime/opset.py), and the largest
absolute difference between torch and ONNX Runtime on the export's example inputs, which
goes into the manifest. Optional fp16 variants keep float32 inputs and outputs (so every
host drives them the same way) and record their own difference to torch.

The package is assembled in a temporary folder beside the destination, validated with the
runtime's own loader, and only then renamed into place: a failed export leaves nothing,
and an existing package is never overwritten.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from skyviewer.errors import UserError
from skyviewer.runtime.opset import op_set_problems, opset_of
from skyviewer.runtime.package import FORMAT, MANIFEST_NAME, load_package
from skyviewer.sky.projection import fisheye_mask
from skyviewer.sky.radiance import ENCODING, SUN
from skyviewer.train.config import TrainConfig
from skyviewer.train.onnx_export import export_onnx, load_generator

MAX_FP32_DIFF = 1e-3
"""An fp32 export further than this (encoded units; one stop is 0.068) from torch is refused."""
PREVIEW_STEPS = 3
"""The preview shows the start sky and this many steps after it."""
PREVIEW_TILE_PX = 128
"""Preview tiles are at least this wide (tiny test models are upscaled, nearest neighbour)."""
DEFAULT_SUN_DIR = [0.5792, 0.5736, 0.5792]
"""35 deg elevation, azimuth 135 deg (south-east): a mid-morning sun."""

CONDITIONS = [
    {
        "name": "sun_dir",
        "shape": [3],
        "range": [-1.0, 1.0],
        "default": DEFAULT_SUN_DIR,
        "units": "unit vector in world axes (+Y up, -Z north, +X east)",
        "description": "Direction to the sun's centre; y < 0 is below the horizon.",
    },
    {
        "name": "cloud_cover",
        "shape": [1],
        "range": [0.0, 1.0],
        "default": [0.3],
        "units": "fraction of the sky",
        "description": "Fraction of the sky covered by cloud.",
    },
]

# How each tensor of the training exporter's contract (train/onnx_export.py) is fed or used.
ROLES = {
    "z": {"role": "latent", "range": None, "description": "N(0, 1) latent vector, drawn once per reset"},
    "noise": {"role": "noise", "range": None, "description": "fresh N(0, 1) noise, drawn every step"},
    "sun_dir": {"role": "condition", "condition": "sun_dir", "at": "current", "range": [-1.0, 1.0]},
    "sun_dir_next": {"role": "condition", "condition": "sun_dir", "at": "next", "range": [-1.0, 1.0]},
    "cloud_cover": {"role": "condition", "condition": "cloud_cover", "at": "current", "range": [0.0, 1.0]},
    "sky": {"role": "frame", "range": [-1.0, 1.0], "description": "encoded radiance, -1 below the horizon"},
    "next_frame": {"role": "frame", "range": [-1.0, 1.0], "description": "the next frame (encoded)"},
    "field": {"role": "state", "range": None, "description": "the cloud field the sky is drawn from"},
    "next_field": {"role": "state", "range": None, "description": "cloud field of the next frame"},
    "motion": {"role": "state", "range": None, "description": "wind (x, y), sub-pixel phase (x, y), started"},
    "next_motion": {"role": "state", "range": None, "description": "motion state for the next step"},
}
RECURRENCE = {
    "start": [],
    "step": [
        {"input": "field", "output": "next_field", "initial": "start:field"},
        {"input": "motion", "output": "next_motion", "initial": 0.0},
    ],
}


@dataclass
class PackageInfo:
    """What the snapshots do not know: the package's name, licence and provenance."""

    name: str
    """Package name (a folder name in models/): letters, digits, '_', '.', '-'."""
    licence: str
    """Licence of the weights, e.g. 'CC-BY-4.0' (mind the training data's licence)."""
    step_seconds: float
    """Sky time per step: the step_seconds of the data the step model was trained on."""
    training_data: str
    """Where the training data came from (dataset path, sources)."""
    description: str = ""
    """One paragraph for people browsing packages."""
    decoder_px: tuple[int, ...] = (1024, 256, 2048)
    """Format 3: output sides of the decoders, each a multiple of 8; the first is decode.onnx (what a
    CPU host decodes), the others decode_N.onnx: 2,048 px for GPU hosts, 256 px where a small frame
    serves (long evaluation rollouts, lighting probes)."""


@dataclass
class ModelExport:
    """One exported model: its ONNX file(s) and how far each is from torch."""

    kind: str
    """'start' or 'step'."""
    model: torch.nn.Module
    """The EMA generator, eval mode (for the preview)."""
    snapshot: Path
    """The snapshot it came from."""
    cfg: TrainConfig
    """The snapshot's training config."""
    training_step: int
    """Training step of the snapshot."""
    diffs: dict[str, float]
    """Max |torch - ONNX Runtime| over all outputs, per precision ('fp32', 'fp16')."""


# ---------------------------------------------------------------- the pieces


def check_graph(path: Path) -> onnx.ModelProto:
    """onnx.checker plus the engines' op set; a UserError naming the file on any problem."""
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    if problems := op_set_problems(model):
        raise UserError(f"{path}: {'; '.join(problems)} (see skyviewer/runtime/opset.py)")
    return model


def max_abs_diff(path: Path, model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> float:
    """Largest |torch - ONNX Runtime (CPU)| over every output element, for the same inputs."""
    with torch.no_grad():
        expected = model(*inputs.values())
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    return max(float(np.abs(a - e.numpy()).max()) for a, e in zip(actual, expected, strict=True))


def to_fp16(src: Path, dst: Path) -> None:
    """fp16 weights and arithmetic, float32 inputs/outputs (Cast at the edges), except where the
    recurrent state is computed: every node that a state output (ROLES) depends on stays float32,
    so the state carried from step to step is the fp32 model's and only the frames drawn from it
    are fp16. (Rounded to fp16, the state drifted: the motion's sub-pixel phase rounded to another
    whole-pixel shift, and within 100 steps the cloud noise was ~5 and the frames 0.2 off fp32's.)

    The converter's node block list cannot keep a path fp32: it casts every blocked node's result
    to fp16 and back, so a chain of blocked nodes still rounds at each link. So the frame-only
    nodes are cut out as a model of their own, converted whole, and appended to the state's."""
    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError:
        raise UserError("--fp16 needs onnxconverter-common (pip install onnxconverter-common)") from None
    model = onnx.shape_inference.infer_shapes(separate_consumed_outputs(onnx.load(src)), strict_mode=True)
    graph = model.graph
    states = [o.name for o in graph.output if ROLES.get(o.name, {}).get("role") == "state"]
    on_state_path = ancestors(graph, states)
    state_nodes = [copy.deepcopy(n) for i, n in enumerate(graph.node) if i in on_state_path]
    read_by_state = {name for node in state_nodes for name in node.input}
    frame_nodes = [n for i, n in enumerate(graph.node) if i not in on_state_path]
    with warnings.catch_warnings():  # it announces every tiny constant (norm epsilons) it rounds up to 1e-7
        warnings.simplefilter("ignore", UserWarning)
        frame = convert_float_to_float16(frame_model(model, frame_nodes, read_by_state), keep_io_types=True)
    initializers = [copy.deepcopy(t) for t in graph.initializer if t.name in read_by_state]
    del graph.node[:], graph.initializer[:], graph.value_info[:]
    graph.node.extend([*state_nodes, *frame.graph.node])
    graph.initializer.extend([*initializers, *frame.graph.initializer])
    onnx.save(model, dst)


def ancestors(graph: onnx.GraphProto, outputs: list[str]) -> set[int]:
    """Indices of the nodes that `outputs` depend on (every ancestor, not only the producers)."""
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output}
    found: set[int] = set()
    pending = list(outputs)
    while pending:
        i = producer.get(pending.pop())
        if i is not None and i not in found:
            found.add(i)
            pending += graph.node[i].input
    return found


def frame_model(model: onnx.ModelProto, nodes: list[onnx.NodeProto], read_by_state: set[str]):
    """The frame-only `nodes` of `model` as a model of their own: its inputs are what they read
    from the state path and the graph's inputs, its outputs the graph's outputs the state path
    does not make. An initializer the state path also reads is copied under a new name here (it
    becomes fp16 in this part only)."""
    graph = model.graph
    nodes = [copy.deepcopy(n) for n in nodes]
    made = {name for node in nodes for name in node.output}
    inits = {t.name: t for t in graph.initializer}
    typed = {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}
    inputs, own = {}, {}
    for node in nodes:
        for k, name in enumerate(node.input):
            if name in inits:
                node.input[k] = f"{name}__fp16" if name in read_by_state else name
                own[node.input[k]] = onnx.TensorProto()
                own[node.input[k]].CopyFrom(inits[name])
                own[node.input[k]].name = node.input[k]
            elif name and name not in made:
                if name not in typed:
                    raise UserError(f"{graph.name}: no inferred type for {name!r} (needed for fp16)")
                inputs[name] = typed[name]
    outputs = [o for o in graph.output if o.name in made]
    part = onnx.helper.make_graph(nodes, f"{graph.name}_frame", [*inputs.values()], outputs, [*own.values()])
    return onnx.helper.make_model(part, opset_imports=model.opset_import, ir_version=model.ir_version)


def separate_consumed_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give each graph output that other nodes also read an Identity of its own. The fp16
    converter's keep_io_types casts a graph output back to float32 under its name, so without
    this those nodes would read float32 into fp16 weights (onnx.checker: 'W has inconsistent
    type'). State outputs no longer pass the converter (to_fp16); frame outputs still do."""
    graph = model.graph
    consumed = {name for node in graph.node for name in node.input}
    for output in graph.output:
        if output.name not in consumed:
            continue
        inner = f"{output.name}__inner"
        for node in graph.node:
            node.input[:] = [inner if name == output.name else name for name in node.input]
            node.output[:] = [inner if name == output.name else name for name in node.output]
        graph.node.append(onnx.helper.make_node("Identity", [inner], [output.name]))
    return model


@dataclass
class Layout:
    """What differs between the package formats' manifests."""

    format_version: int
    resolution_px: int
    """The frames' side (format 3: decode.onnx's output)."""
    conditions: list[dict]
    roles: dict[str, dict]
    """How each graph tensor is fed or used, by name."""
    recurrence: dict[str, list[dict]]
    """Per model: which outputs feed which inputs on the next step."""
    extra: dict
    """Further top-level manifest fields (format 3: layers)."""


def tensor_specs(values, roles: dict[str, dict] = ROLES) -> list[dict]:
    """Manifest entries for graph inputs or outputs, with their roles."""
    specs = []
    for v in values:
        if v.name not in roles:
            raise UserError(
                f"tensor {v.name!r} is not in the package contract (skyviewer/export/package.py ROLES)"
            )
        shape = [d.dim_value for d in v.type.tensor_type.shape.dim]
        if not all(shape):
            raise UserError(f"tensor {v.name!r} has a dynamic shape {shape}; packages need static shapes")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
        specs.append(
            {
                "name": v.name,
                "shape": shape,
                "dtype": dtype,
                "layout": "NC" if len(shape) == 2 else "NCHW",
                **roles[v.name],
            }
        )
    return specs


def export_model(snapshot: Path, folder: Path, fp16: bool) -> ModelExport:
    """Export one snapshot to folder/KIND.onnx (and KIND.fp16.onnx), checked and measured."""
    from skyviewer.train.run import load_snapshot

    model, cfg = load_generator(snapshot)
    path = folder / f"{cfg.model}.onnx"
    inputs = export_onnx(model, path)
    check_graph(path)
    diffs = {"fp32": max_abs_diff(path, model, inputs)}
    if diffs["fp32"] > MAX_FP32_DIFF:
        raise UserError(
            f"{snapshot}: ONNX output differs from torch by {diffs['fp32']:.2e} (> {MAX_FP32_DIFF})"
        )
    if fp16:
        half = folder / f"{cfg.model}.fp16.onnx"
        to_fp16(path, half)
        check_graph(half)
        diffs["fp16"] = max_abs_diff(half, model, inputs)
    return ModelExport(cfg.model, model, snapshot, cfg, load_snapshot(snapshot)[2], diffs)


def model_entry(export: ModelExport, folder: Path, layout: Layout) -> dict:
    graph = onnx.load(folder / f"{export.kind}.onnx")
    return {
        "file": f"{export.kind}.onnx",
        "opset": opset_of(graph),
        "inputs": tensor_specs(graph.graph.input, layout.roles),
        "outputs": tensor_specs(graph.graph.output, layout.roles),
        "max_abs_diff_vs_torch": export.diffs["fp32"],
        "variants": [
            {"precision": p, "file": f"{export.kind}.{p}.onnx", "max_abs_diff_vs_torch": d}
            for p, d in export.diffs.items()
            if p != "fp32"
        ],
        "recurrence": layout.recurrence.get(export.kind, []),
    }


def render_preview(start: torch.nn.Module, step: torch.nn.Module) -> bytes:
    """PNG of the start sky and PREVIEW_STEPS steps after it (seed 0, default conditions), tone-mapped."""

    g = torch.Generator().manual_seed(0)
    sun, cover = torch.tensor([DEFAULT_SUN_DIR]), torch.tensor([CONDITIONS[1]["default"]])
    with torch.no_grad():
        frame, field = start(torch.randn(start.latent_shape(1), generator=g), sun, cover)  # (1, 3, N, N)
        frames, motion = [frame], step.initial_motion(1)
        for _ in range(PREVIEW_STEPS):
            noise = torch.randn(step.noise_shape(1), generator=g)
            frame, field, motion = step(field, motion, noise, sun, cover)
            frames.append(frame)
    return preview_png([f[0].permute(1, 2, 0).numpy() for f in frames])


def preview_png(frames: list[np.ndarray]) -> bytes:
    """PNG of encoded fisheye frames (N, N, 3) side by side, tone-mapped, at least PREVIEW_TILE_PX wide."""
    from PIL import Image

    from skyviewer.sky.tonemap import preview

    n = frames[0].shape[0]
    mask = fisheye_mask(n)
    image = Image.fromarray(np.concatenate([preview(ENCODING.decode(f), mask=mask) for f in frames], axis=1))
    scale = max(1, PREVIEW_TILE_PX // n)
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def build_manifest(info: PackageInfo, exports: dict[str, ModelExport], folder: Path, layout: Layout) -> dict:
    """sky.json for the files already in `folder` (hashed here)."""
    from importlib.metadata import version

    runs = {  # per training run: format 3's graphs all come from one
        e.cfg.model: {"snapshot": str(e.snapshot), "training_step": e.training_step, "preset": e.cfg.preset}
        for e in exports.values()
    }
    files = {}
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        files[path.name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return {
        "format": FORMAT,
        "format_version": layout.format_version,
        "name": info.name,
        "description": info.description,
        "licence": info.licence,
        "provenance": {
            "training_data": info.training_data,
            "runs": runs,
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "exporter": f"skyviewer {version('skyviewer')}, torch {torch.__version__}, "
            f"onnx {onnx.__version__}",
        },
        "projection": {
            "name": "angular_fisheye_upper_hemisphere",
            "resolution_px": layout.resolution_px,
            "axes": "+Y up, -Z north, +X east; zenith at the centre, north at the top, east on the left "
            "(seen from below), zenith angle proportional to radius (docs/conventions.md)",
        },
        "radiance": {"encoding": ENCODING.to_manifest(), "sun": SUN.to_manifest(), "below_horizon": -1.0},
        "step_seconds": info.step_seconds,
        "conditions": layout.conditions,
        "models": {k: model_entry(e, folder, layout) for k, e in exports.items()},
        **layout.extra,
        "preview": "preview.png",
        "files": files,
    }


def write_zip(folder: Path, dst: Path) -> None:
    """The package folder as a zip with its files at the root (what `load_package` reads)."""
    tmp = dst.with_name(dst.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.iterdir()):
            z.write(path, path.name)
    tmp.replace(dst)


def export_package(
    snapshots: list[Path], out: Path, info: PackageInfo, fp16: bool = False, make_zip: bool = False
) -> dict:
    """Export a LayerSky snapshot (format 3), or a start and a step snapshot in any order (format 2),
    as the package folder `out`; returns the manifest. With make_zip, also writes OUT.zip.
    Refuses to overwrite anything."""
    targets = [out] + ([out.with_name(out.name + ".zip")] if make_zip else [])
    if existing := [str(p) for p in targets if p.exists()]:
        raise UserError(f"{', '.join(existing)}: already exists (choose another --out or remove it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        layered = len(snapshots) == 1
        exports, layout, preview_bytes = (_export_layered if layered else _export_pair)(
            snapshots, folder, fp16, info
        )
        (folder / "preview.png").write_bytes(preview_bytes)
        manifest = build_manifest(info, exports, folder, layout)
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        load_package(folder)  # the runtime's own loader: what we ship is what hosts accept
        if make_zip:
            write_zip(folder, targets[1])
        folder.chmod(0o755)  # mkdtemp makes it private
        folder.rename(out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return manifest


def _export_pair(snapshots: list[Path], folder: Path, fp16: bool, info: PackageInfo):
    """Format 2: a start and a step snapshot."""
    exports = {}
    for snapshot in snapshots:
        e = export_model(snapshot, folder, fp16)
        if e.kind in exports:
            raise UserError(f"{snapshot}: a second {e.kind} snapshot; give one start and one step")
        exports[e.kind] = e
    if set(exports) != {"start", "step"}:
        raise UserError(f"need one sky snapshot, or one start and one step snapshot, got {sorted(exports)}")
    if exports["start"].cfg.resolution_px != exports["step"].cfg.resolution_px:
        raise UserError("the start and step snapshots were trained at different resolutions")
    layout = Layout(2, exports["start"].cfg.resolution_px, CONDITIONS, ROLES, RECURRENCE, {})
    return exports, layout, render_preview(exports["start"].model, exports["step"].model)


def _export_layered(snapshots: list[Path], folder: Path, fp16: bool, info: PackageInfo):
    """Format 3: one LayerSky snapshot -> start, step, decode (CPU resolution), decode_2048."""
    from skyviewer.export import layered
    from skyviewer.train.run import load_snapshot

    (snapshot,) = snapshots
    net, cfg = load_generator(snapshot)
    if cfg.model != "sky":
        raise UserError(f"{snapshot}: a {cfg.model} snapshot alone is not a package; give a start and a step")
    step = load_snapshot(snapshot)[2]
    first, *more = info.decoder_px
    resolutions = {"decode": first, **{f"decode_{px}": px for px in more}}
    exports = {
        g.name: layered.export_graph(g, folder, fp16, cfg, snapshot, step)
        for g in layered.graphs(net, info.step_seconds, resolutions)
    }
    conditions = CONDITIONS + layered.EXTRA_CONDITIONS
    layout = Layout(
        3,
        first,
        conditions,
        layered.ROLES,
        {"step": layered.RECURRENCE},
        {"layers": layered.layers_manifest(net)},
    )
    defaults = {c["name"]: c["default"] for c in conditions}
    frames = layered.preview_frames(net, info.step_seconds, defaults, PREVIEW_STEPS, 256)
    return exports, layout, preview_png(frames)
