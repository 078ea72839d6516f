"""Encoded frame -> linear radiance as an ONNX graph, run on the model's own device.

Every frame a package produces is log-encoded NCHW float32 (sky/radiance.py); hosts upload
(N, N, 3) float16 nits. Doing that conversion in ONNX Runtime rather than numpy is ~5x faster on
the CPU (its Exp is vectorised and threaded; a 1,024 px frame takes ~8 ms against numpy's ~40 ms
on two cores) and on a GPU it keeps the exp, transpose and halving on the device, so only half
the bytes of the float32 frame cross to the host.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from skyviewer.sky.radiance import LogEncoding

OPSET = 15
"""The packages' opset ceiling (runtime/opset.py); these ops are all in opset 13."""


def radiance_graph(encoding: LogEncoding, side: int, dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """(1, 3, side, side) encoded float32 or float16 (`dtype`, an onnx.TensorProto type: fp16
    decoders' frames) -> (1, side, side, 3) float16 nits: LogEncoding.decode, node for node (clip,
    exp(a e + b) - eps, clamp at 0) in float32, then to the hosts' layout."""
    a, b = encoding.natural_exponent()
    constants = {"lo": -1.0, "hi": 1.0, "a": a, "b": b, "eps": encoding.eps}
    nodes = [
        helper.make_node("Cast", ["encoded"], ["encoded32"], to=TensorProto.FLOAT),
        helper.make_node("Clip", ["encoded32", "lo", "hi"], ["clipped"]),
        helper.make_node("Mul", ["clipped", "a"], ["scaled"]),
        helper.make_node("Add", ["scaled", "b"], ["exponent"]),
        helper.make_node("Exp", ["exponent"], ["offset"]),
        helper.make_node("Sub", ["offset", "eps"], ["signed"]),
        helper.make_node("Relu", ["signed"], ["nchw"]),
        helper.make_node("Transpose", ["nchw"], ["nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Cast", ["nhwc"], ["radiance"], to=TensorProto.FLOAT16),
    ]
    graph = helper.make_graph(
        nodes,
        "decode_radiance",
        [helper.make_tensor_value_info("encoded", dtype, [1, 3, side, side])],
        [helper.make_tensor_value_info("radiance", TensorProto.FLOAT16, [1, side, side, 3])],
        [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # what every ONNX Runtime since 1.10 reads
    return model


ONNX_TYPES = {"tensor(float)": TensorProto.FLOAT, "tensor(float16)": TensorProto.FLOAT16}
"""OrtValue.data_type() -> the radiance graph's input type."""


class RadianceDecoder:
    """Runs radiance_graph on the session's providers, one session per frame side and type."""

    def __init__(self, encoding: LogEncoding, providers: list, options: ort.SessionOptions):
        self.encoding = encoding
        self._providers = providers
        self._options = options
        self._sessions: dict[tuple[int, str], tuple[ort.InferenceSession, ort.IOBinding]] = {}

    def _session(self, encoded: ort.OrtValue) -> tuple[ort.InferenceSession, ort.IOBinding]:
        key = (encoded.shape()[-1], encoded.data_type())
        if key not in self._sessions:
            data = radiance_graph(self.encoding, key[0], ONNX_TYPES[key[1]]).SerializeToString()
            session = ort.InferenceSession(data, self._options, providers=self._providers)
            self._sessions[key] = (session, session.io_binding())
        return self._sessions[key]

    def to_host(self, encoded: ort.OrtValue) -> np.ndarray:
        """Encoded (1, 3, N, N) OrtValue (any device) -> a new (N, N, 3) float16 array in nits."""
        side = encoded.shape()[-1]
        out = np.empty((1, side, side, 3), np.float16)
        self._run(encoded, "cpu", out.ctypes.data)
        return out[0]

    def to_device(self, encoded: ort.OrtValue, pointer: int) -> None:
        """Encoded (1, 3, N, N) OrtValue on CUDA -> (N, N, 3) float16 nits at a CUDA `pointer`."""
        self._run(encoded, "cuda", pointer)

    def _run(self, encoded: ort.OrtValue, device: str, pointer: int) -> None:
        side = encoded.shape()[-1]
        session, binding = self._session(encoded)
        binding.bind_ortvalue_input("encoded", encoded)
        binding.bind_output("radiance", device, 0, np.float16, [1, side, side, 3], pointer)
        session.run_with_iobinding(binding)
