"""Network description shared by the float model, the quantiser and ``pynq-depth info``.

The network is described once, as a flat list of :class:`Node` objects (a tiny
graph IR in execution order).  The torch model (:mod:`pynq_depth.model`)
interprets this list with float parameters; the quantiser lowers each node to an
accelerator command.  Nothing here imports torch, so ``info`` works on a board.

Node names are torch module paths, so state dicts use torchvision's MobileNetV2
key names (``encoder.original_model.features.3.conv.1.0.weight``) and the public
DenseDepth-MobileNetV2 decoder names (``decoder.up0.convA.weight``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: torchvision MobileNetV2 inverted-residual settings: expansion t, channels c,
#: repeats n, first stride s.
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
ENCODER_PREFIX = "encoder.original_model.features"


@dataclass(frozen=True)
class Node:
    """One operation of the network.

    Attributes
    ----------
    name : str
        Torch module path of the convolution (``""`` for host ops).
    op : str
        ``"conv"``, ``"resize"`` (bilinear, align_corners=True) or ``"concat"``.
    inputs : tuple of str
        Input tensor names.
    output : str
        Output tensor name.
    out_shape : tuple of int
        (H, W, C) of the output.
    kind : str
        For convs: ``"conv3x3"``, ``"dw3x3"`` or ``"pw1x1"``.
    stride, pad : int
        Convolution stride and zero padding.
    act : str
        ``"none"``, ``"relu6"`` or ``"leaky"`` (LeakyReLU 0.2).
    bn : bool
        Whether a BatchNorm follows (module ``<name>.1`` style, see ``bn_name``).
    residual : str or None
        Tensor added to the result (MobileNetV2 skip), before no activation.
    conv_name, bn_name : str
        Module paths of the Conv2d and BatchNorm2d.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    out_shape: tuple[int, int, int]
    kind: str = ""
    stride: int = 1
    pad: int = 0
    act: str = "none"
    bn: bool = False
    residual: str | None = None
    conv_name: str = ""
    bn_name: str = ""
    cin: int = 0

    @property
    def cout(self) -> int:
        """Output channels."""
        return self.out_shape[2]

    @property
    def ksize(self) -> int:
        """Kernel size (3 or 1)."""
        return 1 if self.kind == "pw1x1" else 3

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference of this node."""
        if self.op != "conv":
            return 0
        h, w, c = self.out_shape
        if self.kind == "dw3x3":
            return h * w * c * 9
        return h * w * c * self.cin * self.ksize * self.ksize

    @property
    def weight_count(self) -> int:
        """Number of weights (not bytes; int8 makes them equal)."""
        if self.op != "conv":
            return 0
        if self.kind == "dw3x3":
            return self.cout * 9
        return self.cout * self.cin * self.ksize * self.ksize

    @property
    def weight_bytes(self) -> int:
        """Bytes the accelerator loads: int8 weights + int32 bias per channel."""
        return self.weight_count + 4 * self.cout if self.op == "conv" else 0


@dataclass(frozen=True)
class ModelSpec:
    """A named network configuration.

    Attributes
    ----------
    name : str
        Configuration name (``pynq-depth info --config NAME``).
    input_hw : tuple of int
        Default input (H, W).
    conv2_out : int
        Channels of the decoder's first 1x1 conv on the last encoder map.
    conv2_pad : int
        Its padding (the public port uses 1, a quirk kept for key compatibility).
    ups : tuple of (int, int)
        For every UpSample block ``upK``: (DenseDepth feature index of the skip,
        output channels).  Feature index k is the output of encoder module k-1.
    description : str
        One line for ``info``.
    """

    name: str
    input_hw: tuple[int, int]
    conv2_out: int
    conv2_pad: int
    ups: tuple[tuple[int, int], ...]
    description: str = ""
    bottleneck_feature: int = 19
    extra: dict = field(default_factory=dict)


def _densedepth_mnv2() -> ModelSpec:
    features = int(1280 * 0.6)
    return ModelSpec(
        name="densedepth-mnv2",
        input_hw=(480, 640),
        conv2_out=features,
        conv2_pad=1,
        ups=(
            (18, features // 2),
            (15, features // 2),
            (9, features // 4),
            (6, features // 8),
            (4, features // 8),
            (2, features // 16),
        ),
        description="public DenseDepth MobileNetV2 port: Decoder(num_features=1280, decoder_width=0.6)",
    )


def _board_default() -> ModelSpec:
    return ModelSpec(
        name="z2-mnv2",
        input_hw=(240, 320),
        conv2_out=160,
        conv2_pad=0,
        # Five UpSample blocks: the decoder stops at 1/4 of the input (60x80 at 240x320).  A sixth
        # block at 1/2 (skip from features.1) cost 158 MMAC and ~13 ms of the PYNQ-Z2 kernel's
        # ~83 ms per frame (docs/performance.md) for detail that a bilinear upsample of the
        # 1/4-resolution map mostly restores.
        ups=((18, 128), (15, 96), (9, 64), (6, 32), (4, 24)),
        description="board default for the Zynq-7020: MobileNetV2 encoder, narrow DenseDepth decoder to 1/4 resolution",
    )


MODEL_SPECS: dict[str, ModelSpec] = {s.name: s for s in (_board_default(), _densedepth_mnv2())}
DEFAULT_MODEL = "z2-mnv2"


def get_spec(name: str | None = None) -> ModelSpec:
    """Look up a named model configuration.

    Parameters
    ----------
    name : str, optional
        One of :data:`MODEL_SPECS`; the board default when omitted.

    Raises
    ------
    KeyError
        With the list of known names.
    """
    name = name or DEFAULT_MODEL
    if name not in MODEL_SPECS:
        raise KeyError(f"unknown model configuration {name!r}; known: {', '.join(MODEL_SPECS)}")
    return MODEL_SPECS[name]


def output_stride(spec: ModelSpec) -> int:
    """How many times smaller than the input the depth map is, per side.

    The last UpSample block works at the size of its skip feature: 2 for
    DenseDepth's six blocks (skip from ``features.1``), 4 for the board default's five.
    """
    h, w = spec.input_hw
    return round(h / build_graph(spec, (h, w))[-1].out_shape[0])


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def build_graph(spec: ModelSpec, input_hw: tuple[int, int] | None = None) -> list[Node]:
    """Lower a :class:`ModelSpec` at a given input size to its node list.

    Parameters
    ----------
    spec : ModelSpec
        Network configuration.
    input_hw : tuple of int, optional
        Input (H, W); ``spec.input_hw`` when omitted.  Any size >= 32x32 works.

    Returns
    -------
    list of Node
        Nodes in execution order; the network input tensor is ``"input"``
        (H, W, 3) and the output is ``"depth"`` (H/s, W/s, 1), s = :func:`output_stride`
        (sizes rounded up), in DenseDepth's target
        ``1000 / depth_cm``.
    """
    h, w = input_hw or spec.input_hw
    if h < 32 or w < 32:
        raise ValueError(f"input size {h}x{w} is too small; the encoder needs at least 32x32")
    nodes: list[Node] = []
    shapes: dict[str, tuple[int, int, int]] = {"input": (h, w, 3)}

    def conv(name: str, src: str, dst: str, kind: str, cout: int, stride: int = 1, pad: int | None = None,
             act: str = "none", bn: bool = True, residual: str | None = None,
             conv_name: str | None = None, bn_name: str | None = None) -> None:
        ih, iw, cin = shapes[src]
        k = 1 if kind == "pw1x1" else 3
        if pad is None:
            pad = k // 2
        oh, ow = _conv_out(ih, k, stride, pad), _conv_out(iw, k, stride, pad)
        if kind == "dw3x3":
            cout = cin
        shapes[dst] = (oh, ow, cout)
        nodes.append(Node(name=name, op="conv", inputs=(src,), output=dst, out_shape=(oh, ow, cout), kind=kind,
                          stride=stride, pad=pad, act=act, bn=bn, residual=residual,
                          conv_name=conv_name or name, bn_name=bn_name or "", cin=cin))

    # ---- MobileNetV2 encoder (torchvision layout) ----
    p = ENCODER_PREFIX
    conv(f"{p}.0", "input", "f1", "conv3x3", 32, stride=2, act="relu6",
         conv_name=f"{p}.0.0", bn_name=f"{p}.0.1")
    cin, index = 32, 1
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            m = f"{p}.{index}"
            src, dst = f"f{index}", f"f{index + 1}"
            hidden = cin * t
            cur, layer = src, 0
            if t != 1:
                conv(f"{m}.conv.0", cur, f"{dst}.expand", "pw1x1", hidden, act="relu6",
                     conv_name=f"{m}.conv.0.0", bn_name=f"{m}.conv.0.1")
                cur, layer = f"{dst}.expand", 1
            conv(f"{m}.conv.{layer}", cur, f"{dst}.dw", "dw3x3", hidden, stride=stride, act="relu6",
                 conv_name=f"{m}.conv.{layer}.0", bn_name=f"{m}.conv.{layer}.1")
            residual = src if stride == 1 and cin == c else None
            conv(f"{m}.conv.{layer + 1}", f"{dst}.dw", dst, "pw1x1", c, residual=residual,
                 conv_name=f"{m}.conv.{layer + 1}", bn_name=f"{m}.conv.{layer + 2}")
            cin, index = c, index + 1
    conv(f"{p}.18", "f18", "f19", "pw1x1", 1280, act="relu6", conv_name=f"{p}.18.0", bn_name=f"{p}.18.1")

    # ---- DenseDepth decoder ----
    conv("decoder.conv2", f"f{spec.bottleneck_feature}", "d0", "pw1x1", spec.conv2_out, pad=spec.conv2_pad, bn=False)
    prev = "d0"
    for k, (skip_index, cout) in enumerate(spec.ups):
        skip = f"f{skip_index}"
        sh, sw, sc = shapes[skip]
        up, cat = f"up{k}.resized", f"up{k}.concat"
        shapes[up] = (sh, sw, shapes[prev][2])
        nodes.append(Node(name="", op="resize", inputs=(prev,), output=up, out_shape=shapes[up]))
        shapes[cat] = (sh, sw, shapes[prev][2] + sc)
        nodes.append(Node(name="", op="concat", inputs=(up, skip), output=cat, out_shape=shapes[cat]))
        conv(f"decoder.up{k}.convA", cat, f"up{k}.a", "conv3x3", cout, act="leaky", bn=False)
        conv(f"decoder.up{k}.convB", f"up{k}.a", f"up{k}", "conv3x3", cout, act="leaky", bn=False)
        prev = f"up{k}"
    conv("decoder.conv3", prev, "depth", "conv3x3", 1, bn=False)
    return nodes


def totals(nodes: list[Node]) -> tuple[int, int]:
    """Total (MACs, weight bytes) of a node list."""
    return sum(n.macs for n in nodes), sum(n.weight_bytes for n in nodes)
