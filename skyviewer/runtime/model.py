"""SkyModel: play a sky package with ONNX Runtime (no torch).

    sky = SkyModel("default")                 # a name in models/ or the user folder, or a path
    sky.set_conditions(sun_dir=(0.3, 0.6, -0.74), cloud_cover=0.4)
    sky.reset(seed=1)                         # start.onnx draws the first frame
    frame = sky.step()                        # (N, N, 3) float16 linear radiance, step_seconds later

Everything is driven by the manifest's tensor roles, not by hard-coded names: latent and
noise inputs get seeded N(0, 1) draws, conditions get the values set by the host, and the
step model's recurrent inputs (its state) get the previous step's outputs.

Every tensor a graph reads or writes lives in an OrtValue allocated once on the session's
device: the recurrent state and the frames in two sets the model alternates between, the host's
draws and conditions copied into their own buffers in place. So on CUDA frames and state never
visit host memory between steps, and the step and the decoder always run on the same two sets
of addresses, which is what lets ONNX Runtime capture each as a CUDA graph and replay it (one
launch instead of hundreds of small kernels; `SkyModel.graph_capture`). The CPU path is the same code
with device "cpu".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from skyviewer.runtime.package import SkyPackage, decode_resolution, load_package
from skyviewer.runtime.providers import CUDA, is_gpu, resolve_providers, session_providers
from skyviewer.runtime.radiance_graph import RadianceDecoder
from skyviewer.sky.radiance import LogEncoding

LOG_SEVERITY = 3
"""Sessions log errors only: ONNX Runtime's warnings about unused initializers are noise here."""


def session_options(spinning: bool = True) -> ort.SessionOptions:
    """The options of every session a SkyModel runs. spinning: idle intra-op threads spin between a
    run's operators (ONNX Runtime's default: the default's 1,024 px decode 42 against 50 ms on two
    cores) instead of sleeping. A host whose renderer shares the cores turns it off: the viewer's
    (llvmpipe's threads where there is no GPU) needs them between steps more than a step needs a
    hot pool."""
    options = ort.SessionOptions()
    options.log_severity_level = LOG_SEVERITY
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


class _Graph:
    """One ONNX session, its manifest entry, and one I/O binding per set of buffers it runs on.

    A binding is made the first time a key runs and reused after: a captured CUDA graph replays
    the addresses it was captured with, so a key must always come with the same OrtValues (run()
    checks, rather than let a replay read stale buffers). Key None binds afresh each run."""

    def __init__(
        self,
        package: SkyPackage,
        model: str,
        precision: str,
        providers: list[str],
        spinning: bool,
        capture: bool,
    ):
        data = package.files[package.model_file(model, precision)]
        self.session, self.capture = _session(data, session_options(spinning), providers, capture)
        self.name, self.spec = model, package.manifest["models"][model]
        self.host_values = {
            t["name"]: _empty(t, _device(self.session))
            for t in self.spec["inputs"]
            if t["role"] in HOST_ROLES
        }
        """Buffers for the latent, noise and condition inputs, filled from the host before each run."""
        self._bindings: dict[int, tuple[ort.IOBinding, ort.RunOptions, tuple[int, ...]]] = {}

    def run(self, values: dict[str, ort.OrtValue], key: int | None = None) -> None:
        """Run with `values` bound by name (inputs and outputs, all OrtValues on the device)."""
        if key is None:
            binding, options = self._bind(values), None
        else:
            if key not in self._bindings:
                self._bindings[key] = (self._bind(values), _graph_run_options(key), _identity(values))
            binding, options, bound = self._bindings[key]
            if bound != _identity(values):
                raise RuntimeError(f"{self.name}: buffer set {key} bound to other buffers")
        self.session.run_with_iobinding(binding, options)

    def _bind(self, values: dict[str, ort.OrtValue]) -> ort.IOBinding:
        binding = self.session.io_binding()
        for t in self.spec["inputs"]:
            binding.bind_ortvalue_input(t["name"], values[t["name"]])
        for t in self.spec["outputs"]:
            binding.bind_ortvalue_output(t["name"], values[t["name"]])
        return binding


HOST_ROLES = ("latent", "noise", "condition")
"""Inputs the host fills each run (everything else is state or frames already on the device)."""


def _identity(values: dict[str, ort.OrtValue]) -> tuple[int, ...]:
    return tuple(id(v) for v in values.values())


def _graph_run_options(key: int) -> ort.RunOptions:
    """Run options naming CUDA graph `key + 1` (0 is ONNX Runtime's own; sessions that do not
    capture ignore it)."""
    options = ort.RunOptions()
    options.add_run_config_entry("gpu_graph_id", str(key + 1))
    return options


def _session(data: bytes, options: ort.SessionOptions, providers: list[str], capture: bool):
    """(session, what became of the capture): CUDA graph capture where asked and the session's
    first provider is CUDA; a graph the CUDA provider cannot capture whole (a node left on the CPU)
    fails to load that way, and then loads without it, saying why."""
    if not (capture and providers[0] == CUDA):
        return ort.InferenceSession(data, options, providers=session_providers(providers)), "off"
    captured = [(CUDA, {"enable_cuda_graph": "1"})] + session_providers(providers[1:])
    try:
        return ort.InferenceSession(data, options, providers=captured), "CUDA graph"
    except Exception as exc:  # ONNX Runtime raises its own Fail/RuntimeException types
        reason = str(exc).splitlines()[0][:120]
        return ort.InferenceSession(data, options, providers=session_providers(providers)), f"off: {reason}"


def _device(session: ort.InferenceSession) -> str:
    return "cuda" if is_gpu(session.get_providers()[0]) else "cpu"


def _empty(tensor: dict, device: str) -> ort.OrtValue:
    return ort.OrtValue.ortvalue_from_shape_and_type(tensor["shape"], np.dtype(tensor["dtype"]), device, 0)


class SkyModel:
    """A loaded sky package, ready to draw a start sky and step it forward."""

    def __init__(
        self,
        package: SkyPackage | str,
        providers: str | Sequence[str] = "auto",
        precision: str = "fp32",
        resolution: int | None = None,
        spinning: bool = True,
        cuda_graphs: bool = True,
    ):
        """package: a SkyPackage, a path, or a package name. providers: "auto", "cpu", "cuda",
        "tensorrt" or ONNX Runtime names (see providers.resolve_providers). precision: "fp32" or
        "fp16" (the package's fp16 variant, same inputs and outputs; format 3 keeps its state graphs
        in fp32). resolution: format 3, the frame side to decode (one of decoders(); default: the
        largest on a GPU, the package's own on the CPU). spinning: see session_options (the viewer
        passes False). cuda_graphs: on CUDA, capture the step and the decoder as CUDA graphs
        (graph_capture says whether they were)."""
        self.package = package if isinstance(package, SkyPackage) else load_package(package)
        self.manifest = self.package.manifest
        self.layered = "decode" in self.manifest["models"]
        """Format 3: start and step carry a small state; a decoder draws each frame from it."""
        chosen = resolve_providers(providers)
        state_precision = "fp32" if self.layered else precision
        self._start = _Graph(self.package, "start", state_precision, chosen, spinning, capture=False)
        self._step = _Graph(self.package, "step", state_precision, chosen, spinning, cuda_graphs)
        self.provider = self._step.session.get_providers()[0]
        """The provider the step model actually runs on."""
        self.device = "cuda" if is_gpu(self.provider) else "cpu"
        self._decode = (
            _Graph(self.package, self._decoder_name(resolution), precision, chosen, spinning, cuda_graphs)
            if self.layered
            else None
        )
        enc = self.manifest["radiance"]["encoding"]
        self.encoding = LogEncoding(eps=enc["eps"], x_max=enc["x_max"])
        self._radiance = RadianceDecoder(self.encoding, session_providers(chosen), session_options(spinning))
        self._ranges = {c["name"]: c for c in self.manifest["conditions"]}
        self._next = {c["name"]: np.asarray(c["default"], np.float32) for c in self.manifest["conditions"]}
        self._now = dict(self._next)
        step = self._step.spec
        state = {r["input"]: _tensor(step["inputs"], r["input"]) for r in step["recurrence"]}
        self._states = [{name: _empty(t, self.device) for name, t in state.items()} for _ in range(2)]
        frame = _frame_tensor((self._decode or self._step).spec["outputs"])
        self._frames = [_empty(frame, self.device) for _ in range(2)]
        self._set = 0
        """Which of the two sets holds the current state and frame (the other takes the next)."""
        self._started = False
        self._rng = np.random.default_rng(0)
        self.steps = 0
        """Steps taken since the last reset."""

    @property
    def graph_capture(self) -> str:
        """Whether the step and the decoder replay as CUDA graphs: "CUDA graph", "off" (not asked,
        or not on CUDA), or "off: why" (the CUDA provider could not capture the graph)."""
        graphs = [g for g in (self._step, self._decode) if g is not None]
        return next((g.capture for g in graphs if g.capture != "CUDA graph"), "CUDA graph")

    def decoders(self) -> dict[int, str]:
        """Format 3: output side (px) -> decoder model name; format 2: the frame's own side."""
        if not self.layered:
            return {self.package.resolution: "step"}
        return {
            decode_resolution(self.manifest, m): m for m in self.manifest["models"] if m.startswith("decode")
        }

    def _decoder_name(self, resolution: int | None) -> str:
        available = self.decoders()
        if resolution is None:
            return available[max(available)] if self.device == "cuda" else "decode"
        if resolution not in available:
            raise ValueError(
                f"{self.package.source}: no decoder for {resolution} px; it has {sorted(available)}"
            )
        return available[resolution]

    @property
    def resolution(self) -> int:
        """Side of the frames this model produces."""
        if self._decode is None:
            return self.package.resolution
        return int(_frame_tensor(self._decode.spec["outputs"])["shape"][-1])

    @property
    def step_seconds(self) -> float:
        """Sky time each step() advances."""
        return float(self.manifest["step_seconds"])

    # ------------------------------------------------------------ conditions

    def set_conditions(self, **values) -> None:
        """Conditions for the frame the next step() (or reset()) produces, e.g. sun_dir=(x, y, z),
        cloud_cover=0.4. Unset conditions keep their last value. The sun direction is normalised."""
        for name, value in values.items():
            spec = self._ranges.get(name)
            if spec is None:
                raise KeyError(f"unknown condition {name!r}; this package has {sorted(self._ranges)}")
            v = np.asarray(value, np.float32).reshape(-1)
            if v.shape != tuple(spec["shape"]):
                raise ValueError(f"{name}: expected {spec['shape'][0]} values, got {v.size}")
            if name == "sun_dir":
                v = v / max(float(np.linalg.norm(v)), 1e-12)
            lo, hi = spec["range"]
            if not np.all((v >= lo) & (v <= hi)):
                raise ValueError(f"{name}: {v.tolist()} is outside its range [{lo}, {hi}]")
            self._next[name] = v

    def conditions(self) -> dict[str, np.ndarray]:
        """The conditions of the current frame."""
        return dict(self._now)

    # ------------------------------------------------------------ running

    def reset(self, seed: int) -> None:
        """Draw a new start sky (seeded) under the set conditions; the recurrent state starts fresh."""
        self._rng = np.random.default_rng(seed)
        self._now = dict(self._next)
        self._set, state = 0, self._states[0]
        spec = self._step.spec
        written = {r["initial"].removeprefix("start:"): state[r["input"]] for r in spec["recurrence"]
                   if isinstance(r["initial"], str)}  # fmt: skip
        if self._decode is None:
            written[_frame_tensor(self._start.spec["outputs"])["name"]] = self._frames[0]
        outputs = {
            t["name"]: written[t["name"]] if t["name"] in written else _empty(t, self.device)
            for t in self._start.spec["outputs"]
        }
        self._start.run({**self._host_inputs(self._start), **outputs})
        for r in spec["recurrence"]:
            if not isinstance(r["initial"], str):
                tensor = _tensor(spec["inputs"], r["input"])
                state[r["input"]].update_inplace(
                    np.full(tensor["shape"], r["initial"], np.dtype(tensor["dtype"]))
                )
        if self._decode is not None:
            self._draw()
        self._started = True
        self.steps = 0

    def step_encoded(self) -> ort.OrtValue:
        """Advance one step; the new frame (1, 3, N, N), encoded, as an OrtValue on the device.

        Zero-copy: the value is one of two buffers the model alternates between, so it is
        overwritten by the step after next (or a reset) -- use (or copy) it before then."""
        if not self._started:
            raise RuntimeError("call reset(seed) before step()")
        spec, now, after = self._step.spec, self._set, 1 - self._set
        outputs = {r["output"]: self._states[after][r["input"]] for r in spec["recurrence"]}
        if self._decode is None:
            outputs[_frame_tensor(spec["outputs"])["name"]] = self._frames[after]
        self._step.run({**self._host_inputs(self._step), **self._states[now], **outputs}, key=now)
        self._set = after
        self._now = dict(self._next)
        if self._decode is not None:
            self._draw()
        self.steps += 1
        return self._frames[self._set]

    def _draw(self) -> None:
        """Format 3: decode the current state under the current conditions into the current set's
        frame, so frames alternate between two buffers as in format 2."""
        spec = self._decode.spec
        states = {
            t["name"]: self._states[self._set][t["name"]] for t in spec["inputs"] if t["role"] == "state"
        }
        frame = {_frame_tensor(spec["outputs"])["name"]: self._frames[self._set]}
        self._decode.run({**self._host_inputs(self._decode), **states, **frame}, key=self._set)

    def step(self) -> np.ndarray:
        """Advance one step; the new frame as (N, N, 3) float16 linear radiance (nits)."""
        return self.decode(self.step_encoded())

    def frame_encoded(self) -> ort.OrtValue:
        """The current frame (after reset: the start sky), encoded, as an OrtValue on the device.

        Zero-copy, like step_encoded(): one of the model's two frame buffers, which the step after
        next and the next reset draw into -- copy it to keep it (`.numpy()` is a view on the CPU)."""
        if not self._started:
            raise RuntimeError("call reset(seed) first")
        return self._frames[self._set]

    def frame(self) -> np.ndarray:
        """The current frame (after reset: the start sky) as (N, N, 3) float16 linear radiance."""
        return self.decode(self.frame_encoded())

    def decode(self, value: ort.OrtValue) -> np.ndarray:
        """Encoded (1, 3, N, N) OrtValue -> (N, N, 3) float16 linear radiance on the host (a new
        array), converted on the model's device."""
        return self._radiance.to_host(value)

    def decode_into(self, value: ort.OrtValue, device_pointer: int) -> None:
        """Encoded (1, 3, N, N) OrtValue on the GPU -> (N, N, 3) float16 nits written at
        `device_pointer` (CUDA memory of N * N * 6 bytes, e.g. a mapped OpenGL pixel buffer:
        render/textures.py gpu_frames), converted on the device; nothing crosses to the host."""
        if self.device != "cuda":
            raise RuntimeError(f"decode_into needs the model on CUDA; it runs on {self.provider}")
        self._radiance.to_device(value, device_pointer)

    # ------------------------------------------------------------ helpers

    def _host_inputs(self, graph: _Graph) -> dict[str, ort.OrtValue]:
        """Latent, noise and condition inputs of one run copied into the graph's buffers, drawn in
        manifest order (so seeded draws repeat)."""
        for t in graph.spec["inputs"]:
            dtype = np.dtype(t["dtype"])
            if t["role"] in ("latent", "noise"):
                value = self._rng.standard_normal(t["shape"], np.float32).astype(dtype)
            elif t["role"] == "condition":
                values = self._now if t["at"] == "current" else self._next
                value = values[t["condition"]].reshape(t["shape"]).astype(dtype)
            else:
                continue
            graph.host_values[t["name"]].update_inplace(value)
        return graph.host_values


def _tensor(tensors: list[dict], name: str) -> dict:
    return next(t for t in tensors if t["name"] == name)


def _frame_tensor(tensors: list[dict]) -> dict:
    """The one tensor with role "frame" among a model's outputs (the package check ensures it)."""
    return next(t for t in tensors if t["role"] == "frame")
