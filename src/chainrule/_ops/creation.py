"""Array creation: constants, with no derivative."""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["array", "asarray", "zeros", "ones", "zeros_like", "ones_like",
           "full", "full_like", "eye", "identity", "arange", "linspace", "from_dlpack"]

import numpy as np

from chainrule._core.primitive import TRACER_TYPES
from chainrule._ops._wrap import dtype_of, peel, shape_of


def array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, ndmax=0, like=None):  # noqa: A002
    """``numpy.array``; a tracer passes through (cast if ``dtype`` is given).

    A nested list holding tracers is stacked differentiably.  ``ndmin``
    prepends axes; ``copy`` has nothing to do for a tracer (traced values
    are never written in place); ``order``, ``subok``, ``ndmax`` and ``like``
    are NumPy's for plain values and refused for tracers.

    >>> import chainrule.numpy as cnp
    >>> cnp.array([1.0, 2.0])
    array([1., 2.])
    """
    traced = type(object) in TRACER_TYPES
    if traced or (isinstance(object, (list, tuple)) and _has_tracer(object)):
        from chainrule._ops._wrap import refuse_keywords
        refuse_keywords("array", {"subok": (False,)}, order=order, subok=subok, ndmax=ndmax, like=like)
        out = object if traced else _stack_nested(object)  # as jnp.array([x[0], 2 * x[1]])
        if dtype is not None:
            from chainrule._ops.elementwise import astype
            out = astype(out, dtype)
        if ndmin > len(shape_of(out)):
            from chainrule._ops.shape import reshape
            out = reshape(out, (1,) * (ndmin - len(shape_of(out))) + tuple(shape_of(out)))
        return out
    extra = {"ndmax": ndmax} if ndmax else {}
    return np.array(object, dtype=dtype, copy=copy, order=order, subok=subok, ndmin=ndmin, like=like, **extra)


def from_dlpack(x, /, *, device=None, copy=None):
    """``numpy.from_dlpack``: an array sharing the memory of a DLPack producer (a PyTorch or
    JAX array); a tracer passes through, as with ``asarray``.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.from_dlpack(np.arange(3.0))  # torch.arange(3.0) likewise, sharing its memory
    array([0., 1., 2.])
    """
    if type(x) in TRACER_TYPES:
        return x
    if device is None and copy is None:  # NumPy 2.0's from_dlpack takes no keywords (2.1 added them)
        return np.from_dlpack(x)
    return np.from_dlpack(x, device=device, copy=copy)


def _stack_nested(seq):
    from chainrule._ops import stack
    items = [_stack_nested(x) if isinstance(x, (list, tuple)) else x for x in seq]
    if not items:
        raise ValueError("array: an empty list among traced values has no shape to stack")
    shapes = {tuple(shape_of(x)) for x in items}
    if len(shapes) > 1:
        raise ValueError(f"array: the entries have different shapes {sorted(shapes)}; a nested list "
                         f"must be rectangular")
    return stack(items)


def asarray(a, dtype=None, order=None, *, device=None, copy=None, like=None):
    """``numpy.asarray``; a tracer passes through (cast if ``dtype`` is given).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.asarray([1, 2], dtype=float)
    array([1., 2.])
    >>> cr.grad(lambda x: cnp.sum(cnp.asarray(x) ** 2))(cnp.array([1.0, 2.0]))
    array([2., 4.])
    """
    if type(a) in TRACER_TYPES or (isinstance(a, (list, tuple)) and _has_tracer(a)):
        from chainrule._ops._wrap import refuse_keywords
        refuse_keywords("asarray", {"order": (None,)}, order=order, device=device, like=like)
        return array(a, dtype=dtype, copy=copy)
    return np.asarray(a, dtype, order, device=device, copy=copy, like=like)


def _has_tracer(seq):
    return any(type(x) in TRACER_TYPES or (isinstance(x, (list, tuple)) and _has_tracer(x)) for x in seq)


def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """A constant array of zeros with ``a``'s shape and dtype (NumPy's keywords all apply).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.zeros_like(cr.tensor([1.0, 2.0], requires_grad=True))  # a constant: no derivative
    array([0., 0.])
    """
    return np.zeros_like(_prototype(a), dtype, order, subok, shape, device=device)


def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    """A constant array of ones with ``a``'s shape and dtype (NumPy's keywords all apply).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.ones_like(cr.tensor([1.0, 2.0], requires_grad=True))  # a constant: no derivative
    array([1., 1.])
    """
    return np.ones_like(_prototype(a), dtype, order, subok, shape, device=device)


def _prototype(a):
    """``a`` itself, or for a tracer an empty array of its (per-example) shape and dtype."""
    return np.empty(shape_of(a), dtype_of(a)) if type(a) in TRACER_TYPES else a


def zeros(shape, dtype=None, order="C", *, device=None, like=None):
    """``numpy.zeros(shape, dtype=None)``: a constant array of zeros.

    >>> import chainrule.numpy as cnp
    >>> cnp.zeros((2, 1))
    array([[0.],
           [0.]])
    """
    try:
        return np.zeros(shape, dtype, order, device=device, like=like)
    except TypeError:
        _no_tracer("zeros", shape=shape)  # a traced shape (cr.jit of f(x, n)): say so, not NumPy's message
        raise


def ones(shape, dtype=None, order="C", *, device=None, like=None):
    """``numpy.ones(shape, dtype=None)``: a constant array of ones.

    >>> import chainrule.numpy as cnp
    >>> cnp.ones(3, dtype=int)
    array([1, 1, 1])
    """
    try:
        return np.ones(shape, dtype, order, device=device, like=like)
    except TypeError:
        _no_tracer("ones", shape=shape)
        raise


def _no_tracer(op, **args):
    for k, v in args.items():
        if type(v) in TRACER_TYPES:
            if peel(v) is None:  # staged by cr.jit: the value is not known while tracing
                from chainrule._interpreters.staging import TracedValueError, _no_value_message
                raise TracedValueError(_no_value_message(f"{op}'s {k} (a size must be a Python number)"))
            raise TypeError(f"{op}: {k} is a traced value; {op} builds a constant array, so its "
                            f"{k} must be a plain number (use chainrule.stop_gradient(...) or pass a float)")


def full(shape, fill_value, dtype=None, order="C", *, device=None, like=None):
    """``numpy.full(shape, fill_value, dtype)``: a constant array.

    A traced ``fill_value`` is broadcast to ``shape`` (differentiably).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.full((2, 2), 3.0)
    array([[3., 3.],
           [3., 3.]])
    >>> cr.grad(lambda v: cnp.full((2, 3), v).sum())(1.0)
    np.float64(6.0)
    """
    _no_tracer("full", shape=shape)
    if type(fill_value) in TRACER_TYPES:
        from chainrule._ops._wrap import refuse_keywords
        from chainrule._ops.elementwise import astype
        from chainrule._ops.shape import broadcast_to
        refuse_keywords("full", {"order": ("C",)}, order=order, device=device, like=like)
        v = fill_value if dtype is None else astype(fill_value, dtype)
        return broadcast_to(v, (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape))
    return np.full(shape, fill_value, dtype=dtype, order=order, device=device, like=like)


def full_like(a, fill_value, dtype=None):
    """``numpy.full_like``: an array of ``fill_value`` with ``a``'s shape and dtype (a constant in ``a``).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.full_like(cnp.array([1.0, 2.0]), 7.0)
    array([7., 7.])
    >>> cr.grad(lambda x: (x * cnp.full_like(x, 2.0)).sum())(cnp.array([1.0, 2.0]))
    array([2., 2.])
    """
    return full(shape_of(a), fill_value, dtype=dtype or dtype_of(a))


def eye(N, M=None, k=0, dtype=float, order="C", *, device=None, like=None):  # noqa: N803 (NumPy's names)
    """``numpy.eye(N, M=None, k=0, dtype=float)``: a constant array with ones on a diagonal.

    >>> import chainrule.numpy as cnp
    >>> cnp.eye(2, 3, k=1)
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    _no_tracer("eye", N=N, M=M, k=k)
    return np.eye(N, M, k, dtype=dtype, order=order, device=device, like=like)


def identity(n, dtype=None):
    """``numpy.identity(n, dtype=None)``: the constant ``n`` by ``n`` identity matrix.

    >>> import chainrule.numpy as cnp
    >>> cnp.identity(2)
    array([[1., 0.],
           [0., 1.]])
    """
    _no_tracer("identity", n=n)
    return np.identity(n, dtype=dtype)


def arange(start, /, stop=None, step=1, *, dtype=None, device=None, like=None):
    """``numpy.arange([start,] stop[, step], dtype=None)``: a constant array of evenly spaced values.

    >>> import chainrule.numpy as cnp
    >>> cnp.arange(3)
    array([0, 1, 2])
    >>> cnp.arange(1.0, 2.0, 0.5)
    array([1. , 1.5])
    """
    _no_tracer("arange", start=start, stop=stop, step=step)
    return np.arange(start, stop, step, dtype=dtype, device=device, like=like)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """``numpy.linspace``: ``num`` evenly spaced values from ``start`` to ``stop``, differentiable in both.

    ``start`` and ``stop`` may be traced scalars or arrays (they broadcast; the
    new axis goes at ``axis``).  Entry ``i`` is ``start + i * step`` with
    ``step = (stop - start) / (num - 1)`` (``/ num`` without the endpoint), and
    the last entry is ``stop`` itself when ``endpoint`` holds, as in NumPy; so
    its derivatives are ``1 - i/div`` with respect to ``start`` and ``i/div``
    with respect to ``stop``.  ``retstep=True`` returns ``(samples, step)``.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.linspace(0.0, 1.0, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> cr.grad(lambda b: cnp.linspace(0.0, b, 5).sum())(2.0)
    np.float64(2.5)
    """
    if type(start) not in TRACER_TYPES and type(stop) not in TRACER_TYPES:
        return np.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype, axis=axis,
                           device=device)
    from chainrule._ops._wrap import refuse_keywords
    from chainrule._ops.elementwise import add, astype, divide, floor, multiply, subtract, where
    from chainrule._ops.shape import broadcast_to, moveaxis, reshape
    refuse_keywords("linspace", device=device)
    num = int(num)
    if num < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    div = num - 1 if endpoint else num
    # NumPy's dtype: Python scalars are weak (linspace(0.0, float32) is float32), integers become float64
    ft = np.result_type(*(v if type(v) in (bool, int, float) else dtype_of(v) for v in (start, stop)), 1.0)
    start = start if type(start) in TRACER_TYPES else np.asarray(start, dtype=float)
    stop = stop if type(stop) in TRACER_TYPES else np.asarray(stop, dtype=float)
    shape = np.broadcast_shapes(tuple(shape_of(start)), tuple(shape_of(stop)))
    start, stop = astype(broadcast_to(start, shape), ft), astype(broadcast_to(stop, shape), ft)
    delta = subtract(stop, start)
    step = divide(delta, float(div)) if div > 0 else multiply(delta, np.nan)
    i = np.arange(num, dtype=ft).reshape((num,) + (1,) * len(shape))
    y = add(multiply(i, step) if div > 0 else multiply(i, delta), start)
    if endpoint and num > 1:
        last = (np.arange(num) == num - 1).reshape(i.shape)
        y = where(last, stop, y)
    y = moveaxis(y, 0, axis) if len(shape) and axis != 0 else y
    if dtype is not None:
        y = astype(floor(y) if np.issubdtype(dtype, np.integer) else y, dtype)
    return (y, step) if retstep else y
