"""NumPy-style operators and methods shared by every tracer class.

``Tensor`` (reverse mode and the tape) and ``JVPTracer`` (forward mode) look
like arrays to user code: arithmetic operators with broadcasting, ``.T``,
indexing, and the reduction/shape methods.  Each one forwards to the
``chainrule.numpy`` function of the same name, so operators and functions
share one implementation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:  # annotations only: nothing here runs on the hot path
    from typing_extensions import Self

    from chainrule.typing import ArrayLike, DTypeLike

    Axis = int | tuple[int, ...] | None


class ArrayOps:
    __slots__ = ()
    # NumPy defers binary operators to us (``ndarray * tracer`` calls our
    # ``__rmul__``) and calls ``__array_ufunc__`` for ``np.sin(tracer)``.
    __array_priority__ = 1000.0
    _value: Any  # each tracer class has the slot

    @staticmethod
    def _tracer_types():
        return _TRACERS

    # -- descriptive ---------------------------------------------------------
    # ``_value`` is the payload one level down: an ndarray, a NumPy scalar,
    # or a tracer of a lower level.
    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d array")
        return shape[0]

    def __iter__(self) -> Iterator[Self]:
        for i in range(len(self)):
            yield self[i]

    # -- arithmetic ----------------------------------------------------------
    def __add__(self, other: ArrayLike) -> Self: return _np.add(self, other)
    def __radd__(self, other: ArrayLike) -> Self: return _np.add(other, self)
    def __sub__(self, other: ArrayLike) -> Self: return _np.subtract(self, other)
    def __rsub__(self, other: ArrayLike) -> Self: return _np.subtract(other, self)
    def __mul__(self, other: ArrayLike) -> Self: return _np.multiply(self, other)
    def __rmul__(self, other: ArrayLike) -> Self: return _np.multiply(other, self)
    def __truediv__(self, other: ArrayLike) -> Self: return _np.divide(self, other)
    def __rtruediv__(self, other: ArrayLike) -> Self: return _np.divide(other, self)
    def __pow__(self, other: ArrayLike) -> Self: return _np.power(self, other)
    def __rpow__(self, other: ArrayLike) -> Self: return _np.power(other, self)
    def __matmul__(self, other: ArrayLike) -> Self: return _np.matmul(self, other)
    def __rmatmul__(self, other: ArrayLike) -> Self: return _np.matmul(other, self)
    def __neg__(self) -> Self: return _np.negative(self)
    def __abs__(self) -> Self: return _np.abs(self)
    def __pos__(self) -> Self: return self

    # Comparisons have no derivative: they see through every level.
    def __lt__(self, other: ArrayLike) -> Self: return _np.less(self, other)
    def __le__(self, other: ArrayLike) -> Self: return _np.less_equal(self, other)
    def __gt__(self, other: ArrayLike) -> Self: return _np.greater(self, other)
    def __ge__(self, other: ArrayLike) -> Self: return _np.greater_equal(self, other)
    # Elementwise, as NumPy's (so not the bool that ``object.__eq__`` promises).
    def __eq__(self, other: object) -> Self: return _np.equal(self, other)  # type: ignore[override]
    def __ne__(self, other: object) -> Self: return _np.not_equal(self, other)  # type: ignore[override]
    __hash__ = object.__hash__

    def __getitem__(self, idx: Any) -> Self: return _np._getitem(self, idx)

    def __setitem__(self, idx: Any, v: ArrayLike) -> None:
        raise TypeError(f"x[{_show_index(idx)}] = v: a value being transformed (grad, jvp, vmap, ...) "
                        f"cannot be assigned in place; write x = cnp.at(x)[{_show_index(idx)}].set(v) "
                        f"(or .add(v)), or use cnp.where(mask, v, x)")

    # -- methods -------------------------------------------------------------
    @property
    def T(self) -> Self: return _np.transpose(self)

    # ``dtype``/``out`` are in the signatures because ``np.sum(tracer)`` calls
    # ``tracer.sum(axis=..., dtype=..., out=...)``.
    def sum(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, keepdims: bool = False) -> Self:
        return _np.sum(_reduce_args(self, "sum", dtype, out), axis=axis, keepdims=keepdims)

    def mean(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, keepdims: bool = False) -> Self:
        return _np.mean(_reduce_args(self, "mean", dtype, out), axis=axis, keepdims=keepdims)

    def max(self, axis: Axis = None, out: None = None, keepdims: bool = False) -> Self:
        return _np.max(_reduce_args(self, "max", None, out), axis=axis, keepdims=keepdims)

    def min(self, axis: Axis = None, out: None = None, keepdims: bool = False) -> Self:
        return _np.min(_reduce_args(self, "min", None, out), axis=axis, keepdims=keepdims)

    def prod(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, keepdims: bool = False) -> Self:
        return _np.prod(_reduce_args(self, "prod", dtype, out), axis=axis, keepdims=keepdims)

    def var(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, ddof: int = 0,
            keepdims: bool = False) -> Self:
        return _np.var(_reduce_args(self, "var", dtype, out), axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, ddof: int = 0,
            keepdims: bool = False) -> Self:
        return _np.std(_reduce_args(self, "std", dtype, out), axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None) -> Self:
        return _np.cumsum(_reduce_args(self, "cumsum", dtype, out), axis=axis)

    def cumprod(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None) -> Self:
        return _np.cumprod(_reduce_args(self, "cumprod", dtype, out), axis=axis)
    def exp(self) -> Self: return _np.exp(self)
    def log(self) -> Self: return _np.log(self)
    def sin(self) -> Self: return _np.sin(self)
    def cos(self) -> Self: return _np.cos(self)
    def tanh(self) -> Self: return _np.tanh(self)
    def sqrt(self) -> Self: return _np.sqrt(self)
    def dot(self, other: ArrayLike) -> Self: return _np.dot(self, other)
    def astype(self, dtype: DTypeLike, copy: bool = True) -> Self: return _np.astype(self, dtype)
    def ravel(self, order: str = "C") -> Self: return _np.ravel(self, order)
    def flatten(self, order: str = "C") -> Self: return _np.ravel(self, order)
    def squeeze(self, axis: Axis = None) -> Self: return _np.squeeze(self, axis)
    def swapaxes(self, axis1: int, axis2: int) -> Self: return _np.swapaxes(self, axis1, axis2)
    def clip(self, min: ArrayLike | None = None, max: ArrayLike | None = None) -> Self:  # noqa: A002
        return _np.clip(self, min, max)

    def reshape(self, *shape: Any, order: str = "C", copy: bool | None = None) -> Self:
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return _np.reshape(self, shape, order=order, copy=copy)

    def transpose(self, *axes: Any) -> Self:
        if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
            axes = axes[0]
        return _np.transpose(self, axes or None)

    # -- leaving the graph ---------------------------------------------------
    #: True where a Python number made from this value would lose a derivative being taken
    #: (a transform's tracer); the tape's Tensor and forward_ad's dual values convert, as torch's
    _differentiates = False
    #: True where a complex constant must not enter an operation on this value (bind refuses it)
    _no_complex = False

    def item(self) -> Any:
        return np.asarray(_number(self, ".item()")).item()

    def tolist(self) -> Any:
        return np.asarray(_number(self, ".tolist()")).tolist()

    def __float__(self) -> float: return float(np.asarray(_number(self, "float()")).item())
    def __int__(self) -> int: return int(np.asarray(_number(self, "int()")).item())
    def __complex__(self) -> complex: return complex(np.asarray(_number(self, "complex()")).item())
    def __bool__(self) -> bool: return bool(_concrete(self, "bool() (an `if`, `while`, `and`/`or` or assert on it)"))
    def __index__(self) -> int: return _concrete(self, "using it as a Python integer (an index, range())").__index__()

    def __array_function__(self, func, types, args, kwargs):
        # np.sum(t), np.concatenate([t, u]), np.linalg.inv(t): the chainrule.numpy
        # function of the same name and namespace, or a TypeError -- never a silent
        # conversion to ndarray that drops the derivative.
        name = func.__name__
        if name in _QUERIES and func.__module__ == "numpy":
            return _QUERIES[name](args[0])
        namespace = _namespaces().get(func.__module__)
        if namespace is None or name not in namespace.__all__:
            raise TypeError(f"{func.__module__}.{name} is not supported on chainrule tracers; "
                            f"use a chainrule.numpy function, or .detach() the value first")
        return getattr(namespace, name)(*args, **kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = _np._UFUNCS.get(ufunc.__name__) if method == "__call__" else None
        if fn is None:
            raise TypeError(
                f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method} "
                f"{'with ' + ', '.join(kwargs) + ' ' if kwargs else ''}is not supported on "
                f"chainrule tracers; use the chainrule.numpy function instead")
        return fn(*inputs, **kwargs)  # its keywords: implemented (dtype) or refused by name


def _number(x, what):
    """The concrete value behind ``x`` for a conversion to a Python number, refused where the
    conversion would silently drop a derivative being taken (``float(x) * x`` under ``cr.grad``)."""
    v = _concrete(x, what)
    if x._differentiates and np.issubdtype(np.result_type(v), np.inexact):
        from chainrule._interpreters.staging import user_line
        raise TypeError(f"{what} of a value being differentiated{user_line()}: a Python number has no "
                        f"derivative, so the result would be silently wrong (cr.grad(lambda x: float(x) * x) "
                        f"would give x, not 2x). Keep it an array: use chainrule.numpy functions "
                        f"(cnp.sin, not math.sin), or cr.stop_gradient(x) where no derivative is wanted, "
                        f"then convert.")
    return v


def _concrete(x, what):
    v = _np._raw(x)
    if type(v) in type(x)._tracer_types():
        no_value = getattr(v, "_no_value", None)
        if no_value is not None:  # a staged value (cr.jit) says why, and where
            raise no_value(what)
        raise TypeError("a batched value (inside cr.vmap) has no single Python value: it cannot "
                        "drive Python control flow or float()/int(); use cnp.where for branches")
    return v


_QUERIES = {"shape": lambda a: a.shape, "ndim": lambda a: a.ndim, "size": lambda a: a.size}


#: NumPy module name -> the chainrule namespace that mirrors it; ``chainrule.numpy`` fills it.
_NAMESPACES: dict = {}


def _namespaces():
    return _NAMESPACES


def _reduce_args(x, name, dtype, out):
    if out is not None:
        raise TypeError(f"{name}: out= is not supported for traced values (results are new arrays)")
    return x if dtype is None else _np.astype(x, dtype)


from chainrule._core.primitive import TRACER_TYPES as _TRACERS  # noqa: E402

#: The operations the methods forward to (``chainrule._ops``).  Layers only look down:
#: the ops module installs itself here when it is imported (:func:`install`).
_np: Any = None


def install(ops, namespaces=None):
    """Called by ``chainrule._ops`` (the operations) and ``chainrule.numpy`` (the namespaces)."""
    global _np
    if ops is not None:
        _np = ops
    _NAMESPACES.update(namespaces or {})


def _show_index(idx):
    """An index as the user wrote it: ``0``, ``1:3``, ``:, 0``."""
    parts = idx if isinstance(idx, tuple) else (idx,)

    def one(i):
        if isinstance(i, slice):
            return ":".join("" if x is None else str(x) for x in (i.start, i.stop)) + \
                ("" if i.step is None else f":{i.step}")
        return "..." if i is Ellipsis else "None" if i is None else \
            (str(i) if isinstance(i, (int, np.integer)) else "idx")
    return ", ".join(one(i) for i in parts)
