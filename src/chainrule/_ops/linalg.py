"""Matrix products: ``matmul`` (the primitive) and ``dot`` (built on it).

``matmul`` follows NumPy: 1-D operands are promoted to a row (left) or a
column (right) and the added axis removed again; leading axes broadcast.  Its
VJP rules undo the promotion; the reverse engine sums away broadcast batch
axes.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy).
__all__ = ["matmul", "dot", "tensordot", "einsum", "outer", "inner", "trace", "diagonal", "diag"]
#: The functions of ``chainrule.numpy.linalg`` (defined in this module too).
LINALG: list = ["inv", "solve", "det", "slogdet", "cholesky", "norm", "eigh", "svdvals"]

import itertools
import string

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, PerInput, bind, defprim
from chainrule._ops._wrap import EMPTY, batch_by_broadcasting, ndim_of, peel, raw, refuse_keywords, shape_of
from chainrule._ops.elementwise import abs as _abs
from chainrule._ops.elementwise import add, astype, divide, multiply, negative, power, sqrt, stop_gradient, subtract, where
from chainrule._ops.elementwise import sign as _sign
from chainrule._ops.reductions import max as _max
from chainrule._ops.reductions import min as _min
from chainrule._ops.reductions import sum as _sum
from chainrule._ops.shape import _getitem, _scatter_add, broadcast_to, moveaxis, reshape, swapaxes, transpose


def _matmul_dx(ans, x, y):
    xn, yn = x.ndim, y.ndim
    if yn == 1:  # ans = x @ y has shape x.shape[:-1]
        return lambda g: multiply(reshape(g, g.shape + (1,)), y)
    if xn == 1 and yn == 2:  # ans = x @ y has shape (n,): y @ g, one product (one under vmap too)
        return lambda g: matmul(y, g)
    if xn == 1:  # ans has shape y.shape[:-2] + y.shape[-1:]
        return lambda g: reshape(matmul(reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]),
                                        swapaxes(y, -1, -2)), g.shape[:-1] + (x.shape[0],))
    return lambda g: matmul(g, swapaxes(y, -1, -2))


def _matmul_dy(ans, x, y):
    xn, yn = x.ndim, y.ndim
    if xn == 1:  # ans has shape y.shape[:-2] + y.shape[-1:]
        if yn == 1:
            return lambda g: multiply(g, x)
        return lambda g: multiply(reshape(x, (x.shape[0], 1)), reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]))
    if yn == 1 and xn == 2:  # ans = x @ y has shape (m,): g @ x, one product (one under vmap too)
        return lambda g: matmul(g, x)
    if yn == 1:  # ans has shape x.shape[:-1]
        return lambda g: reshape(matmul(swapaxes(x, -1, -2), reshape(g, g.shape + (1,))), g.shape[:-1] + (y.shape[0],))
    return lambda g: matmul(swapaxes(x, -1, -2), g)


def _batch_matmul(vals, batched, params):
    """vmap of ``x @ y`` as one product for the whole batch, never a loop over it.

    With one operand shared by every example, the batch axis is folded into the
    rows (or columns) of the other, so the batch is one BLAS call: ``A @ x_b`` for
    64 vectors ``x_b`` is ``X @ A.T``, one matrix product, where NumPy's
    broadcasting of ``A @ X[..., None]`` would make 64 matrix-vector products.
    With both batched, the batch is a stack axis of ``matmul`` (a dot product per
    example when both are vectors).
    """
    (x, y), (bx, by) = vals, batched
    if bx and by:
        return _matmul_both_batched(x, y)
    if bx:
        return _matmul_fold_left(x, y)
    if len(y.shape) == 2:   # per-example vectors y_b: x @ y_b is y_b against x's last axis
        return matmul(y, x) if len(x.shape) == 1 else _matmul_fold_left(y, _mT(x))
    if len(x.shape) == 1:   # x @ y_b = y_b.T @ x
        return _matmul_fold_left(_mT(y), x)
    return _mT(_matmul_fold_left(_mT(y), _mT(x)))   # x @ y_b = (y_b.T @ x.T).T


def _matmul_fold_left(a, b):
    """``a_b @ b`` for every example of the batched ``a`` (batch axis 0) and the shared ``b``, as one product."""
    an, bn = len(a.shape), len(b.shape)
    k = a.shape[-1]
    if bn <= 2:   # the whole batch (and a's stack) becomes rows of one (rows, k) @ b
        if an == 2:
            return matmul(a, b)
        rows = int(np.prod(a.shape[:-1], dtype=np.int64))
        out = matmul(reshape(a, (rows, k)), b)
        return reshape(out, a.shape[:-1] + b.shape[1:])
    if an == 2:   # per-example vectors against b's stack: (B, k) @ (..., k, n) is (..., B, n)
        return moveaxis(matmul(a, b), -2, 0)
    # (B, ..., m, k): the batch joins the rows m, (..., B * m, k) @ (..., k, n), and is split off again
    nb, m = a.shape[0], a.shape[-2]
    a = reshape(moveaxis(a, 0, -3), a.shape[1:-2] + (nb * m, k))
    out = matmul(a, b)
    out = reshape(out, out.shape[:-2] + (nb, m, out.shape[-1]))
    return moveaxis(out, -3, 0)


def _matmul_both_batched(x, y):
    """Both operands batched: the batch is a stack axis of ``matmul``; vectors become a row / a column."""
    xv, yv = len(x.shape) == 2, len(y.shape) == 2
    if xv and yv:   # a dot product per example
        return _einsum_bind(("ak", "ak"), "a", (x, y))
    if xv:
        x = reshape(x, x.shape[:-1] + (1,) + x.shape[-1:])
    if yv:
        y = reshape(y, y.shape + (1,))
    from chainrule._interpreters.batching import align
    out = bind(matmul_p, align((x, y), (True, True)), EMPTY)
    if not (xv or yv):
        return out
    s = out.shape
    return reshape(out, s[:-2] + (() if xv else s[-2:-1]) + (() if yv else s[-1:]))


matmul_p = defprim(
    "matmul", np.matmul, [_matmul_dx, _matmul_dy], jvp="bilinear",
    formulas=[("g @ y.T", r"\bar g\, y^{\top}"), ("x.T @ g", r"x^{\top} \bar g")],
    batch=_batch_matmul,
    notation=("{0} · {1}", r"{0}\,{1}"))


def matmul(x, y, /, out=None, **kwargs):
    """``numpy.matmul`` (the ``@`` operator), differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> W = cnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.grad(lambda v: (W @ v).sum())(cnp.array([1.0, 1.0]))
    array([4., 6.])
    """
    if out is not None or kwargs:
        return _matmul_keywords(x, y, out, kwargs)
    if type(x) in TRACER_TYPES or type(y) in TRACER_TYPES:
        x = x if type(x) in TRACER_TYPES else np.asarray(x)
        y = y if type(y) in TRACER_TYPES else np.asarray(y)
        _check_matmul("matmul", x.shape, y.shape)
        return bind(matmul_p, (x, y), EMPTY)
    try:
        return np.matmul(x, y)
    except ValueError:
        _check_matmul("matmul", np.shape(x), np.shape(y))
        raise


def _matmul_keywords(x, y, out, kwargs):
    """matmul's gufunc keywords: NumPy's own for plain values; ``dtype`` or a refusal by name for tracers."""
    if not _traced(x, y):
        return np.matmul(x, y, out=out, **kwargs)
    dtype = kwargs.pop("dtype", None)
    refuse_keywords("matmul", out=out, **kwargs)
    return matmul(x, y) if dtype is None else matmul(astype(x, dtype), astype(y, dtype))


def _misaligned(op, xs, ys, i, j, what_to_do=""):
    """The error for contracting axis ``i`` of the first operand with axis ``j`` of the second."""
    return ValueError(f"{op}: shapes {tuple(xs)} and {tuple(ys)} do not align: axis {i} of the first has "
                      f"size {xs[i]} but axis {j} of the second has size {ys[j]}{what_to_do}")


def _check_matmul(op, xs, ys):
    """Both shapes quoted when ``x @ y``'s operands cannot be multiplied (or their stacks broadcast)."""
    if not xs or not ys:
        raise ValueError(f"{op}: operands must be at least 1-D, got shapes {tuple(xs)} and {tuple(ys)}; "
                         f"use multiply for scalars")
    j = -2 if len(ys) > 1 else -1
    if xs[-1] != ys[j]:
        raise _misaligned(op, xs, ys, -1, j, "; transpose one operand, or check which axis holds the features")
    try:
        np.broadcast_shapes(tuple(xs[:-2]), tuple(ys[:-2]))
    except ValueError:
        raise ValueError(f"{op}: the stacks of matrices of shapes {tuple(xs)} and {tuple(ys)} do not broadcast: "
                         f"{tuple(xs[:-2])} against {tuple(ys[:-2])}") from None


def dot(a, b, out=None):
    """``numpy.dot``: products of scalars, vectors, matrices and N-D arrays, differentiable.

    For N-D ``a`` and ``b`` it sums over the last axis of ``a`` and the
    second-to-last of ``b``, as NumPy does.

    >>> import chainrule.numpy as cnp
    >>> cnp.dot(cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0]))
    np.float64(11.0)
    """
    if not (type(a) in TRACER_TYPES or type(b) in TRACER_TYPES):
        try:
            return np.dot(a, b, out)
        except ValueError:
            _check_dot(np.shape(a), np.shape(b))
            raise
    refuse_keywords("dot", out=out)
    an, bn = ndim_of(a), ndim_of(b)
    if an == 0 or bn == 0:
        return multiply(a, b)
    _check_dot(shape_of(a), shape_of(b))
    if bn <= 2:
        return matmul(a, b)
    # N-D: contract a's last axis with b's second-to-last; b's other axes follow a's.
    bs = shape_of(b)
    perm = (bn - 2,) + tuple(i for i in range(bn) if i != bn - 2)
    b2 = reshape(transpose(b, perm), (bs[-2], -1))
    out = matmul(a, b2)
    return reshape(out, shape_of(a)[:-1] + bs[:-2] + bs[-1:])


def _check_dot(xs, ys):
    if xs and ys and xs[-1] != ys[-2 if len(ys) > 1 else -1]:
        raise _misaligned("dot", xs, ys, -1, -2 if len(ys) > 1 else -1)


def _traced(*xs):
    return any(type(x) in TRACER_TYPES for x in xs)


def _arr(x):
    return x if type(x) in TRACER_TYPES else np.asarray(x)


def _mT(x):
    return swapaxes(x, -1, -2)


# -- tensordot, outer, inner --------------------------------------------------

def _tensordot_axes(axes, an, bn):
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        return list(range(an - n, an)), list(range(n))
    ax_a, ax_b = axes
    ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
    ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    if len(ax_a) != len(ax_b):
        raise ValueError(f"tensordot: axes {axes} pair up {len(ax_a)} axes of a with {len(ax_b)} of b")
    return [int(i) % an for i in ax_a], [int(i) % bn for i in ax_b]


def tensordot(a, b, axes=2):
    """``numpy.tensordot``: sum products over the given axes, differentiable.

    ``axes`` is an integer (the last ``axes`` axes of ``a`` with the first of
    ``b``) or a pair of axis lists.

    >>> import chainrule.numpy as cnp
    >>> cnp.tensordot(cnp.ones((2, 3)), cnp.ones((3, 4)), axes=1).shape
    (2, 4)
    """
    if not _traced(a, b):
        try:
            return np.tensordot(a, b, axes)
        except ValueError:
            _check_contraction("tensordot", np.shape(a), np.shape(b), *_tensordot_axes(axes, np.ndim(a), np.ndim(b)))
            raise
    a, b = _arr(a), _arr(b)
    ax_a, ax_b = _tensordot_axes(axes, a.ndim, b.ndim)
    _check_contraction("tensordot", a.shape, b.shape, ax_a, ax_b)
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    k = int(np.prod([a.shape[i] for i in ax_a], dtype=np.int64))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    a2 = reshape(transpose(a, free_a + ax_a), (-1, k))
    b2 = reshape(transpose(b, ax_b + free_b), (k, -1))
    return reshape(matmul(a2, b2), out_shape)


def _check_contraction(op, xs, ys, ax_a, ax_b):
    for i, j in zip(ax_a, ax_b):
        if xs[i] != ys[j]:
            raise _misaligned(op, xs, ys, i, j)


def _check_solve(as_, bs):
    if len(as_) >= 2 and len(bs) >= 1 and as_[-1] != bs[-1 if len(bs) == 1 else -2]:
        raise _misaligned("solve", as_, bs, -1, -1 if len(bs) == 1 else -2,
                          "; b is a vector (n,) or a stack of matrices (..., n, k)")


def outer(a, b, out=None):
    """``numpy.outer``: ``out[i, j] = a.ravel()[i] * b.ravel()[j]``, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.outer(cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0, 5.0]))
    array([[ 3.,  4.,  5.],
           [ 6.,  8., 10.]])
    """
    if not _traced(a, b):
        return np.outer(a, b, out)
    refuse_keywords("outer", out=out)
    return multiply(reshape(_arr(a), (-1, 1)), reshape(_arr(b), (1, -1)))


def inner(a, b):
    """``numpy.inner``: sum products over the last axes of ``a`` and ``b``, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.inner(cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0]))
    np.float64(11.0)
    """
    if not _traced(a, b):
        try:
            return np.inner(a, b)
        except ValueError:
            _check_contraction("inner", np.shape(a), np.shape(b), [-1], [-1])
            raise
    a, b = _arr(a), _arr(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    _check_contraction("inner", a.shape, b.shape, [-1], [-1])
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


# -- diagonal, trace, diag ----------------------------------------------------

def diagonal(a, offset=0, axis1=0, axis2=1):
    """``numpy.diagonal``: the diagonal of ``a`` over ``axis1``/``axis2``, appended as the last axis.

    >>> import chainrule.numpy as cnp
    >>> cnp.diagonal(cnp.array([[1.0, 2.0], [3.0, 4.0]]))
    array([1., 4.])
    """
    if not _traced(a):
        return np.diagonal(a, offset, axis1, axis2)
    nd = a.ndim
    axis1, axis2 = int(axis1) % nd, int(axis2) % nd
    if axis1 == axis2:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    n1, n2 = a.shape[axis1], a.shape[axis2]
    rows = np.arange(max(0, -offset), n1)
    cols = rows + offset
    keep = (cols >= 0) & (cols < n2)
    rows, cols = rows[keep], cols[keep]
    rest = [i for i in range(nd) if i not in (axis1, axis2)]
    x = transpose(a, [axis1, axis2] + rest)
    d = _getitem(x, (rows, cols))  # shape (k,) + rest
    return transpose(d, list(range(1, nd - 1)) + [0])


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``numpy.trace``: the sum along a diagonal, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.trace)(cnp.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 0.],
           [0., 1.]])
    """
    if not _traced(a):
        return np.trace(a, offset, axis1, axis2, dtype, out)
    refuse_keywords("trace", out=out)
    a = a if dtype is None else astype(a, dtype)
    return _sum(diagonal(a, offset, axis1, axis2), axis=-1)


def diag(v, k=0):
    """``numpy.diag``: a 2-D array's ``k``-th diagonal, or a square array with 1-D ``v`` on it.

    >>> import chainrule.numpy as cnp
    >>> cnp.diag(cnp.array([1.0, 2.0]))
    array([[1., 0.],
           [0., 2.]])
    """
    if not _traced(v):
        return np.diag(v, k)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {v.shape}")
    n = v.shape[0]
    m = n + abs(int(k))
    i = np.arange(n)
    rows, cols = (i, i + k) if k >= 0 else (i - k, i)
    return _scatter_add(v, (rows, cols), (m, m))


# -- einsum ---------------------------------------------------------------------

def _einsum_normalize(subscripts, ndims):
    """Explicit subscripts with ``...`` spelt out as letters: ``(input terms, output term)``."""
    s = subscripts.replace(" ", "")
    ins, out = s.split("->") if "->" in s else (s, None)
    terms = ins.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands but {len(ndims)} were given")
    free = [c for c in string.ascii_letters if c not in s]
    ell_n = max([nd - (len(t) - 3) for t, nd in zip(terms, ndims) if "..." in t], default=0)
    ell = "".join(free[:ell_n])
    new = []
    for t, nd in zip(terms, ndims):
        if "..." in t:
            k = nd - (len(t) - 3)
            t = t.replace("...", ell[ell_n - k:] if k else "")
        if len(t) != nd:
            raise ValueError(f"einsum: term {t!r} of {subscripts!r} does not match an operand with {nd} axes")
        new.append(t)
    if out is None:
        counts = {}
        for t in new:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return new, out


try:  # np.einsum(..., optimize=False) is this call behind a Python wrapper (~0.7 us a call)
    from numpy._core.multiarray import c_einsum as _c_einsum
except ImportError:  # another NumPy layout: the public function, the same result
    _c_einsum = np.einsum


def _einsum_impl(*operands, terms, out):
    return _c_einsum(",".join(terms) + "->" + out, *operands)


def _einsum_vjp(i):
    def rule(ans, *operands, terms, out):
        target = terms[i]
        others = [(t, x) for j, (t, x) in enumerate(zip(terms, operands)) if j != i]
        avail = set(out).union(*[set(t) for t, _ in others])
        have = "".join(c for c in target if c in avail)
        shape = operands[i].shape

        def vjp(g):
            r = _einsum_or_product([out] + [t for t, _ in others], have, [g] + [x for _, x in others])
            if have != target:  # letters summed in operand i alone: broadcast back
                r = reshape(r, tuple(shape[k] if c in avail else 1 for k, c in enumerate(target)))
                r = broadcast_to(r, shape)
            return r
        return vjp
    return rule


def _einsum_or_product(terms, out, operands):
    """``einsum`` of ``terms -> out``; one that sums over no index (``'e,ed->ed'``, the VJP of a
    row-wise dot product) is a broadcasting ``multiply``, several times cheaper than ``np.einsum``."""
    if len(set(out)) != len(out) or any(len(set(t)) != len(t) or not set(t) <= set(out) for t in terms):
        return _einsum_bind(terms, out, operands)
    r = None
    for t, x in zip(terms, operands):
        order = sorted(range(len(t)), key=lambda k: out.index(t[k]))
        if order != list(range(len(t))):
            x = transpose(x, order)
        shape = tuple(x.shape)
        if len(t) != len(out):   # size-1 axes for the letters t lacks, so out's axes line up
            sizes = dict(zip(sorted(t, key=out.index), shape))
            x = reshape(x, tuple(sizes.get(c, 1) for c in out))
        r = x if r is None else multiply(r, x)
    return r


def _einsum_jvp(primals, tangents, ans, params):
    out = None
    for i, t in enumerate(tangents):
        if t is None:
            continue
        ops = list(primals)
        ops[i] = t
        c = _einsum_bind(params["terms"], params["out"], ops)
        out = c if out is None else add(out, c)
    return out


def _batch_einsum(vals, batched, params):
    """A fresh index letter for the batch axis, on the batched operands and first in the output."""
    terms, out = params["terms"], params["out"]
    used = set("".join(terms) + out)
    b = next(c for c in string.ascii_letters if c not in used)
    terms = tuple(b + t if bt else t for t, bt in zip(terms, batched))
    return bind(einsum_p, vals, {"terms": terms, "out": b + out})


def _einsum_formula(i, shapes, params, names, names_tex, g, g_tex):
    """``einsum('i,j->ij', ḡ, x)``: the adjoint contracted with the other operands (for ``explain``)."""
    terms, out = list(params["terms"]), params["out"]
    others = [k for k in range(len(terms)) if k != i]
    spec = ",".join([out] + [terms[k] for k in others]) + "->" + terms[i]
    spec_tex = spec.replace("->", r"{\to}")
    return (f"einsum('{spec}', " + ", ".join([g] + [names[k] for k in others]) + ")",
            rf"\operatorname{{einsum}}_{{\mathtt{{{spec_tex}}}}}(" + ", ".join([g_tex] + [names_tex[k] for k in others]) + ")")


einsum_p = defprim(
    "einsum", _einsum_impl, PerInput(_einsum_vjp), jvp=_einsum_jvp,
    formulas=PerInput(lambda i: _einsum_formula),
    batch=_batch_einsum, taylor="multilinear")


def _einsum_bind(terms, out, operands):
    terms = tuple(terms)
    if not _traced(*operands):
        return np.einsum(",".join(terms) + "->" + out, *operands)
    return bind(einsum_p, tuple(_arr(x) for x in operands), {"terms": terms, "out": out})


def einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    """``numpy.einsum(subscripts, *operands)``: Einstein summation, differentiable.

    Explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``) forms, ``...``, an
    operand that repeats an index (a diagonal: ``'ii->i'``, ``'ii'``, ``'iij->j'``)
    and the sublist form ``einsum(x, [0, 1], y, [1, 2])`` are supported.
    ``optimize`` only chooses the order of contraction (chainrule contracts all
    operands at once); ``dtype`` casts the operands first.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.einsum('i,i->', cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0]))
    np.float64(11.0)
    >>> cr.grad(lambda a: cnp.einsum('ij->', a))(cnp.ones((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    >>> cr.grad(lambda a: cnp.einsum('ii', a))(cnp.ones((2, 2)))  # the trace
    array([[1., 0.],
           [0., 1.]])
    """
    if not isinstance(subscripts, str):  # the sublist form: operand, sublist, operand, sublist, ..., [out]
        subscripts, operands = _einsum_from_sublists((subscripts,) + operands)
    if not _traced(*operands):
        try:
            return np.einsum(subscripts, *operands, out=out, optimize=optimize, **kwargs)
        except ValueError:
            operands = [np.asarray(x) for x in operands]
            _check_einsum(subscripts, *_einsum_normalize(subscripts, [x.ndim for x in operands]), operands)
            raise
    refuse_keywords("einsum", out=out, **{k: v for k, v in kwargs.items() if k != "dtype"})
    dtype = kwargs.get("dtype")
    operands = [_arr(x) if dtype is None else astype(x, dtype) for x in operands]
    terms, out = _einsum_normalize(subscripts, [x.ndim for x in operands])
    _check_einsum(subscripts, terms, out, operands)
    terms, operands = zip(*[_einsum_diagonal(t, x) for t, x in zip(terms, operands)])
    return _einsum_bind(terms, out, operands)


def _einsum_from_sublists(args):
    """``(x, [0, 1], y, [1, 2], [0, 2])`` as ``('ab,bc->ac', (x, y))``."""
    def term(sub):
        return "".join("..." if k is Ellipsis else string.ascii_letters[int(k)] for k in sub)
    operands, subs = args[0:-1:2] if len(args) % 2 else args[0::2], args[1::2]
    spec = ",".join(term(t) for t in subs[:len(operands)])
    if len(args) % 2:
        spec += "->" + term(args[-1])
    return spec, tuple(operands)


def _check_einsum(subscripts, terms, out, operands):
    """Each index letter must have one size across the operands (size 1 broadcasts)."""
    seen = {}
    for k, (t, x) in enumerate(zip(terms, operands)):
        for c, n in zip(t, x.shape):
            if c in seen and n != 1 and seen[c][0] != 1 and seen[c][0] != n:
                m, j = seen[c]
                shapes = ", ".join(f"operand {i}: {tuple(o.shape)}" for i, o in enumerate(operands))
                raise ValueError(f"einsum {subscripts!r}: index {c!r} has size {m} in operand {j} but {n} in "
                                 f"operand {k} ({shapes})")
            if c not in seen or seen[c][0] == 1:
                seen[c] = (n, k)
    for c in out:
        if c not in seen:
            raise ValueError(f"einsum {subscripts!r}: output index {c!r} is in no operand")


def _einsum_diagonal(term, x):
    """An operand whose term repeats an index, as its diagonal: ``('ii', x)`` becomes ``('i', diagonal(x))``."""
    for i, c in enumerate(term):
        j = term.find(c, i + 1)
        if j >= 0:
            return _einsum_diagonal(term[:i] + term[i + 1:j] + term[j + 1:] + c, diagonal(x, 0, i, j))
    return term, x


# -- numpy.linalg -----------------------------------------------------------------

def _inv_jvp(primals, tangents, ans, params):
    return negative(matmul(ans, matmul(tangents[0], ans)))


inv_p = defprim(
    "inv", np.linalg.inv,
    [lambda ans, a: lambda g: negative(matmul(_mT(ans), matmul(g, _mT(ans))))],
    jvp=_inv_jvp, uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("-ans.T @ g @ ans.T", r"-\mathrm{ans}^{\top} \bar g\, \mathrm{ans}^{\top}")])


def inv(a):
    """``numpy.linalg.inv``: the inverse of (a stack of) square matrices, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.linalg.inv(cnp.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    if not _traced(a):
        return np.linalg.inv(a)
    return bind(inv_p, (a,), EMPTY)


def _col(x):
    return reshape(x, x.shape + (1,))


def _uncol(x):
    return reshape(x, x.shape[:-1])


def _solve_m(a, b):  # both matrix-shaped: (..., n, n), (..., n, k)
    return bind(solve_p, (a, b), EMPTY) if _traced(a, b) else np.linalg.solve(a, b)


def _solve_da(ans, a, b):
    vec = b.ndim == 1  # NumPy 2: only a 1-D b is a vector

    def vjp(g):
        x, gm = (_col(ans), _col(g)) if vec else (ans, g)
        return negative(matmul(_solve_m(_mT(a), gm), _mT(x)))
    return vjp


def _solve_db(ans, a, b):
    if b.ndim == 1:
        return lambda g: _uncol(_solve_m(_mT(a), _col(g)))
    return lambda g: _solve_m(_mT(a), g)


def _solve_jvp(primals, tangents, ans, params):
    a, b = primals
    ta, tb = tangents
    vec = b.ndim == 1
    rhs = None if tb is None else (_col(tb) if vec else tb)
    if ta is not None:
        c = matmul(ta, _col(ans) if vec else ans)
        rhs = negative(c) if rhs is None else subtract(rhs, c)
    if rhs is None:
        return None
    if rhs.ndim < a.ndim:  # a batched, b not: give the right side a's batch axes
        rhs = broadcast_to(rhs, a.shape[:-2] + rhs.shape[-2:])
    out = _solve_m(a, rhs)
    return _uncol(out) if vec else out


def _batch_solve(vals, batched, params):
    """NumPy 2's ``solve``: a 1-D right side is one vector, so make it a column explicitly."""
    from chainrule._interpreters.batching import align
    (a, b), (ba, bb) = vals, batched
    if len(b.shape) - bb != 1:  # a stack of matrices: leading axes broadcast
        return bind(solve_p, align((a, b), batched), EMPTY)
    lead = b.shape[:1] if bb else ()
    col = reshape(b, lead + (1,) * (len(a.shape) - ba - 2) + b.shape[-1:] + (1,))
    out = bind(solve_p, (a, col), EMPTY)
    return reshape(out, out.shape[:-1])


solve_p = defprim(
    "solve", np.linalg.solve, [_solve_da, _solve_db], jvp=_solve_jvp, uses_ans=True,
    batch=_batch_solve,
    formulas=[("-solve(a.T, g) @ ans.T", r"-a^{-\top}\bar g\, \mathrm{ans}^{\top}"),
              ("solve(a.T, g)", r"a^{-\top} \bar g")])


def solve(a, b):
    """``numpy.linalg.solve``: ``x`` with ``a @ x = b``, differentiable in ``a`` and ``b``.

    ``b`` is a vector ``(n,)`` or a stack of matrices ``(..., n, k)``, as in NumPy 2.

    >>> import chainrule.numpy as cnp
    >>> cnp.linalg.solve(cnp.array([[2.0, 0.0], [0.0, 4.0]]), cnp.array([1.0, 1.0]))
    array([0.5 , 0.25])
    """
    if not _traced(a, b):
        try:
            return np.linalg.solve(a, b)
        except ValueError:
            _check_solve(np.shape(a), np.shape(b))
            raise
    return bind(solve_p, (_arr(a), _arr(b)), EMPTY)


# -- det and its derivatives of every order: the cofactor tower ---------------------------
#
# ``det_p``'s derivative is the cofactor matrix, ``det(a) inv(a)ᵀ`` only where ``a`` is
# invertible; it is computed exactly at every rank from the singular values instead.  If
# ``a = U diag(s) Vᵀ``, then ``det(a + x) = det(U) det(V) det(diag(s) + Uᵀ x V)`` for every
# ``x``, so every derivative of ``det`` at ``a`` is one of ``det`` at the diagonal
# ``diag(s)``, where expanding ``det(diag(s) + y) = Σ_J (Π_{j∉J} s_j) det(y[J, J])`` gives
# products of the *other* singular values: no division, so nothing breaks at rank n-1 or
# below.  ``cofactor(a, e_1, ..., e_k)`` is ``∂^{k+1} det(a)[e_1, ..., e_k, ·]`` (the
# cofactor matrix for ``k = 0``); its derivatives in ``a`` and in each ``e_j`` are the same
# primitive with one direction more (the derivative is symmetric in its directions), so
# the tower closes on itself and every order is exact.  Beyond order n it is zero.


def _perm_sign(perm):
    inversions = sum(perm[i] > perm[j] for i in range(len(perm)) for j in range(i + 1, len(perm)))
    return -1.0 if inversions % 2 else 1.0


def _complement_products(s, m):
    """``W[..., i_1, ..., i_m] = Π_{j ∉ {i_1..i_m}} s_j`` for distinct ``i``, 0 otherwise.

    Without division (``s`` may hold zeros): prefix times suffix products leave out one
    index; each further index is left out by setting its ``s`` to 1 first.  O(n^m).
    """
    n = s.shape[-1]
    if m == 1:
        ones = np.ones(s.shape[:-1] + (1,), s.dtype)
        before = np.cumprod(np.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        return before * after
    eye = np.eye(n, dtype=bool)
    w = _complement_products(np.where(eye, 1.0, s[..., None, :]), m - 1)  # i_1 left out first
    idx = np.indices((n,) * m)
    distinct = np.ones((n,) * m, dtype=bool)
    for r in range(1, m):
        distinct &= idx[r] != idx[0]
    return w * distinct


def finite_svd(a, **kw):
    """``numpy.linalg.svd`` that returns NaN for a matrix holding inf or NaN.

    LAPACK's SVD can loop forever on an infinite entry (a 3×3 with one ``inf`` does, with
    NumPy 2.4), so such matrices are replaced by zeros first and their results by NaN.
    """
    a = np.asarray(a)
    bad = ~np.isfinite(a).all(axis=(-2, -1))
    if not bad.any():
        return np.linalg.svd(a, **kw)
    out = np.linalg.svd(np.where(bad[..., None, None], 0.0, a), **kw)
    parts = (out,) if kw.get("compute_uv") is False else tuple(out)
    for p in parts:
        p[bad] = np.nan
    return out


def _cofactor_impl(a, *e):
    """``∂^{k+1} det(a)[e_1, ..., e_k, ·]`` (``k = len(e)``) through the SVD of ``a``."""
    m, n = len(e) + 1, a.shape[-1]
    lead = np.broadcast_shapes(*(np.shape(x)[:-2] for x in (a,) + e))
    dtype = np.result_type(a, *e)
    if m > n:  # det is a polynomial of degree n
        return np.zeros(lead + (n, n), dtype)
    u, s, vh = finite_svd(np.broadcast_to(a, lead + (n, n)))  # NaN for a matrix with inf or NaN
    sign = np.sign(np.linalg.det(u) * np.linalg.det(vh))[..., None, None]
    f = [np.swapaxes(u, -1, -2) @ x @ np.swapaxes(vh, -1, -2) for x in e]  # e in the singular basis
    w = _complement_products(s, m)
    letters = string.ascii_lowercase[:m]
    d = np.zeros(lead + (n, n), dtype)
    diag = np.arange(n)
    for perm in itertools.permutations(range(m)):  # det(y[J, J]) of the m directions, one per row
        ins = ["..." + letters] + [f"...{letters[r]}{letters[perm[r]]}" for r in range(1, m)]
        out = letters[0] + (letters[perm[0]] if perm[0] else "")
        c = _perm_sign(perm) * np.einsum(",".join(ins) + "->..." + out, w, *f)
        if perm[0]:
            d += c
        else:  # the free slot on the diagonal
            d[..., diag, diag] += c
    return (sign * (u @ d @ vh)).astype(dtype, copy=False)


def _cofactor_vjp(i):
    if i == 0:  # d/da <g, ∂^{k+1}det[e, ·]> = ∂^{k+2}det[e, g, ·]
        return lambda ans, a, *e: lambda g: cofactor(a, *e, g)
    return lambda ans, a, *e: lambda g: cofactor(a, *e[:i - 1], *e[i:], g)


def _cofactor_jvp(primals, tangents, ans, params):
    a, e = primals[0], primals[1:]
    out = None
    for j, t in enumerate(tangents):
        if t is not None:
            c = cofactor(a, *e, t) if j == 0 else cofactor(a, *e[:j - 1], t, *e[j:])
            out = c if out is None else add(out, c)
    return out


cofactor_p = defprim(
    "cofactor", _cofactor_impl, PerInput(_cofactor_vjp), jvp=_cofactor_jvp,
    batch=batch_by_broadcasting,
    formulas=PerInput(lambda i: ("cofactor(a, …, g)", r"\operatorname{cof}(a, \dots, \bar g)")))


def cofactor(a, *e):
    """The cofactor matrix of ``a`` (``∂ det / ∂a``), exact at every rank; with directions
    ``e_1..e_k``, its ``k``-th derivative ``∂^{k+1} det(a)[e_1, ..., e_k, ·]``."""
    if not _traced(a, *e):
        return _cofactor_impl(np.asarray(a), *map(np.asarray, e))
    return bind(cofactor_p, (_arr(a),) + tuple(_arr(x) for x in e), EMPTY)


def _det_jvp(primals, tangents, ans, params):
    (a,), (ta,) = primals, tangents
    return _sum(multiply(cofactor(a), ta), axis=(-2, -1))


det_p = defprim(
    "det", np.linalg.det,
    [lambda ans, a: lambda g: multiply(reshape(g, g.shape + (1, 1)), cofactor(a))],
    jvp=_det_jvp, batch=batch_by_broadcasting,
    formulas=[("g * cofactor(a)", r"\bar g\, \operatorname{cof}(a)")])


def det(a):
    """``numpy.linalg.det``: the determinant of (a stack of) square matrices, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.linalg.det)(cnp.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[4., 0.],
           [0., 2.]])
    """
    if not _traced(a):
        return np.linalg.det(a)
    return bind(det_p, (a,), EMPTY)


def _inv_for_logabsdet(a):
    """``inv(a)``, the derivative of ``log|det a|`` (transposed); at a singular ``a`` there is none."""
    try:
        return inv(a)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(
            f"slogdet: the matrix of shape {shape_of(a)} is singular (log|det| = -inf), so log|det| "
            f"has no derivative there; det's derivative (the cofactor matrix) exists at every "
            f"matrix: use cnp.linalg.det") from None


def _logabsdet_jvp(primals, tangents, ans, params):
    (a,), (ta,) = primals, tangents
    return _sum(multiply(_mT(_inv_for_logabsdet(a)), ta), axis=(-2, -1))


logabsdet_p = defprim(
    "logabsdet", lambda a: np.linalg.slogdet(a)[1],
    [lambda ans, a: lambda g: multiply(reshape(g, g.shape + (1, 1)), _mT(_inv_for_logabsdet(a)))],
    jvp=_logabsdet_jvp, batch=batch_by_broadcasting,
    formulas=[("g * inv(a).T", r"\bar g\, a^{-\top}")])


def slogdet(a):
    """``numpy.linalg.slogdet``: ``(sign, logabsdet)``; ``logabsdet`` is differentiable, ``sign`` is constant.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> sign, logabsdet = cnp.linalg.slogdet(cnp.array([[2.0, 0.0], [0.0, -4.0]]))
    >>> float(sign), round(float(logabsdet), 4)
    (-1.0, 2.0794)
    >>> cr.grad(lambda a: cnp.linalg.slogdet(a)[1])(cnp.array([[2.0, 1.0], [0.0, 4.0]]))
    array([[ 0.5  ,  0.   ],
           [-0.125,  0.25 ]])
    """
    if not _traced(a):
        return np.linalg.slogdet(a)
    r = raw(a)  # the sign has no derivative; under vmap it is batched
    sign = bind(slogdet_sign_p, (r,), EMPTY) if _traced(r) else np.linalg.slogdet(r)[0]
    return _SlogdetResult(sign, bind(logabsdet_p, (a,), EMPTY))  # NumPy's named tuple, as on arrays


_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


slogdet_sign_p = defprim("slogdet_sign", lambda a: np.linalg.slogdet(a)[0], [None], jvp=None,
                         batch=batch_by_broadcasting)


def _phi(x):
    """The lower triangle of ``x`` with its diagonal halved."""
    n = x.shape[-1]
    return multiply(x, np.tril(np.ones((n, n))) - 0.5 * np.eye(n))


def _sym(x):
    return multiply(add(x, _mT(x)), 0.5)


def _cholesky_vjp(ans, a):
    def vjp(g):
        li = inv(ans)
        s = matmul(_mT(li), matmul(_phi(matmul(_mT(ans), g)), li))
        return _sym(s)
    return vjp


def _cholesky_jvp(primals, tangents, ans, params):
    li = inv(ans)
    return matmul(ans, _phi(matmul(li, matmul(_sym(tangents[0]), _mT(li)))))


cholesky_p = defprim(
    "cholesky", np.linalg.cholesky, [_cholesky_vjp], jvp=_cholesky_jvp, uses_ans=True,
    batch=batch_by_broadcasting,
    formulas=[("sym(inv(ans).T Φ(ans.T @ g) inv(ans))",
               r"\operatorname{sym}\big(\mathrm{ans}^{-\top}\,\Phi(\mathrm{ans}^{\top}\bar g)\,\mathrm{ans}^{-1}\big)")])


def cholesky(a, /, *, upper=False):
    """``numpy.linalg.cholesky``: the lower Cholesky factor, differentiable (Murray 2016).

    The derivative treats ``a`` as symmetric: the gradient is symmetrised.

    >>> import chainrule.numpy as cnp
    >>> cnp.linalg.cholesky(cnp.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 0.],
           [1., 1.]])
    """
    if not _traced(a):
        return np.linalg.cholesky(a, upper=upper)
    if upper:  # the upper triangle of a is the lower triangle of its transpose
        return _mT(bind(cholesky_p, (_mT(a),), EMPTY))
    return bind(cholesky_p, (a,), EMPTY)


def _check_distinct_eigenvalues(w):
    """Eigenvectors have a derivative only where the eigenvalues are distinct (beyond rounding)."""
    if w.shape[-1] < 2:
        return
    eps = np.finfo(np.result_type(w.dtype, np.float32)).eps
    tol = 8 * w.shape[-1] * eps * np.max(np.abs(w), axis=-1, keepdims=True)
    tie = np.diff(np.sort(w, axis=-1), axis=-1) <= tol
    if tie.any():
        k = np.argwhere(tie)[0]
        raise np.linalg.LinAlgError(
            f"eigh: eigenvalue {float(w[tuple(k)]):.6g} is repeated (up to rounding), so its "
            f"eigenvectors are not unique and have no derivative there (forward mode and JAX "
            f"give nan); differentiate only through the eigenvalues w, or separate them")


def _eigh_f(w):
    """``F[..., i, j] = 1 / (w_j - w_i)`` off the diagonal, ``0`` on it; ``nan`` where two
    eigenvalues tie (up to rounding): forward mode's eigenvector tangent there, as JAX's."""
    from chainrule._ops.elementwise import less_equal
    n = w.shape[-1]
    d = subtract(reshape(w, w.shape[:-1] + (1, n)), reshape(w, w.shape + (1,)))
    eps = np.finfo(np.result_type(w.dtype, np.float32)).eps
    scale = _max(_abs(w), axis=-1, keepdims=True)
    tie = less_equal(_abs(d), multiply(reshape(scale, scale.shape + (1,)), 8 * n * eps))
    eye = np.eye(n, dtype=bool)
    return where(eye, 0.0, where(tie, np.nan, divide(1.0, where(tie, 1.0, d))))


def _eigh_dw(ans, a, UPLO):  # noqa: N803 (NumPy's name)
    def vjp(g):
        v = eigh_v(a, UPLO)
        return _sym(matmul(multiply(v, reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])), _mT(v)))
    return vjp


def _eigh_dv(ans, a, UPLO):  # noqa: N803
    w = eigh_w(a, UPLO)
    known = peel(w)  # every example of a batch; None when staged (cr.jit): not checked
    if known is not None:
        _check_distinct_eigenvalues(np.asarray(known))

    def vjp(g):
        f = _eigh_f(w)
        return _sym(matmul(ans, matmul(multiply(f, matmul(_mT(ans), g)), _mT(ans))))
    return vjp


def _eigh_w_jvp(primals, tangents, ans, params):
    v = eigh_v(primals[0], params["UPLO"])
    return _sum(multiply(v, matmul(_sym(tangents[0]), v)), axis=-2)  # diag(v^T t v)


def _eigh_v_jvp(primals, tangents, ans, params):
    f = _eigh_f(eigh_w(primals[0], params["UPLO"]))
    return matmul(ans, multiply(f, matmul(_mT(ans), matmul(_sym(tangents[0]), ans))))


eigh_w_p = defprim(
    "eigh_w", lambda a, UPLO: np.linalg.eigh(a, UPLO)[0], [_eigh_dw], jvp=_eigh_w_jvp,
    batch=batch_by_broadcasting,
    formulas=[("eigvecs(a) diag(g) eigvecs(a).T",
               r"Q_{a} \operatorname{diag}(\bar g)\, Q_{a}^{\top}")])
eigh_v_p = defprim(
    "eigh_v", lambda a, UPLO: np.linalg.eigh(a, UPLO)[1], [_eigh_dv], jvp=_eigh_v_jvp, uses_ans=True,
    batch=batch_by_broadcasting,
    formulas=[("ans (F ⊙ (ans.T @ g)) ans.T", r"\mathrm{ans}\,(F \circ \mathrm{ans}^{\top}\bar g)\,\mathrm{ans}^{\top}")])


def eigh_w(a, UPLO="L"):  # noqa: N803
    return bind(eigh_w_p, (a,), {"UPLO": UPLO}) if _traced(a) else np.linalg.eigh(a, UPLO)[0]


def eigh_v(a, UPLO="L"):  # noqa: N803
    return bind(eigh_v_p, (a,), {"UPLO": UPLO}) if _traced(a) else np.linalg.eigh(a, UPLO)[1]


def eigh(a, UPLO="L"):  # noqa: N803 (NumPy's name)
    """``numpy.linalg.eigh``: ``(w, v)`` of a symmetric matrix, differentiable.

    The derivative treats ``a`` as symmetric (the gradient is symmetrised).  At
    repeated eigenvalues the eigenvectors have no derivative: reverse mode raises
    ``LinAlgError``, forward mode gives nan (as JAX); see docs/conventions.md.

    >>> import chainrule.numpy as cnp
    >>> w, v = cnp.linalg.eigh(cnp.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> w
    array([1., 2.])
    """
    if not _traced(a):
        return tuple(np.linalg.eigh(a, UPLO))
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return eigh_w(a, UPLO), eigh_v(a, UPLO)


def _safe_sqrt(s):
    """``sqrt(s)`` whose derivatives at ``s = 0`` are 0 (as PyTorch's norm; JAX's is nan)."""
    zero = raw(s) == 0
    return where(zero, 0.0, sqrt(where(zero, 1.0, s)))


# -- singular values (for the matrix 2-norm, -2-norm and nuclear norm) --------------

def _svd_factors(a, s):
    """``(U, V)`` of the thin SVD ``a = U diag(s) Vᵀ``, columns in ``svd``'s descending order.

    Their *values* are NumPy's SVD (accurate to ``eps·κ``, and defined at zero
    singular values); their *derivatives* are those of the same vectors computed
    differentiably -- the eigenvectors of the smaller Gram matrix (``aᵀa`` or
    ``aaᵀ``), the other side as ``a V / s`` or ``aᵀ U / s`` -- so higher
    derivatives follow.  ``x + stop_gradient(exact - x)`` joins the two; the
    eigenvectors' signs are first matched to NumPy's.
    """
    tall = a.shape[-2] >= a.shape[-1]
    short = _getitem(eigh_v(matmul(_mT(a), a) if tall else matmul(a, _mT(a))), (Ellipsis, slice(None, None, -1)))
    safe = reshape(where(raw(s) == 0, 1.0, s), s.shape[:-1] + (1,) + s.shape[-1:])
    long = divide(matmul(a if tall else _mT(a), short), safe)
    r = raw(a)
    ue, ve = bind(svd_u_p, (r,), EMPTY), bind(svd_v_p, (r,), EMPTY)
    short_e, long_e = (ve, ue) if tall else (ue, ve)
    sign = _sign(_sum(multiply(short_e, raw(short)), axis=-2, keepdims=True))
    sign = where(sign == 0, 1.0, sign)
    short = add(short, stop_gradient(subtract(multiply(short_e, sign), short)))
    long = add(long, stop_gradient(subtract(multiply(long_e, sign), long)))
    return (long, short) if tall else (short, long)


# NumPy's thin-SVD factors, as constants (no derivative): the values ``_svd_factors`` takes.
svd_u_p = defprim("svd_u", lambda a: finite_svd(a, full_matrices=False)[0], [None], jvp=None,
                  batch=batch_by_broadcasting)
svd_v_p = defprim("svd_v", lambda a: _mT(finite_svd(a, full_matrices=False)[2]), [None], jvp=None,
                  batch=batch_by_broadcasting)


def _svdvals_vjp(ans, a):
    """``ds_i = u_iᵀ da v_i``, so the cotangent is ``U diag(g) Vᵀ``."""
    def vjp(g):
        u, v = _svd_factors(a, ans)
        return matmul(multiply(u, reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])), _mT(v))
    return vjp


def _svdvals_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    u, v = _svd_factors(a, ans)
    return _sum(multiply(u, matmul(t, v)), axis=-2)


svdvals_p = defprim(
    "svdvals", lambda a: finite_svd(a, compute_uv=False), [_svdvals_vjp], jvp=_svdvals_jvp,
    uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("U diag(g) V.T", r"U \operatorname{diag}(\bar g)\, V^{\top}")])


def svdvals(a):
    """The singular values of (a stack of) matrices, descending (``numpy.linalg.svdvals``), differentiable.

    ``d s_i = u_iᵀ da v_i``, so the cotangent is ``U diag(ḡ) Vᵀ`` with NumPy's
    own singular vectors (exact at zero singular values too: the gradient of
    the nuclear norm of a rank-deficient matrix is ``U Vᵀ``, as in JAX).  Their
    derivatives go through ``eigh`` of the smaller Gram matrix, so higher
    derivatives follow; those assume distinct, non-zero singular values.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.linalg.svdvals(cnp.array([[3.0, 0.0], [0.0, -2.0]]))
    array([3., 2.])
    >>> cr.grad(lambda a: cnp.linalg.svdvals(a)[0])(cnp.array([[3.0, 0.0], [0.0, -2.0]]))
    array([[1., 0.],
           [0., 0.]])
    """
    if not _traced(a):
        return finite_svd(a, compute_uv=False)
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"svdvals: {a.ndim}-dimensional array given; it needs at least 2 dimensions")
    return bind(svdvals_p, (a,), EMPTY)


def _safe_sqrt(s):
    """``sqrt(s)`` whose derivative at ``s = 0`` is 0 (as JAX's norm)."""
    zero = raw(s) == 0
    return where(zero, 0.0, sqrt(where(zero, 1.0, s)))


def _vector_norm(x, ord, axis, keepdims):  # noqa: A002
    if ord is None or ord == 2:
        return _safe_sqrt(_sum(multiply(x, x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return _max(_abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return _min(_abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # the number of non-zero entries: no derivative
        return _sum(astype(raw(x) != 0, x.dtype), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord={ord!r} is a matrix norm; a vector norm takes a number (or None)")
    p = float(ord)
    return power(_sum(power(_abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)


def _matrix_norm(x, ord, axis, keepdims):  # noqa: A002
    r, c = axis
    if ord is None or ord in ("fro", "f"):
        return _safe_sqrt(_sum(multiply(x, x), axis=axis, keepdims=keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        inner_ax, outer_ax = (r, c) if ord in (1, -1) else (c, r)
        s = _sum(_abs(x), axis=inner_ax, keepdims=True)
        out = (_max if ord > 0 else _min)(s, axis=outer_ax, keepdims=True)
    elif ord in (2, -2, "nuc"):
        perm = [i for i in range(x.ndim) if i not in axis] + [r, c]
        s = svdvals(x if perm == list(range(x.ndim)) else transpose(x, perm))
        out = s[..., 0] if ord == 2 else s[..., -1] if ord == -2 else _sum(s, axis=-1)
        return reshape(out, tuple(1 if i in axis else d for i, d in enumerate(x.shape))) if keepdims else out
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices; use None, 'fro', 'nuc', "
                         f"1, -1, 2, -2, inf or -inf")
    return out if keepdims else reshape(out, tuple(d for i, d in enumerate(out.shape) if i not in axis))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (NumPy's name)
    """``numpy.linalg.norm``: every vector and matrix norm of NumPy, differentiable.

    Vector norms: ``None``/2, 1, inf, -inf, 0 (a count, no derivative) and any
    other power ``p``; matrix norms (2-D ``x`` or a pair of ``axis``, stacks
    allowed): 'fro', 'nuc', 1, -1, 2, -2, inf, -inf.  The 2-norm, -2-norm and
    nuclear norm go through the singular values: ``d‖A‖₂ = u₁v₁ᵀ``,
    ``d‖A‖_* = U Vᵀ``.  The gradient of the 2-norm of a vector at 0 is 0, as in PyTorch
    (JAX gives nan); ``norm(x, 1)`` has derivative 1 at a zero entry (``abs'(0) = 1``, as JAX).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.linalg.norm(cnp.array([3.0, 4.0]))
    np.float64(5.0)
    >>> cr.grad(cnp.linalg.norm)(cnp.array([0.0, 0.0]))
    array([0., 0.])
    >>> cr.grad(lambda a: cnp.linalg.norm(a, 'nuc'))(cnp.array([[2.0, 0.0], [0.0, -1.0]]))
    array([[ 1.,  0.],
           [ 0., -1.]])
    """
    if not _traced(x):
        return np.linalg.norm(x, ord, axis, keepdims)
    if not np.issubdtype(x.dtype, np.inexact):
        x = astype(x, float)  # as NumPy: the norm of integers or booleans is a float
    nd = x.ndim
    if axis is None:
        if ord is None:
            return _safe_sqrt(_sum(multiply(x, x), axis=None, keepdims=keepdims))
        if nd not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a 1-D or 2-D array (or axis=), got shape {x.shape}")
        axis = tuple(range(nd))
    axis = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(i) for i in axis)
    axis = tuple(i % nd for i in axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 2 and axis[0] != axis[1]:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError(f"norm: axis {axis} names {len(axis)} axes; pass one axis (a vector norm) or two "
                     f"distinct axes (a matrix norm)")
