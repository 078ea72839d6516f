"""The ONNX op set a sky package may use: what Unity's Inference Engine and Unreal's NNE import.

Unreal's NNE runs models through ONNX Runtime (NNERuntimeORT), which implements every
operator of the default `ai.onnx` domain on its CPU provider (ONNX Runtime's
docs/OperatorKernels.md), so for Unreal the rule is "default domain only, no custom ops".
Unity's Inference Engine imports opsets 7-15 and a listed subset of operators; that list is
the binding constraint and is written down below.

Source: Unity Inference Engine 2.3 manual, "Supported ONNX operators"
(docs.unity3d.com/Packages/com.unity.ai.inference@2.3/manual/supported-operators.html).
Operators whose notes there restrict attributes we do not rely on are listed; operators
Inference Engine imports only partially or as no-ops in a way that would change results
(e.g. training-mode Dropout) are left out on purpose.
"""

from __future__ import annotations

from collections import Counter

import onnx

MIN_OPSET = 7
MAX_OPSET = 15
"""Inference Engine documents opsets 7-15; ONNX Runtime imports all of them."""

UNITY_INFERENCE_ENGINE_OPS = frozenset(
    """
    Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization
    Bernoulli Cast CastLike Ceil Celu Clip Compress Concat Constant ConstantOfShape Conv
    ConvTranspose Cos Cosh CumSum DepthToSpace Div Einsum Elu Equal Erf Exp Expand Flatten Floor
    Gather GatherElements GatherND Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual
    HardSigmoid HardSwish Hardmax Identity InstanceNormalization IsInf IsNaN LRN LayerNormalization
    LeakyRelu Less LessOrEqual Log LogSoftmax MatMul Max MaxPool Mean Min Mod Mul Multinomial Neg
    NonMaxSuppression NonZero Not OneHot Or PRelu Pad Pow RandomNormal RandomNormalLike
    RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum
    ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu
    Reshape Resize RoiAlign Round ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin
    Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh
    ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor
    """.split()
)

DEFAULT_DOMAINS = ("", "ai.onnx")
"""The standard operator domain; anything else is a custom op no engine is guaranteed to have."""


def opset_of(model: onnx.ModelProto) -> int | None:
    """The model's default-domain opset version (None when it imports none)."""
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    return max(versions, default=None)


def op_set_problems(model: onnx.ModelProto) -> list[str]:
    """Why the engines could not import `model`: opset out of range, custom domains, unlisted ops.

    Empty when the model is fine. Looks inside subgraphs (If/Loop bodies) too.
    """
    problems = []
    opset = opset_of(model)
    if opset is None or not MIN_OPSET <= opset <= MAX_OPSET:
        problems.append(f"opset {opset} is outside {MIN_OPSET}-{MAX_OPSET}")
    if custom := sorted({o.domain for o in model.opset_import if o.domain not in DEFAULT_DOMAINS}):
        problems.append(f"custom op domains {custom}")
    ops = used_ops(model.graph)
    if unsupported := sorted(set(ops) - UNITY_INFERENCE_ENGINE_OPS):
        problems.append(f"ops Unity Inference Engine does not import: {unsupported}")
    return problems


def used_ops(graph: onnx.GraphProto) -> Counter:
    """How often each op type appears in `graph` and its subgraphs."""
    ops: Counter = Counter()
    for node in graph.node:
        ops[node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}::{node.op_type}"] += 1
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.type in (attr.GRAPH, attr.GRAPHS) else []:
                ops.update(used_ops(sub))
    return ops
