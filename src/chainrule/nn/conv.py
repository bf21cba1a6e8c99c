"""Convolutions, layer normalisation and embeddings as plain differentiable functions.

They are composed from ``chainrule.numpy`` operations -- no primitive of their own --
so every transform and every order of derivative comes free.

A convolution is im2col and one matrix product: the zero-padded input is cut into
``prod(kernel_size)`` strided slices, one per kernel offset (basic slicing: views, and
a VJP that writes the slice back into zeros), stacked into the column array
``(groups, N * out_positions, C/groups * prod(kernel_size))`` and multiplied by the
reshaped weight in one batched ``matmul``.  The graph has ``prod(kernel_size) + 6``
nodes whatever the image size, and the arithmetic is BLAS.  Layouts are PyTorch's:
input ``(N, C, *spatial)`` (or ``(C, *spatial)`` unbatched), weight
``(out_channels, in_channels / groups, *kernel_size)`` -- so a PyTorch ``state_dict``
of a convolution loads as it is.  (Cross-correlation, as every framework computes.)

>>> import numpy as np, chainrule as cr
>>> from chainrule.nn import functional as F
>>> x = np.arange(5.0)[None, None]                      # (N, C, L) = (1, 1, 5)
>>> F.conv1d(x, np.array([[[1.0, -1.0]]]))              # differences
array([[[-1., -1., -1., -1.]]])
>>> F.conv1d(x, np.array([[[1.0, 1.0, 1.0]]]), padding=1, stride=2)
array([[[1., 6., 7.]]])
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

import chainrule.numpy as cnp
from chainrule._ops import stop_gradient

__all__ = ["conv1d", "conv2d", "layer_norm", "embedding"]


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _tuple(value, n, name, fn):
    values = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != n or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return tuple(int(v) for v in values)


def _conv(x, weight, bias, stride, padding, dilation, groups, nd, fn):
    xs, ws = _shape(x), _shape(weight)
    unbatched = len(xs) == nd + 1
    if unbatched:
        x = cnp.expand_dims(x, 0)
        xs = (1,) + xs
    if len(xs) != nd + 2:
        raise ValueError(f"{fn}: input must have shape (N, C, {', '.join('LHW'[-nd:] if nd < 3 else 'DHW')}) "
                         f"or (C, ...) unbatched, got shape {xs}")
    if len(ws) != nd + 2:
        raise ValueError(f"{fn}: weight must have shape (out_channels, in_channels / groups, "
                         f"{nd} kernel sizes), got shape {ws}")
    n, c, spatial = xs[0], xs[1], xs[2:]
    o, cg, kernel = ws[0], ws[1], ws[2:]
    groups = int(groups)
    if groups < 1 or c % groups or o % groups or cg != c // groups:
        raise ValueError(f"{fn}: the input has {c} channels and the weight {ws}: with groups={groups} the "
                         f"weight's second axis must be in_channels / groups = {c / groups:g}, and both "
                         f"channel counts divisible by groups")
    stride = _tuple(stride, nd, "stride", fn)
    dilation = _tuple(dilation, nd, "dilation", fn)
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{fn}: stride and dilation must be >= 1, got {stride} and {dilation}")
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]  # the kernel's reach, dilated
    if padding == "valid":
        pads = [(0, 0)] * nd
    elif padding == "same":
        if max(stride) != 1:
            raise ValueError(f"{fn}: padding='same' needs stride 1 (as in PyTorch), got stride {stride}")
        pads = [((s - 1) // 2, s - 1 - (s - 1) // 2) for s in span]  # the extra one on the right
    else:
        pads = [(p, p) for p in _tuple(padding, nd, "padding", fn)]
    if any(p < 0 for pair in pads for p in pair):
        raise ValueError(f"{fn}: padding must be >= 0, got {padding!r}")
    padded = [L + a + b for L, (a, b) in zip(spatial, pads)]
    out = [(P - s) // st + 1 for P, s, st in zip(padded, span, stride)]
    if min(out) < 1:
        raise ValueError(f"{fn}: the input's spatial size {spatial} (padded to {tuple(padded)}) is smaller "
                         f"than the kernel's reach {tuple(span)}")
    if any(a or b for a, b in pads):
        x = cnp.pad(x, [(0, 0), (0, 0), *pads])
    # im2col: one strided slice per kernel offset, (N, C, *out) each
    cols = []
    for offset in np.ndindex(*kernel):
        index = tuple(slice(k * d, k * d + st * (m - 1) + 1, st)
                      for k, d, st, m in zip(offset, dilation, stride, out))
        cols.append(x[(slice(None), slice(None)) + index])
    K, P = math.prod(kernel), math.prod(out)
    cols = cnp.stack(cols, axis=2)                                   # (N, C, K, *out)
    cols = cnp.reshape(cols, (n, groups, cg * K, P))                 # C = (groups, cg): channel-major
    cols = cnp.reshape(cnp.transpose(cols, (1, 0, 3, 2)), (groups, n * P, cg * K))
    w = cnp.reshape(weight, (groups, o // groups, cg * K))           # (cg, *kernel) flattens alike
    y = cnp.matmul(cols, cnp.transpose(w, (0, 2, 1)))                # (groups, N * P, o / groups)
    y = cnp.transpose(cnp.reshape(y, (groups, n, P, o // groups)), (1, 0, 3, 2))
    y = cnp.reshape(y, (n, o) + tuple(out))
    if bias is not None:
        y = y + cnp.reshape(bias, (o,) + (1,) * nd)
    return y[0] if unbatched else y


def conv1d(input: Any, weight: Any, bias: Any = None, stride: int | Sequence[int] = 1, padding: Any = 0,
           dilation: int | Sequence[int] = 1, groups: int = 1) -> Any:
    """1-D convolution (cross-correlation) as ``torch.nn.functional.conv1d``.

    ``input`` ``(N, C_in, L)`` or ``(C_in, L)``; ``weight`` ``(C_out, C_in / groups, k)``;
    ``padding`` an int, ``"valid"`` or ``"same"`` (stride 1); zeros are padded.

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.arange(5.0).reshape(1, 1, 5)                          # (N, C_in, L)
    >>> F.conv1d(x, np.array([[[1.0, -1.0]]]))                       # x[i] - x[i + 1]
    array([[[-1., -1., -1., -1.]]])
    >>> F.conv1d(x, np.ones((1, 1, 3)), padding="same")              # sums of 3 neighbours
    array([[[1., 3., 6., 9., 7.]]])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Any, weight: Any, bias: Any = None, stride: int | Sequence[int] = 1, padding: Any = 0,
           dilation: int | Sequence[int] = 1, groups: int = 1) -> Any:
    """2-D convolution (cross-correlation) as ``torch.nn.functional.conv2d``.

    ``input`` ``(N, C_in, H, W)`` or ``(C_in, H, W)``; ``weight`` ``(C_out, C_in / groups, kH, kW)``;
    ``stride``, ``padding``, ``dilation`` ints or pairs; ``padding`` also ``"valid"`` or
    ``"same"`` (stride 1).

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> F.conv2d(x, np.ones((1, 1, 2, 2)), stride=2)        # 2x2 sums
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def layer_norm(input: Any, normalized_shape: int | Sequence[int], weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Any:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the last ``len(normalized_shape)`` axes,
    with the biased variance, as ``torch.nn.functional.layer_norm``.

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.layer_norm(np.array([[1.0, 2.0, 3.0]]), (3,)).round(4)
    array([[-1.2247,  0.    ,  1.2247]])
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    xs = _shape(input)
    if tuple(xs[len(xs) - len(shape):]) != shape or len(shape) > len(xs):
        raise ValueError(f"layer_norm: the input's last axes {tuple(xs)} must be normalized_shape {shape}")
    axes = tuple(range(len(xs) - len(shape), len(xs)))
    mean = cnp.mean(input, axis=axes, keepdims=True)
    centred = input - mean
    var = cnp.mean(centred * centred, axis=axes, keepdims=True)
    y = centred / cnp.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Any:
    """Rows of ``weight`` ``(num_embeddings, dim)`` picked by the integer array ``input``, as
    ``torch.nn.functional.embedding``; output shape ``input.shape + (dim,)``.  The gradient
    accumulates over repeated indices; the row ``padding_idx`` gets none.

    >>> import numpy as np
    >>> from chainrule.nn import functional as F
    >>> F.embedding(np.array([[2, 0]]), np.arange(6.0).reshape(3, 2))
    array([[[4., 5.],
            [0., 1.]]])
    """
    idx = np.asarray(input) if not hasattr(input, "dtype") else input
    if np.dtype(idx.dtype).kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices, got dtype {idx.dtype}")
    n = _shape(weight)[0]
    if padding_idx is not None:
        pad = int(padding_idx) % n
        keep = np.ones((n, 1), dtype=getattr(weight, "dtype", np.float64))
        keep[pad] = 0  # the same values, but no gradient into the padding row
        weight = weight * keep + stop_gradient(weight) * (1 - keep)
    return cnp.take(weight, idx, axis=0)
