"""ONNX models: the workload of an ``.onnx`` graph, and (for ψ) the graph as a torch module.

The hardware side reads the graph with the ``onnx`` package only: after ``onnx``'s shape
inference, every Conv (2-D, grouped and depthwise included), Gemm and MatMul whose weights
are constants becomes a layer. Ops that carry no MACs (activations, pooling, adds, shape
plumbing) are skipped and listed; an op that carries MACs but is not modeled (ConvTranspose,
a MatMul of two activations, an RNN, ...) is an error naming the node.

A layer is named after its weight tensor when the exporter kept the module path
(``layer1.0.conv1.weight`` -> ``layer1.0.conv1``, as ``torch.onnx.export`` does), so a
strategy for the torch model applies to its ONNX export; otherwise after its node.
The accuracy side converts the graph with ``onnx2torch`` (an optional extra) and moves each
layer's module to that same name, so strategies apply unchanged (``hwflow.accuracy.apply``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import onnx
from onnx import defs, numpy_helper, shape_inference, version_converter

from hwflow.errors import HwflowError
from hwflow.workload import Layer, Workload

# Ops whose work is multiply-accumulates; every other op counts as MAC-free here.
MAC_OPS = frozenset({
    "Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "Gemm", "MatMul", "MatMulInteger",
    "QLinearMatMul", "Einsum", "LSTM", "GRU", "RNN", "Attention", "MultiHeadAttention",
    "DeformConv"})
INSTALL_ONNX = "pip install 'hwflow[onnx]'"
ONNX2TORCH_OPSET = 17  # the newest opset onnx2torch 1.5 converts for most ops


class OnnxModelError(HwflowError):
    """An ONNX file hwflow cannot read or model; one line naming the file and node."""


@dataclass(frozen=True)
class OnnxModel:
    """What hwflow needs of one ONNX file: its layers and the shape of its input and output."""

    path: Path
    workload: Workload
    input_shape: tuple[int, int, int]  # (C, H, W) of one frame
    num_classes: int  # the output's channel (or class) dimension
    layer_outputs: tuple[str, ...]  # the output tensor of each layer's node, in order


@lru_cache(maxsize=32)
def _read_cached(path: Path, mtime_ns: int) -> OnnxModel:
    return _Reader(path).model()


def read_onnx(path: str | Path) -> OnnxModel:
    """Read and model ``path`` (cached while the file is unchanged)."""
    path = Path(path).resolve()
    if not path.exists():
        raise OnnxModelError(f"{path}: no such ONNX file")
    return _read_cached(path, path.stat().st_mtime_ns)


def _dims(value: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    tensor = value.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            proto = onnx.load(str(path), load_external_data=False)  # shapes only
        except Exception as exc:  # protobuf raises several unrelated types
            raise OnnxModelError(f"{path}: not a readable ONNX file ({exc.__class__.__name__})") from None
        try:
            proto = shape_inference.infer_shapes(proto, data_prop=True)
        except Exception as exc:
            raise OnnxModelError(f"{path}: onnx shape inference failed: {str(exc).splitlines()[0]}") from None
        self.graph = proto.graph
        self.constants: dict[str, Any] = {i.name: i for i in self.graph.initializer}
        self.aliases: dict[str, str] = {}  # Identity outputs -> their input
        for node in self.graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.constants[node.output[0]] = node.attribute[0].t
            elif node.op_type == "Identity":
                self.aliases[node.output[0]] = node.input[0]
        self.shapes: dict[str, tuple[int | None, ...]] = {}
        for value in (*self.graph.input, *self.graph.value_info, *self.graph.output):
            dims = _dims(value)
            if dims is not None:
                self.shapes[value.name] = dims

    # --- helpers ------------------------------------------------------------------------

    def _where(self, node: onnx.NodeProto, index: int) -> str:
        return f"{self.path}: node {node.name or f'#{index}'} ({node.op_type})"

    def _constant_name(self, name: str) -> str:
        """The tensor behind a chain of Identity nodes."""
        while name in self.aliases:
            name = self.aliases[name]
        return name

    def _constant(self, name: str) -> Any | None:
        return self.constants.get(self._constant_name(name))

    def _shape(self, name: str, where: str) -> tuple[int, ...]:
        dims = self.shapes.get(name)
        if dims is None or any(d is None for d in dims[1:]):
            raise OnnxModelError(f"{where}: shape inference left tensor {name!r} without a "
                                 "static shape; export the model with a fixed input size")
        return tuple(d or 1 for d in dims)

    @staticmethod
    def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    # --- layers -------------------------------------------------------------------------

    def _conv(self, node: onnx.NodeProto, name: str, where: str) -> Layer:
        weight = self._constant(node.input[1])
        if weight is None:
            raise OnnxModelError(f"{where}: weights are not a constant; only constant-weight "
                                 "convolutions are modeled")
        if len(weight.dims) != 4:
            raise OnnxModelError(f"{where}: a {len(weight.dims) - 2}-D convolution; only 2-D "
                                 "ones are modeled")
        a = self._attrs(node)
        c_o, _, k_h, k_w = weight.dims
        x = self._shape(node.input[0], where)
        y = self._shape(node.output[0], where)
        strides, dilations = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
        pads = list(a.get("pads", [0, 0, 0, 0]))
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad not in ("NOTSET", "VALID"):
            pads = self._same_pads(x[2:], y[2:], (k_h, k_w), strides, dilations)
        for attr, value in (("kernel", [k_h, k_w]), ("strides", strides),
                            ("dilations", dilations)):
            if value[0] != value[1]:
                raise OnnxModelError(f"{where}: non-square {attr}={value} is not supported")
        if len(set(pads)) != 1:
            raise OnnxModelError(f"{where}: pads={pads} differ by side; only equal padding on "
                                 "all sides is supported")
        return Layer(name=name, kind="conv", c_i=x[1], c_o=c_o, h_i=x[2], w_i=x[3], h_o=y[2],
                     w_o=y[3], k_h=k_h, k_w=k_w, stride=strides[0], padding=pads[0],
                     dilation=dilations[0], groups=int(a.get("group", 1)))

    @staticmethod
    def _same_pads(x_hw: tuple[int, ...], y_hw: tuple[int, ...], kernel: tuple[int, int],
                   strides: list[int], dilations: list[int]) -> list[int]:
        """auto_pad SAME_*: the padding ONNX implies, as [top, left, bottom, right]."""
        total = [max(0, (o - 1) * s + (k - 1) * d + 1 - i)
                 for i, o, k, s, d in zip(x_hw, y_hw, kernel, strides, dilations)]
        return [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]

    def _linear(self, node: onnx.NodeProto, name: str, where: str) -> Layer:
        a = self._attrs(node) if node.op_type == "Gemm" else {}
        weight = self._constant(node.input[1])
        if weight is None or a.get("transA", 0):
            raise OnnxModelError(f"{where}: multiplies two activations; only products with a "
                                 "constant weight matrix are modeled")
        if len(weight.dims) != 2:
            raise OnnxModelError(f"{where}: a weight of rank {len(weight.dims)}; only 2-D "
                                 "weight matrices are modeled")
        x = self._shape(node.input[0], where)
        if len(x) != 2:
            raise OnnxModelError(f"{where}: input of shape {list(x)}; a weight product over "
                                 "several positions per frame is not modeled (flatten first)")
        k, m = weight.dims if not a.get("transB", 0) else reversed(weight.dims)
        return Layer(name=name, kind="linear", c_i=int(k), c_o=int(m), h_i=1, w_i=1, h_o=1, w_o=1)

    def _layer_name(self, node: onnx.NodeProto, index: int) -> str:
        weight = self._constant_name(node.input[1])
        if weight.endswith(".weight") and re.fullmatch(r"[\w.]+", weight):
            return weight.removesuffix(".weight")  # the torch module path, kept by the exporter
        return re.sub(r"\W+", "_", node.name).strip("_") or f"{node.op_type}_{index}"

    # --- the model ----------------------------------------------------------------------

    def model(self) -> OnnxModel:
        layers: list[Layer] = []
        outputs: list[str] = []
        skipped: Counter[str] = Counter()
        for index, node in enumerate(self.graph.node):
            if node.op_type not in MAC_OPS:
                if node.op_type not in ("Constant", "Identity"):
                    skipped[node.op_type] += 1
                continue
            where = self._where(node, index)
            if node.domain not in ("", "ai.onnx"):
                raise OnnxModelError(f"{where}: op of domain {node.domain!r} is not modeled")
            name = self._layer_name(node, index)
            if node.op_type == "Conv":
                layers.append(self._conv(node, name, where))
            elif node.op_type in ("Gemm", "MatMul"):
                layers.append(self._linear(node, name, where))
            else:
                raise OnnxModelError(f"{where}: carries MACs but hwflow does not model "
                                     f"{node.op_type}; supported: Conv, Gemm, MatMul with "
                                     "constant weights")
            outputs.append(node.output[0])
        if not layers:
            raise OnnxModelError(f"{self.path}: no Conv, Gemm or MatMul with constant weights; "
                                 "nothing to quantize")
        seen: set[str] = set()
        for layer in layers:
            if layer.name in seen:
                raise OnnxModelError(f"{self.path}: two layers are both named {layer.name!r} "
                                     "(one weight used twice, or clashing node names); hwflow "
                                     "needs one weight tensor and name per quantizable layer")
            seen.add(layer.name)
        return OnnxModel(path=self.path,
                         workload=Workload(name=self.path.stem, layers=tuple(layers),
                                           skipped_ops=tuple(f"{op} x{n}" for op, n in
                                                             sorted(skipped.items()))),
                         input_shape=self._input_shape(), num_classes=self._num_classes(),
                         layer_outputs=tuple(outputs))

    def _graph_input(self) -> onnx.ValueInfoProto:
        inputs = [i for i in self.graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise OnnxModelError(f"{self.path}: has {len(inputs)} graph inputs; hwflow models "
                                 "networks with one image input")
        return inputs[0]

    def _input_shape(self) -> tuple[int, int, int]:
        value = self._graph_input()
        dims = self._shape(value.name, f"{self.path}: input {value.name!r}")
        if len(dims) != 4:
            raise OnnxModelError(f"{self.path}: input {value.name!r} has shape {list(dims)}; "
                                 "expected (batch, channels, height, width)")
        return dims[1], dims[2], dims[3]

    def _num_classes(self) -> int:
        value = self.graph.output[0]
        dims = self._shape(value.name, f"{self.path}: output {value.name!r}")
        if len(dims) < 2:
            raise OnnxModelError(f"{self.path}: output {value.name!r} has shape {list(dims)}; "
                                 "expected (batch, classes, ...)")
        return dims[1]


def to_torch(path: str | Path) -> Any:
    """The graph as a ``torch.nn.Module`` (onnx2torch), its layers at the workload's names.

    onnx2torch reads opsets up to 17 for most ops, so a newer graph is first rewritten as
    opset 17 (``_as_opset_17``, else ``onnx``'s version converter where it can). Raises one
    line when onnx2torch is missing or cannot convert the graph, or the module does not run
    on a batch of two (a graph exported with a fixed batch of one); the hardware side never
    needs this.
    """
    model = read_onnx(path)
    try:
        from onnx2torch import convert
    except ImportError:
        raise OnnxModelError(f"{model.path}: accuracy for ONNX models needs onnx2torch; "
                             f"install it with {INSTALL_ONNX}") from None
    proto = _weights_as_initializers(onnx.load(str(model.path)), set(model.layer_outputs))
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset > ONNX2TORCH_OPSET and not _as_opset_17(proto, opset):
        try:
            proto = version_converter.convert_version(proto, ONNX2TORCH_OPSET)
        except Exception:  # no adapter for some op: let onnx2torch try the graph as it is
            pass
    try:
        module = convert(proto, attach_onnx_mapping=True)
        _check_runs(module, model.input_shape)
    except Exception as exc:  # onnx2torch raises NotImplementedError, KeyError, ...
        detail = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise OnnxModelError(
            f"{model.path}: onnx2torch cannot convert this graph (opset {opset}: {detail}); "
            "the hardware side (evaluate, search without accuracy) still works; for accuracy "
            "export with a dynamic batch dimension: torch.onnx.export(model, (x,), path, "
            "dynamic_shapes=({0: torch.export.Dim('batch')},))") from None
    _rename_layers(module, model)
    return module


def _weights_as_initializers(proto: onnx.ModelProto, layer_outputs: set[str]) -> onnx.ModelProto:
    """Constant nodes as initializers, and Identity nodes of initializers bypassed (the
    legacy exporter routes shared weights through them), since onnx2torch reads a layer's
    weights from the initializers only; a MatMul layer becomes the equal Gemm, which
    onnx2torch turns into an ``nn.Linear`` (a MatMul it keeps as a bare product)."""
    graph = proto.graph
    kept = []
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            kept.append(node)
    initializers = {t.name for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    bypass = {n.output[0]: n.input[0] for n in kept if n.op_type == "Identity"
              and n.input[0] in initializers and n.output[0] not in outputs}
    del graph.node[:]
    for node in kept:
        if node.op_type == "Identity" and node.output[0] in bypass:
            continue
        if node.op_type == "MatMul" and node.output[0] in layer_outputs:
            node.op_type = "Gemm"  # (batch, K) x (K, M): the same product
        for i, name in enumerate(node.input):
            node.input[i] = bypass.get(name, name)
        graph.node.append(node)
    return proto


REDUCE_OPS = frozenset({"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                        "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare"})
TYPES_ONLY_SINCE_17 = frozenset({"Identity", "Cast", "CastLike", "Constant", "Shape", "Size",
                                 "Equal"})  # their newer versions only add tensor types


def _as_opset_17(proto: onnx.ModelProto, opset: int) -> bool:
    """Rewrite a graph of opset 18-20 (``torch.onnx.export``'s default) in place as opset 17
    when every newer op means the same in its opset-17 form; False (graph unchanged) when
    one does not. onnx's version converter has no adapter down for several of these."""
    if opset > 20:
        return False
    graph = proto.graph
    constants = {t.name: t for t in graph.initializer}
    edits = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        since = defs.get_schema(node.op_type, max_inclusive_version=opset).since_version
        if since <= ONNX2TORCH_OPSET:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op in TYPES_ONLY_SINCE_17:
            edits.append((node, {"saturate"}, None))  # saturate: float8 casts only
        elif op == "Pad" and len(node.input) <= 3 and attrs.get("mode", b"constant") != b"wrap":
            edits.append((node, set(), None))  # 18 added axes, 19 the wrap mode
        elif op in REDUCE_OPS and len(node.input) == 2 and node.input[1] in constants \
                and not attrs.get("noop_with_empty_axes", 0):  # 18: axes became an input
            axes = numpy_helper.to_array(constants[node.input[1]]).tolist()
            edits.append((node, {"noop_with_empty_axes"}, ("axes", axes)))
        elif op == "Reshape" and (not attrs.get("allowzero", 0) or (
                node.input[1] in constants
                and 0 not in numpy_helper.to_array(constants[node.input[1]]).tolist())):
            edits.append((node, {"allowzero"}, None))  # allowzero matters only for a 0 in shape
        elif op == "AveragePool" and set(attrs.get("dilations", [1])) == {1}:
            edits.append((node, {"dilations"}, None))  # 19 added dilations
        elif op == "Resize" and not attrs.get("antialias", 0) and "axes" not in attrs and \
                attrs.get("keep_aspect_ratio_policy", b"stretch") == b"stretch":
            edits.append((node, {"antialias", "keep_aspect_ratio_policy"}, None))
        else:
            return False
    for node, drop, add in edits:
        kept = [a for a in node.attribute if a.name not in drop]
        del node.attribute[:]
        node.attribute.extend(kept)
        if add is not None:
            del node.input[1:]
            node.attribute.append(onnx.helper.make_attribute(*add))
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = ONNX2TORCH_OPSET
    return True


def _check_runs(module: Any, input_shape: tuple[int, int, int]) -> None:
    """One forward pass on a batch of two: some onnx2torch modules fail only when run, or
    only at another batch size than the exported one (training needs batches)."""
    import torch

    with torch.no_grad():
        module.eval()(torch.zeros((2, *input_shape)))


def _rename_layers(module: Any, model: OnnxModel) -> None:
    """Move each layer's module from onnx2torch's node name to the workload's layer name."""
    import torch

    by_output = dict(zip(model.layer_outputs, model.workload.layer_names))
    for fx_node in module.graph.nodes:
        if fx_node.op != "call_module":
            continue
        layer_module = module.get_submodule(fx_node.target)
        mapping = getattr(layer_module, "onnx_mapping", None)
        name = by_output.get(mapping.outputs[0]) if mapping and mapping.outputs else None
        if name is None:
            continue
        if not isinstance(layer_module, (torch.nn.Conv2d, torch.nn.Linear)):
            raise OnnxModelError(f"{model.path}: onnx2torch turned layer {name!r} into a "
                                 f"{type(layer_module).__name__}, not a Conv2d or Linear, so "
                                 "it cannot be quantized; the hardware side still works")
        del layer_module.onnx_mapping
        module.delete_submodule(fx_node.target)
        module.add_submodule(name, layer_module)
        fx_node.target = name
    module.recompile()
