"""Build the ONNX graph of a BERT sentence encoder (all-MiniLM-L6-v2) from its weights, and quantise it.

The graph is written with ONNX Runtime's fused BERT operators (com.microsoft domain), the same
ones its own transformer optimiser produces from an exported model: `EmbedLayerNormalization`,
`Attention`, `SkipLayerNormalization` and `BiasGelu` (exact erf GELU, as in the model). Mean
pooling over the mask and L2 normalisation are in the graph, so one `run` returns the sentence
vectors. `quantize_dynamic` then stores the matrices (and the word embeddings) as int8 and
quantises activations per call: a pass then reads ~23 MB instead of ~90 MB, which is what makes it
fast on a memory-bound CPU (see docs/routing-tools.md, "The encoder").

This module needs `onnx` and `onnxruntime.quantization`; it runs once per machine and weights
(the result is cached on disk by `encoding.model`), never per step.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported lazily at run time: only the one-off build needs onnx
    import onnx

OPSET = 17


@dataclass(frozen=True, slots=True)
class BertShape:
    layers: int
    hidden: int
    heads: int
    eps: float

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> BertShape:
        def num(key: str) -> float:
            value = config.get(key)
            if not isinstance(value, (int, float)):
                raise ValueError(f"the model's config.json has no numeric {key!r}")
            return float(value)

        if config.get("model_type") != "bert":
            raise ValueError(f"model_type is {config.get('model_type')!r}, only 'bert' is supported")
        return cls(
            int(num("num_hidden_layers")),
            int(num("hidden_size")),
            int(num("num_attention_heads")),
            num("layer_norm_eps"),
        )


def build_fp32(weights: Mapping[str, np.ndarray], shape: BertShape) -> onnx.ModelProto:
    """The fp32 ONNX model (an `onnx.ModelProto`): inputs `input_ids`, `attention_mask` (int32,
    [batch, seq], right-padded); output `embedding` ([batch, hidden], unit length)."""
    from onnx import TensorProto, helper, numpy_helper

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def w(key: str) -> np.ndarray:
        if key not in weights:
            raise ValueError(f"the weights have no tensor {key!r}")
        return weights[key].astype(np.float32)

    ms = "com.microsoft"
    # Token type 0 for every token (single-sentence inputs): its row is folded into the positions.
    positions = w("embeddings.position_embeddings.weight") + w("embeddings.token_type_embeddings.weight")[0]
    nodes.append(
        helper.make_node(
            "EmbedLayerNormalization",
            [
                "input_ids",
                "",
                const("word_embeddings", w("embeddings.word_embeddings.weight")),
                const("position_embeddings", positions),
                "",
                const("emb_ln_g", w("embeddings.LayerNorm.weight")),
                const("emb_ln_b", w("embeddings.LayerNorm.bias")),
                "attention_mask",
            ],
            ["h0", "mask_index"],
            domain=ms,
            epsilon=shape.eps,
            name="embed",
        )
    )
    x = "h0"
    for i in range(shape.layers):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate([w(p + f"attention.self.{m}.weight").T for m in ("query", "key", "value")], axis=1)
        qkv_b = np.concatenate([w(p + f"attention.self.{m}.bias") for m in ("query", "key", "value")])
        nodes.append(
            helper.make_node(
                "Attention",
                [x, const(f"l{i}_qkv_w", qkv_w), const(f"l{i}_qkv_b", qkv_b), "mask_index"],
                [f"l{i}_att"],
                domain=ms,
                num_heads=shape.heads,
                name=f"l{i}_attention",
            )
        )
        nodes.append(
            helper.make_node(
                "MatMul",
                [f"l{i}_att", const(f"l{i}_ao_w", w(p + "attention.output.dense.weight").T)],
                [f"l{i}_ao"],
                name=f"l{i}_attention_out",
            )
        )
        nodes.append(
            helper.make_node(
                "SkipLayerNormalization",
                [
                    f"l{i}_ao",
                    x,
                    const(f"l{i}_ln1_g", w(p + "attention.output.LayerNorm.weight")),
                    const(f"l{i}_ln1_b", w(p + "attention.output.LayerNorm.bias")),
                    const(f"l{i}_ao_b", w(p + "attention.output.dense.bias")),
                ],
                [f"l{i}_h1"],
                domain=ms,
                epsilon=shape.eps,
                name=f"l{i}_ln1",
            )
        )
        nodes.append(
            helper.make_node(
                "MatMul",
                [f"l{i}_h1", const(f"l{i}_in_w", w(p + "intermediate.dense.weight").T)],
                [f"l{i}_in"],
                name=f"l{i}_intermediate",
            )
        )
        nodes.append(
            helper.make_node(
                "BiasGelu",
                [f"l{i}_in", const(f"l{i}_in_b", w(p + "intermediate.dense.bias"))],
                [f"l{i}_gelu"],
                domain=ms,
                name=f"l{i}_gelu",
            )
        )
        nodes.append(
            helper.make_node(
                "MatMul",
                [f"l{i}_gelu", const(f"l{i}_out_w", w(p + "output.dense.weight").T)],
                [f"l{i}_out"],
                name=f"l{i}_output",
            )
        )
        nodes.append(
            helper.make_node(
                "SkipLayerNormalization",
                [
                    f"l{i}_out",
                    f"l{i}_h1",
                    const(f"l{i}_ln2_g", w(p + "output.LayerNorm.weight")),
                    const(f"l{i}_ln2_b", w(p + "output.LayerNorm.bias")),
                    const(f"l{i}_out_b", w(p + "output.dense.bias")),
                ],
                [f"l{i}_h2"],
                domain=ms,
                epsilon=shape.eps,
                name=f"l{i}_ln2",
            )
        )
        x = f"l{i}_h2"
    # Mean over the real tokens (padding excluded), then unit length: sentence-transformers'
    # Pooling(mean) + Normalize, the model's published head.
    nodes += [
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", const("axis2", np.array([2], dtype=np.int64))], ["mask3"]),
        helper.make_node("Mul", [x, "mask3"], ["masked"]),
        helper.make_node(
            "ReduceSum", ["masked", const("axis1", np.array([1], dtype=np.int64))], ["summed"], keepdims=0
        ),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", const("min_count", np.array([1e-9], dtype=np.float32))], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["mean"]),
        helper.make_node("LpNormalization", ["mean"], ["embedding"], axis=-1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "sentence_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT32, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", shape.hidden])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(ms, 1)], producer_name="mcproute"
    )
    model.ir_version = 8  # readable by every onnxruntime the dependency range allows
    return model


def quantise(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic int8 quantisation (weights int8 once, activations per call) of a saved fp32 model."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    hush = _DropPreprocessAdvice()
    root.addFilter(hush)  # the quantiser advises "pre-processing" on the root logger, every time
    try:
        # Per-channel weight scales: per-tensor ones put single sentences as low as cosine 0.92
        # from fp32 on a 40-sentence check; per-channel ones keep them >= 0.987 at the same speed.
        # Shape inference does not know the com.microsoft operators; every tensor here is float.
        quantize_dynamic(
            str(fp32_path),
            str(int8_path),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(hush)


class _DropPreprocessAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()
