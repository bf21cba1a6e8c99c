"""Layers: ``Linear``, ``MLP``, ``Sequential`` and the activation modules."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from chainrule._seed import default_generator
from chainrule.nn import functional as F
from chainrule.nn import init as _init
from chainrule.nn.module import Module, ModuleInputError, parameter

if TYPE_CHECKING:
    from typing_extensions import Self

    from chainrule._interpreters.reverse import Tensor
    from chainrule.typing import DTypeLike

__all__ = ["Linear", "MLP", "Sequential", "Tanh", "ReLU", "Sigmoid", "GELU", "Softplus", "Identity",
           "Dropout", "Conv1d", "Conv2d", "LayerNorm", "Embedding", "MSELoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss"]


def _rng(rng):
    if rng is None:  # the global generator, which cr.manual_seed sets
        return default_generator()
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")
    return rng


class Linear(Module):
    """``x @ weight + bias``, with ``weight`` of shape ``(in_features, out_features)``.

    The weight is stored input-major (as JAX/Flax do, the transpose of PyTorch's
    layout) so that the layer is one ``matmul`` with no transpose.  ``init`` names the
    weight initialiser (Glorot uniform by default; ``"he_uniform"`` for ReLU nets;
    ``"pytorch"`` for PyTorch's default, which draws the bias too);
    ``rng`` is a ``numpy.random.Generator`` or an int seed.  The bias starts at zero.

    >>> import numpy as np, chainrule as cr
    >>> layer = cr.nn.Linear(3, 2, rng=0)
    >>> [(name, p.shape) for name, p in layer.named_parameters()]
    [('weight', (3, 2)), ('bias', (2,))]
    >>> layer(np.ones((5, 3))).shape
    (5, 2)
    """

    weight: Tensor
    bias: Tensor | None

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, rng: Any = None,
                 init: str = "glorot_uniform", dtype: DTypeLike = np.float64) -> None:
        self.in_features, self.out_features = int(in_features), int(out_features)
        gen = _rng(rng)
        w = _init.get(init)(gen, (self.in_features, self.out_features), dtype=dtype)
        self.weight = parameter(w, dtype)
        if bias and _init.get(init) is _init.pytorch_uniform:  # PyTorch draws the bias too
            a = 1.0 / np.sqrt(self.in_features)
            self.bias = parameter(gen.uniform(-a, a, self.out_features).astype(dtype), dtype)
        elif bias:
            self.bias = parameter(np.zeros(self.out_features, dtype), dtype)
        else:
            self.bias = None

    def forward(self, x: Any) -> Any:
        try:
            shape = x.shape
        except AttributeError:
            x = np.asarray(x)
            shape = x.shape
        if not shape or shape[-1] != self.in_features:
            raise ModuleInputError(self, f"expected an input of shape (..., {self.in_features}) "
                                   f"(the last axis holds the {self.in_features} features), got shape "
                                   f"{tuple(shape)}; {_shape_hint(shape, self.in_features)}")
        dtype = getattr(x, "dtype", None)
        if dtype is not None and dtype.kind not in "fc":
            if type(x) is not np.ndarray:
                raise ModuleInputError(self, f"expected a floating-point input, got dtype {dtype}; "
                                       f"cast it, e.g. x.astype(np.float32)")
            x = x.astype(self.weight.dtype)  # integer data (pixels, counts): the weights' dtype
        y = x @ self.weight
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _shape_hint(shape, n):
    if len(shape) >= 2 and shape[-2] == n:
        return (f"if the {n} features are on the second-last axis, pass x.T (or move that axis "
                f"last); otherwise check the model's input size against the data")
    if not shape:
        return "pass an array of shape (batch, features)"
    return (f"check the model's input size (in_features={n}) against the data's number of features "
            f"({shape[-1]})")


class _Activation(Module):
    fn = staticmethod(F.identity)

    def forward(self, x: Any) -> Any:
        return self.fn(x)

class Tanh(_Activation):
    """``tanh(x)`` as a module.

    >>> import chainrule as cr
    >>> cr.nn.Tanh()(cr.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.76159416,  0.        ,  0.96402758])
    """
    fn = staticmethod(F.tanh)


class ReLU(_Activation):
    """``max(x, 0)`` as a module.

    >>> import chainrule as cr
    >>> cr.nn.ReLU()(cr.tensor([-1.0, 0.0, 2.0]))
    tensor([0., 0., 2.])
    """
    fn = staticmethod(F.relu)


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))`` as a module.

    >>> import chainrule as cr
    >>> cr.nn.Sigmoid()(cr.tensor([-1.0, 0.0, 2.0]))
    tensor([0.26894142, 0.5       , 0.88079708])
    """
    fn = staticmethod(F.sigmoid)


class Softplus(_Activation):
    """``log(1 + exp(x))`` as a module.

    >>> import chainrule as cr
    >>> cr.nn.Softplus()(cr.tensor([-1.0, 0.0, 2.0]))
    tensor([0.31326169, 0.69314718, 2.12692801])
    """
    fn = staticmethod(F.softplus)


class Identity(_Activation):
    """``x`` as a module.

    >>> import chainrule as cr
    >>> cr.nn.Identity()(cr.tensor([-1.0, 0.0, 2.0]))
    tensor([-1.,  0.,  2.])
    """


class GELU(_Activation):
    """``x Phi(x)`` as a module (``approximate="tanh"`` needs no SciPy).

    >>> import chainrule as cr
    >>> cr.nn.GELU(approximate="tanh")(cr.tensor([-1.0, 0.0, 2.0]))
    tensor([-0.15880801,  0.        ,  1.95459769])
    """

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Any:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


class Sequential(Module):
    """Modules (or functions) applied in turn; parameters are named ``layers.<i>.<name>``.

    >>> import numpy as np, chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(2, 3, rng=0), cr.nn.Tanh(), cr.nn.Linear(3, 1, rng=1))
    >>> [name for name, _ in net.named_parameters()]
    ['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias']
    """

    def __init__(self, *layers: Module) -> None:
        self.layers = list(layers)

    def __getitem__(self, i):
        """``seq[i]``, the ``i``-th layer; ``seq[a:b]``, a ``Sequential`` of those layers (shared)."""
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def append(self, layer: Module) -> Self:
        """Add ``layer`` at the end; returns ``self``."""
        self.layers.append(layer)
        return self

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n  ({i}): " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


class MLP(Module):
    """A multilayer perceptron: ``Linear`` layers of ``sizes``, ``activation`` between them.

    ``sizes = [n_in, h1, ..., n_out]``; ``activation`` is a name (``"tanh"``,
    ``"relu"``, ``"sigmoid"``, ``"gelu"``, ``"softplus"``, ``"identity"``) or a
    function; ``output`` is applied to the last layer (``None``: the raw outputs, e.g.
    logits for ``cross_entropy``).  Weights are Glorot-uniform (He-uniform for
    ``"relu"``) from ``rng`` (a ``Generator`` or an int seed), biases zero.
    Parameters are named ``layers.<i>.weight`` and ``layers.<i>.bias``.

    >>> import numpy as np, chainrule as cr
    >>> net = cr.nn.MLP([1, 2, 1], activation="tanh", rng=0)     # the seeds' 1-2-1 network
    >>> [(name, p.shape) for name, p in net.named_parameters()]
    [('layers.0.weight', (1, 2)), ('layers.0.bias', (2,)), ('layers.1.weight', (2, 1)), ('layers.1.bias', (1,))]
    """

    def __init__(self, sizes: Sequence[int], activation: Any = "tanh", output: Any = None, *, rng: Any = None,
                 init: str | None = None, dtype: DTypeLike = np.float64) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"MLP: sizes must list at least an input and an output size, all >= 1; "
                             f"got {sizes}")
        self.sizes = sizes
        self.activation_name = activation if isinstance(activation, str) or activation is None else \
            getattr(activation, "__name__", repr(activation))
        self.output_name = output if isinstance(output, str) or output is None else \
            getattr(output, "__name__", repr(output))
        self.activation = F.get_activation(activation)
        self.output = F.get_activation(output)
        if init is None:
            init = "he_uniform" if activation == "relu" else "glorot_uniform"
        rng = _rng(rng)
        self.layers = [Linear(a, b, rng=rng, init=init, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]

    def forward(self, x: Any) -> Any:
        *hidden, last = self.layers
        act = self.activation
        for layer in hidden:
            x = act(layer(x))
        return self.output(last(x))

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation_name!r}, output={self.output_name!r}"


class Dropout(Module):
    """Zero each element with probability ``p`` in training mode, scaling the rest by ``1/(1-p)``.

    In ``eval()`` mode it is the identity, as ``torch.nn.Dropout``.  ``rng`` (a
    ``Generator`` or an int seed) draws the masks, so a run is reproducible; without
    it they come from the global generator that ``cr.manual_seed`` sets, drawn
    when the layer runs.  The
    mask has the shape the layer sees: under ``cr.vmap`` that is one example's, so
    every example of the batch gets the same mask (``torch.func``'s
    ``randomness="same"``); apply it to the whole batch for independent masks.

    >>> import numpy as np, chainrule as cr
    >>> drop = cr.nn.Dropout(0.5, rng=0)
    >>> drop(np.ones(6))
    array([2., 0., 0., 0., 2., 2.])
    >>> drop.eval()(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must lie in [0, 1], got {p}")
        self.p, self.rng = p, None if rng is None else _rng(rng)

    def forward(self, x: Any) -> Any:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Loss(Module):
    fn = staticmethod(F.mse_loss)

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, input: Any, target: Any) -> Any:
        return self.fn(input, target, self.reduction)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """``F.mse_loss`` as a module (``criterion = MSELoss(); loss = criterion(out, y)``).

    >>> import chainrule as cr
    >>> criterion = cr.nn.MSELoss()
    >>> criterion(cr.tensor([1.0, 2.0]), cr.tensor([0.0, 2.0]))     # ((1 - 0)^2 + 0) / 2
    tensor(0.5)
    """


class BCELoss(_Loss):
    """``F.binary_cross_entropy`` as a module: the input is a probability.

    >>> import chainrule as cr
    >>> cr.nn.BCELoss()(cr.tensor([0.9, 0.2]), cr.tensor([1.0, 0.0]))  # -(log 0.9 + log 0.8) / 2
    tensor(0.16425203)
    """
    fn = staticmethod(F.binary_cross_entropy)


class BCEWithLogitsLoss(_Loss):
    """``F.binary_cross_entropy_with_logits`` as a module: the input is a logit (stable for any).

    >>> import chainrule as cr
    >>> cr.nn.BCEWithLogitsLoss()(cr.tensor([2.0, -1.0]), cr.tensor([1.0, 0.0]))
    tensor(0.22009485)
    """
    fn = staticmethod(F.binary_cross_entropy_with_logits)


class CrossEntropyLoss(_Loss):
    """``F.cross_entropy`` as a module, with ``reduction`` and ``label_smoothing``.

    The input holds logits ``(N, C)``; the target, class indices ``(N,)``.

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.CrossEntropyLoss()(cr.tensor([[2.0, 0.0, -1.0]]), np.array([0]))
    tensor(0.16984602)
    """

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        self.reduction, self.label_smoothing = reduction, float(label_smoothing)

    def forward(self, input: Any, target: Any) -> Any:
        return F.cross_entropy(input, target, self.reduction, self.label_smoothing)

    def extra_repr(self) -> str:
        parts = [] if self.reduction == "mean" else [f"reduction={self.reduction!r}"]
        return ", ".join(parts + ([f"label_smoothing={self.label_smoothing}"] if self.label_smoothing else []))


class _ConvNd(Module):
    """PyTorch's ``ConvNd``: weight ``(out_channels, in_channels / groups, *kernel_size)``, bias
    ``(out_channels,)``, both drawn as PyTorch's default, uniform in ``+-1/sqrt(fan_in)`` with
    ``fan_in = in_channels / groups * prod(kernel_size)``, from ``rng`` (or the global
    generator that ``cr.manual_seed`` sets)."""
    nd, fn = 2, staticmethod(F.conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: Any = 0, dilation: int | Sequence[int] = 1,
                 groups: int = 1, bias: bool = True, *, rng: Any = None, dtype: DTypeLike = np.float64) -> None:
        name = type(self).__name__
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        if self.groups < 1 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                             f"both be divisible by groups ({groups})")
        k = (kernel_size,) * self.nd if isinstance(kernel_size, (int, np.integer)) else tuple(kernel_size)
        self.kernel_size = tuple(int(v) for v in k)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        gen = _rng(rng)
        bound = 1.0 / np.sqrt(self.in_channels // self.groups * int(np.prod(self.kernel_size)))
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = parameter(gen.uniform(-bound, bound, shape).astype(dtype), dtype)
        self.bias = parameter(gen.uniform(-bound, bound, self.out_channels).astype(dtype), dtype) if bias \
            else None

    def forward(self, x: Any) -> Any:
        return self.fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != 0:
            s += f", padding={self.padding!r}"
        if self.dilation != 1:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Conv1d(_ConvNd):
    """1-D convolution over ``(N, C_in, L)``, as ``torch.nn.Conv1d`` (``F.conv1d``).

    >>> import numpy as np, chainrule as cr
    >>> conv = cr.nn.Conv1d(2, 4, kernel_size=3, padding=1, rng=0)
    >>> conv.weight.shape, conv(np.ones((5, 2, 10))).shape
    ((4, 2, 3), (5, 4, 10))
    """
    nd, fn = 1, staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """2-D convolution over ``(N, C_in, H, W)``, as ``torch.nn.Conv2d`` (``F.conv2d``).

    >>> import numpy as np, chainrule as cr
    >>> conv = cr.nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1, rng=0)
    >>> conv.weight.shape, conv(np.ones((4, 3, 32, 32))).shape
    ((8, 3, 3, 3), (4, 8, 16, 16))
    """


class LayerNorm(Module):
    """Normalise over the last axes ``normalized_shape`` and scale by ``weight`` (ones), shift by
    ``bias`` (zeros), as ``torch.nn.LayerNorm`` (``F.layer_norm``).

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.LayerNorm(3)(np.array([[1.0, 2.0, 3.0]])).detach().numpy().round(4)
    array([[-1.2247,  0.    ,  1.2247]])
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype: DTypeLike = np.float64) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        self.normalized_shape, self.eps = tuple(int(v) for v in shape), float(eps)
        affine = bool(elementwise_affine)
        self.weight = parameter(np.ones(self.normalized_shape, dtype), dtype) if affine else None
        self.bias = parameter(np.zeros(self.normalized_shape, dtype), dtype) if affine and bias else None

    def forward(self, x: Any) -> Any:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of ``embedding_dim``, indexed by integer arrays, as
    ``torch.nn.Embedding`` (weights standard normal; the row ``padding_idx`` zero and never
    updated).

    >>> import numpy as np, chainrule as cr
    >>> emb = cr.nn.Embedding(10, 4, padding_idx=0, rng=0)
    >>> emb(np.array([[1, 2, 0]])).shape, bool((emb.weight.detach().numpy()[0] == 0).all())
    ((1, 3, 4), True)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, *, rng: Any = None,
                 dtype: DTypeLike = np.float64) -> None:
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None and not -self.num_embeddings <= int(padding_idx) < self.num_embeddings:
            raise ValueError(f"Embedding: padding_idx must lie in [-{num_embeddings}, {num_embeddings}), "
                             f"got {padding_idx}")
        self.padding_idx = None if padding_idx is None else int(padding_idx) % self.num_embeddings
        w = _rng(rng).standard_normal((self.num_embeddings, self.embedding_dim)).astype(dtype)
        if self.padding_idx is not None:
            w[self.padding_idx] = 0
        self.weight = parameter(w, dtype)

    def forward(self, input: Any) -> Any:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}" + (
            "" if self.padding_idx is None else f", padding_idx={self.padding_idx}")
