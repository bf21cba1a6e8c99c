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
        """The shape, a tuple of ints, as ``numpy.ndarray.shape``.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).shape
        (2, 3)
        """
        return self._value.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """The NumPy dtype of the values (float64 unless made otherwise).

        >>> import numpy as np, chainrule as cr
        >>> cr.tensor([1.0, 2.0]).dtype, cr.tensor([1.0], dtype=np.float32).dtype
        (dtype('float64'), dtype('float32'))
        """
        return self._value.dtype

    @property
    def ndim(self) -> int:
        """The number of axes, ``len(shape)``.

        >>> import chainrule as cr
        >>> cr.tensor(1.0).ndim, cr.tensor([[1.0, 2.0]]).ndim
        (0, 2)
        """
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of elements, the product of ``shape``.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).size
        6
        """
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
    def T(self) -> Self:
        """The transpose (axes reversed), differentiable: ``cnp.transpose(self)``.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0, 3.0]], requires_grad=True).T
        tensor([[1.],
                [2.],
                [3.]], grad_fn=<transpose>)
        """
        return _np.transpose(self)

    # ``dtype``/``out`` are in the signatures because ``np.sum(tracer)`` calls
    # ``tracer.sum(axis=..., dtype=..., out=...)``.
    def sum(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, keepdims: bool = False) -> Self:
        """``cnp.sum`` of this value over ``axis`` (all axes by default).

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.sum(axis=0)
        tensor([5., 7., 9.], grad_fn=<sum>)
        """
        return _np.sum(_reduce_args(self, "sum", dtype, out), axis=axis, keepdims=keepdims)

    def mean(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, keepdims: bool = False) -> Self:
        """``cnp.mean`` of this value over ``axis`` (all axes by default).

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.mean(), x.mean(axis=1, keepdims=True).shape
        (tensor(3.5, grad_fn=<mean>), (2, 1))
        """
        return _np.mean(_reduce_args(self, "mean", dtype, out), axis=axis, keepdims=keepdims)

    def max(self, axis: Axis = None, out: None = None, keepdims: bool = False) -> Self:
        """``cnp.max`` of this value; at ties the gradient is split evenly.

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.max(axis=1)
        tensor([3., 6.], grad_fn=<max>)
        """
        return _np.max(_reduce_args(self, "max", None, out), axis=axis, keepdims=keepdims)

    def min(self, axis: Axis = None, out: None = None, keepdims: bool = False) -> Self:
        """``cnp.min`` of this value; at ties the gradient is split evenly.

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.min(axis=0)
        tensor([1., 2., 3.], grad_fn=<min>)
        """
        return _np.min(_reduce_args(self, "min", None, out), axis=axis, keepdims=keepdims)

    def prod(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, keepdims: bool = False) -> Self:
        """``cnp.prod`` of this value over ``axis``.

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.prod(axis=1)
        tensor([  6., 120.], grad_fn=<prod>)
        """
        return _np.prod(_reduce_args(self, "prod", dtype, out), axis=axis, keepdims=keepdims)

    def var(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, ddof: int = 0,
            keepdims: bool = False) -> Self:
        """``cnp.var`` of this value: the variance over ``axis``, ``ddof`` as in NumPy.

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.var(axis=1), x.var(axis=1, ddof=1)
        (tensor([0.66666667, 0.66666667], grad_fn=<multiply>), tensor([1., 1.], grad_fn=<multiply>))
        """
        return _np.var(_reduce_args(self, "var", dtype, out), axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None, ddof: int = 0,
            keepdims: bool = False) -> Self:
        """``cnp.std`` of this value: the standard deviation over ``axis``, ``ddof`` as in NumPy.

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.std(axis=1, ddof=1)
        tensor([1., 1.], grad_fn=<sqrt>)
        """
        return _np.std(_reduce_args(self, "std", dtype, out), axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None) -> Self:
        """``cnp.cumsum`` of this value: running sums along ``axis`` (of the flattened value by default).

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.cumsum(axis=1)
        tensor([[ 1.,  3.,  6.],
                [ 4.,  9., 15.]], grad_fn=<cumsum>)
        """
        return _np.cumsum(_reduce_args(self, "cumsum", dtype, out), axis=axis)

    def cumprod(self, axis: Axis = None, dtype: DTypeLike = None, out: None = None) -> Self:
        """``cnp.cumprod`` of this value: running products along ``axis`` (of the flattened value by default).

        >>> import chainrule as cr
        >>> x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        >>> x.cumprod(axis=1)
        tensor([[  1.,   2.,   6.],
                [  4.,  20., 120.]], grad_fn=<cumprod>)
        """
        return _np.cumprod(_reduce_args(self, "cumprod", dtype, out), axis=axis)
    def exp(self) -> Self:
        """``cnp.exp(self)``, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1.0], requires_grad=True).exp()
        tensor([1.        , 2.71828183], grad_fn=<exp>)
        """
        return _np.exp(self)
    def log(self) -> Self:
        """``cnp.log(self)``, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0], requires_grad=True).log()
        tensor([0.        , 0.69314718], grad_fn=<log>)
        """
        return _np.log(self)
    def sin(self) -> Self:
        """``cnp.sin(self)``, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1.0], requires_grad=True).sin()
        tensor([0.        , 0.84147098], grad_fn=<sin>)
        """
        return _np.sin(self)
    def cos(self) -> Self:
        """``cnp.cos(self)``, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1.0], requires_grad=True).cos()
        tensor([1.        , 0.54030231], grad_fn=<cos>)
        """
        return _np.cos(self)
    def tanh(self) -> Self:
        """``cnp.tanh(self)``, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1.0], requires_grad=True).tanh()
        tensor([0.        , 0.76159416], grad_fn=<tanh>)
        """
        return _np.tanh(self)
    def sqrt(self) -> Self:
        """``cnp.sqrt(self)``, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 4.0], requires_grad=True).sqrt()
        tensor([1., 2.], grad_fn=<sqrt>)
        """
        return _np.sqrt(self)
    def dot(self, other: ArrayLike) -> Self:
        """``cnp.dot(self, other)``: inner product of vectors, matrix product of matrices.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).dot(cr.tensor([3.0, 4.0]))
        tensor(11.)
        """
        return _np.dot(self, other)
    def astype(self, dtype: DTypeLike, copy: bool = True) -> Self:
        """The value cast to ``dtype``; the gradient is cast back (an integer cast has none).

        >>> import chainrule as cr
        >>> import numpy as np
        >>> cr.tensor([1.5, 2.0], requires_grad=True).astype(np.float32)
        tensor([1.5, 2. ], dtype=float32, grad_fn=<astype>)
        """
        return _np.astype(self, dtype)
    def ravel(self, order: str = "C") -> Self:
        """``cnp.ravel(self)``: the values as one axis.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).ravel()
        tensor([1., 2., 3., 4.])
        """
        return _np.ravel(self, order)
    def flatten(self, order: str = "C") -> Self:
        """The values as one axis, like ``ravel`` (a new array: results are never views to write through).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).flatten()
        tensor([1., 2., 3., 4.])
        """
        return _np.ravel(self, order)
    def squeeze(self, axis: Axis = None) -> Self:
        """``cnp.squeeze``: drop axes of length one (all of them, or ``axis``).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0], [2.0]]).squeeze().shape, cr.tensor([[1.0], [2.0]]).squeeze(1).shape
        ((2,), (2,))
        """
        return _np.squeeze(self, axis)
    def swapaxes(self, axis1: int, axis2: int) -> Self:
        """``cnp.swapaxes``: exchange two axes.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0, 3.0]]).swapaxes(0, 1).shape
        (3, 1)
        """
        return _np.swapaxes(self, axis1, axis2)
    def clip(self, min: ArrayLike | None = None, max: ArrayLike | None = None) -> Self:  # noqa: A002
        """``cnp.clip(self, min, max)``: values limited to ``[min, max]``; outside, the gradient is zero.

        >>> import chainrule as cr
        >>> x = cr.tensor([-2.0, 0.5, 3.0], requires_grad=True)
        >>> x.clip(-1.0, 1.0).sum().backward(); x.grad
        tensor([0., 1., 0.])
        """
        return _np.clip(self, min, max)

    def reshape(self, *shape: Any, order: str = "C", copy: bool | None = None) -> Self:
        """``cnp.reshape``: the same values in a new shape (given as ints or as one tuple).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        >>> x.reshape(2, 3).shape, x.reshape((3, -1)).shape
        ((2, 3), (3, 2))
        """
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return _np.reshape(self, shape, order=order, copy=copy)

    def transpose(self, *axes: Any) -> Self:
        """``cnp.transpose``: the axes reversed, or permuted as given (as ints or as one tuple).

        >>> import chainrule as cr
        >>> x = cr.tensor([[[1.0, 2.0, 3.0]]])          # shape (1, 1, 3)
        >>> x.transpose().shape, x.transpose(2, 0, 1).shape, x.transpose((0, 2, 1)).shape
        ((3, 1, 1), (3, 1, 1), (1, 3, 1))
        """
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
        """The value of a one-element Tensor as a Python number (no derivative goes with it).

        >>> import chainrule as cr
        >>> x = cr.tensor([2.5], requires_grad=True)
        >>> x.item(), (x * 2).sum().item()
        (2.5, 5.0)
        """
        return np.asarray(_number(self, ".item()")).item()

    def tolist(self) -> Any:
        """The values as (nested) Python lists of numbers (no derivative goes with them).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
        """
        return np.asarray(_number(self, ".tolist()")).tolist()

    def __float__(self) -> float: return float(np.asarray(_number(self, "float()")).item())
    def __int__(self) -> int: return int(np.asarray(_number(self, "int()")).item())
    def __complex__(self) -> complex: return complex(np.asarray(_number(self, "complex()")).item())
    def __bool__(self) -> bool: return bool(_concrete(self, "bool() (an `if`, `while`, `and`/`or` or assert on it)"))
    def __index__(self) -> int: return _concrete(self, "using it as a Python integer (an index, range())").__index__()

    # -- DLPack: np.from_dlpack(t), torch.from_dlpack(t) share the memory of a Tensor
    # that does not require grad; a value being differentiated refuses, as np.asarray does.
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        a = np.asarray(self.__array__())  # raises TypeError for a value being differentiated
        if not a.flags.writeable:
            # A graph reads this memory, and not every consumer honours DLPack's read-only
            # flag (torch.from_dlpack writes through it): hand out a copy.
            if copy is False:
                raise BufferError("__dlpack__(copy=False): this Tensor's memory is read by a recorded "
                                  "graph and must not be written; export a copy (copy=None or True)")
            a = a.copy()
        kw = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        return a.__dlpack__(**{k: v for k, v in kw.items() if v is not None})

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU, device 0: chainrule's values are NumPy arrays in host memory

    def __array_namespace__(self, *, api_version=None):
        """The array API standard's namespace of this value: ``chainrule.numpy``."""
        if api_version not in (None, "2021.12", "2022.12", "2023.12", "2024.12"):
            raise ValueError(f"__array_namespace__: unknown array API version {api_version!r}")
        return _namespaces()["numpy"]

    def __array_function__(self, func, types, args, kwargs):
        # np.sum(t), np.concatenate([t, u]), np.linalg.inv(t): the chainrule.numpy
        # function of the same name and namespace.  A NumPy function chainrule does not
        # have (np.allclose, np.save) runs on the arrays where no derivative can be lost
        # (a tape Tensor that does not require grad), and raises TypeError otherwise --
        # never a silent conversion to ndarray that drops the derivative.
        name = func.__name__
        if name in _QUERIES and func.__module__ == "numpy":
            return _QUERIES[name](args[0])
        namespace = _namespaces().get(func.__module__)
        if namespace is None or name not in namespace.__all__:
            sub = func.__module__[len("numpy."):]  # np.fft.fft: "fft."
            return _on_arrays(func, args, kwargs, f"{func.__module__}.{name}",
                              f"chainrule.numpy has no {sub + '.' if sub else ''}{name}")
        return getattr(namespace, name)(*args, **kwargs)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = _np._UFUNCS.get(ufunc.__name__) if method == "__call__" else None
        if fn is None:
            what = f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method}"
            instead = _UFUNC_METHODS.get((ufunc.__name__, method))
            why = (f"chainrule.numpy has no {ufunc.__name__}" if method == "__call__" else
                   f"use {instead}" if instead else f"chainrule.numpy has no ufunc method {what}")
            return _on_arrays(getattr(ufunc, method), inputs, kwargs, what, why)
        return fn(*inputs, **kwargs)  # its keywords: implemented (dtype) or refused by name


#: ``np.add.reduce(t)`` and the like: the chainrule.numpy function that does it.
_UFUNC_METHODS = {("add", "reduce"): "cnp.sum", ("multiply", "reduce"): "cnp.prod",
                  ("maximum", "reduce"): "cnp.max", ("minimum", "reduce"): "cnp.min",
                  ("add", "accumulate"): "cnp.cumsum", ("multiply", "accumulate"): "cnp.cumprod",
                  ("multiply", "outer"): "cnp.outer", ("add", "at"): "cnp.at(x)[idx].add(v)"}


def _on_arrays(func, args, kwargs, what, why):
    """``func`` called with every tracer replaced by its array, where that loses no derivative.

    A NumPy function that only reads (``np.allclose``, ``np.any``, ``np.save``,
    ``np.copy``) works on tape Tensors that do not require grad, as on arrays; the
    result is NumPy's.  A value being differentiated refuses, with its own reason.
    """
    def plain(x):
        if type(x) in _TRACERS:
            try:
                return x.__array__()
            except TypeError as err:
                raise TypeError(f"{what} is not supported on chainrule tracers ({why}): {err}") from None
        if type(x) in (list, tuple):
            return type(x)(plain(v) for v in x)
        return x
    return func(*plain(args), **{k: plain(v) for k, v in kwargs.items()})


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
