"""SkyModel: play a sky package with ONNX Runtime (no torch).

    sky = SkyModel("default")                 # a name in models/ or the user folder, or a path
    sky.set_conditions(sun_dir=(0.3, 0.6, -0.74), cloud_cover=0.4)
    sky.reset(seed=1)                         # start.onnx draws the first frame
    frame = sky.step()                        # (N, N, 3) float16 linear radiance, step_seconds later

Everything is driven by the manifest's tensor roles, not by hard-coded names: latent and
noise inputs get seeded N(0, 1) draws, conditions get the values set by the host, and the
step model's recurrent inputs (its state) get the previous step's outputs. Those recurrent
tensors and the newest frame live as OrtValues on the session's device and are bound with
I/O binding, double-buffered: on CUDA/TensorRT frames and state never visit host memory
between steps (only the small noise and condition vectors are uploaded). The CPU path is
the same code with device "cpu".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from skyviewer.runtime.package import SkyPackage, decode_resolution, load_package
from skyviewer.runtime.providers import is_gpu, resolve_providers, session_providers
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
    """One ONNX session, its manifest entry, and an I/O binding reused every run."""

    def __init__(self, package: SkyPackage, model: str, precision: str, providers: list[str], spinning: bool):
        data = package.files[package.model_file(model, precision)]
        options = session_options(spinning)
        self.session = ort.InferenceSession(data, options, providers=session_providers(providers))
        self.spec = package.manifest["models"][model]
        self.binding = self.session.io_binding()

    def run(self, inputs: dict[str, np.ndarray | ort.OrtValue], outputs: dict[str, ort.OrtValue]) -> None:
        """Run with host arrays (uploaded) and device OrtValues as inputs, writing into `outputs`."""
        b = self.binding
        b.clear_binding_inputs()
        b.clear_binding_outputs()
        for name, value in inputs.items():
            if isinstance(value, ort.OrtValue):
                b.bind_ortvalue_input(name, value)
            else:
                b.bind_cpu_input(name, value)
        for name, value in outputs.items():
            b.bind_ortvalue_output(name, value)
        self.session.run_with_iobinding(b)


class SkyModel:
    """A loaded sky package, ready to draw a start sky and step it forward."""

    def __init__(
        self,
        package: SkyPackage | str,
        providers: str | Sequence[str] = "auto",
        precision: str = "fp32",
        resolution: int | None = None,
        spinning: bool = True,
    ):
        """package: a SkyPackage, a path, or a package name. providers: "auto", "cpu", "cuda",
        "tensorrt" or ONNX Runtime names (see providers.resolve_providers). precision: "fp32" or
        "fp16" (the package's fp16 variant, same inputs and outputs; format 3 keeps its state graphs
        in fp32). resolution: format 3, the frame side to decode (one of decoders(); default: the
        largest on a GPU, the package's own on the CPU). spinning: see session_options (the viewer
        passes False)."""
        self.package = package if isinstance(package, SkyPackage) else load_package(package)
        self.manifest = self.package.manifest
        self.layered = "decode" in self.manifest["models"]
        """Format 3: start and step carry a small state; a decoder draws each frame from it."""
        chosen = resolve_providers(providers)
        state_precision = "fp32" if self.layered else precision
        self._start = _Graph(self.package, "start", state_precision, chosen, spinning)
        self._step = _Graph(self.package, "step", state_precision, chosen, spinning)
        self.provider = self._step.session.get_providers()[0]
        """The provider the step model actually runs on."""
        self.device = "cuda" if is_gpu(self.provider) else "cpu"
        self._decode = (
            _Graph(self.package, self._decoder_name(resolution), precision, chosen, spinning)
            if self.layered
            else None
        )
        enc = self.manifest["radiance"]["encoding"]
        self.encoding = LogEncoding(eps=enc["eps"], x_max=enc["x_max"])
        self._radiance = RadianceDecoder(self.encoding, session_providers(chosen), session_options(spinning))
        self._ranges = {c["name"]: c for c in self.manifest["conditions"]}
        self._next = {c["name"]: np.asarray(c["default"], np.float32) for c in self.manifest["conditions"]}
        self._now = dict(self._next)
        self._values: dict[str, ort.OrtValue] = {}
        self._spares: dict[str, ort.OrtValue] = {}
        self._frame: ort.OrtValue | None = None
        self._frame_spare: ort.OrtValue | None = None
        self._rng = np.random.default_rng(0)
        self.steps = 0
        """Steps taken since the last reset."""

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
        start_out = {t["name"]: self._empty(t) for t in self._start.spec["outputs"]}
        self._start.run(self._host_inputs(self._start.spec), start_out)
        self._values, self._spares = {}, {}
        for r in self._step.spec["recurrence"]:
            tensor = next(t for t in self._step.spec["inputs"] if t["name"] == r["input"])
            initial = r["initial"]
            if isinstance(initial, str):
                self._values[r["input"]] = start_out[initial.removeprefix("start:")]
            else:
                fill = np.full(tensor["shape"], initial, np.dtype(tensor["dtype"]))
                self._values[r["input"]] = ort.OrtValue.ortvalue_from_numpy(fill, self.device, 0)
            self._spares[r["input"]] = self._empty(tensor)
        if self._decode is None:
            self._frame = start_out[_frame_tensor(self._start.spec["outputs"])["name"]]
            self._frame_spare = self._empty(_frame_tensor(self._step.spec["outputs"]))
        else:
            frame = _frame_tensor(self._decode.spec["outputs"])
            self._frame, self._frame_spare = self._empty(frame), self._empty(frame)
            self._draw()
        self.steps = 0

    def step_encoded(self) -> ort.OrtValue:
        """Advance one step; the new frame (1, 3, N, N), encoded, as an OrtValue on the device.

        Zero-copy: the value is one of two buffers the model alternates between, so it is
        overwritten by the step after next -- use (or copy) it before then."""
        if self._frame is None:
            raise RuntimeError("call reset(seed) before step()")
        spec = self._step.spec
        inputs = {**self._host_inputs(spec), **self._values}
        outputs = {r["output"]: self._spares[r["input"]] for r in spec["recurrence"]}
        if self._decode is None:
            outputs[_frame_tensor(spec["outputs"])["name"]] = self._frame_spare
        self._step.run(inputs, outputs)
        self._values, self._spares = self._spares, self._values
        self._now = dict(self._next)
        if self._decode is None:
            self._frame, self._frame_spare = self._frame_spare, self._frame
        else:
            self._draw()
        self.steps += 1
        return self._frame

    def _draw(self) -> None:
        """Format 3: decode the current state under the current conditions into the spare frame
        buffer and make it current, so frames alternate between two buffers as in format 2."""
        spec = self._decode.spec
        states = {t["name"]: self._values[t["name"]] for t in spec["inputs"] if t["role"] == "state"}
        self._decode.run(
            {**self._host_inputs(spec), **states}, {_frame_tensor(spec["outputs"])["name"]: self._frame_spare}
        )
        self._frame, self._frame_spare = self._frame_spare, self._frame

    def step(self) -> np.ndarray:
        """Advance one step; the new frame as (N, N, 3) float16 linear radiance (nits)."""
        return self.decode(self.step_encoded())

    def frame_encoded(self) -> ort.OrtValue:
        """The current frame (after reset: the start sky), encoded, as an OrtValue on the device."""
        if self._frame is None:
            raise RuntimeError("call reset(seed) first")
        return self._frame

    def frame(self) -> np.ndarray:
        """The current frame (after reset: the start sky) as (N, N, 3) float16 linear radiance."""
        return self.decode(self.frame_encoded())

    def decode(self, value: ort.OrtValue) -> np.ndarray:
        """Encoded (1, 3, N, N) OrtValue -> (N, N, 3) float16 linear radiance on the host (a new
        array), converted on the model's device."""
        return self._radiance.to_host(value)

    # ------------------------------------------------------------ helpers

    def _empty(self, tensor: dict) -> ort.OrtValue:
        return ort.OrtValue.ortvalue_from_shape_and_type(
            tensor["shape"], np.dtype(tensor["dtype"]), self.device, 0
        )

    def _host_inputs(self, spec: dict) -> dict[str, np.ndarray]:
        """Latent, noise and condition inputs of one run, in manifest order (so seeded draws repeat)."""
        inputs = {}
        for t in spec["inputs"]:
            dtype = np.dtype(t["dtype"])
            if t["role"] in ("latent", "noise"):
                inputs[t["name"]] = self._rng.standard_normal(t["shape"], np.float32).astype(dtype)
            elif t["role"] == "condition":
                values = self._now if t["at"] == "current" else self._next
                inputs[t["name"]] = values[t["condition"]].reshape(t["shape"]).astype(dtype)
        return inputs


def _frame_tensor(tensors: list[dict]) -> dict:
    """The one tensor with role "frame" among a model's outputs (the package check ensures it)."""
    return next(t for t in tensors if t["role"] == "frame")
