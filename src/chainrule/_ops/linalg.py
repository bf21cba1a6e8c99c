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
LINALG: list = ["inv", "solve", "det", "slogdet", "cholesky", "norm", "eigh"]

import string

import numpy as np

from chainrule._core.primitive import TRACER_TYPES, PerInput, bind, defprim
from chainrule._ops._wrap import EMPTY, batch_by_broadcasting, ndim_of, raw, shape_of
from chainrule._ops.elementwise import abs as _abs
from chainrule._ops.elementwise import add, divide, multiply, negative, sqrt, subtract, where
from chainrule._ops.reductions import max as _max
from chainrule._ops.reductions import sum as _sum
from chainrule._ops.shape import _getitem, _scatter_add, broadcast_to, reshape, swapaxes, transpose


def _matmul_dx(ans, x, y):
    xn, yn = x.ndim, y.ndim
    if yn == 1:  # ans = x @ y has shape x.shape[:-1]
        return lambda g: multiply(reshape(g, g.shape + (1,)), y)
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
    if yn == 1:  # ans has shape x.shape[:-1]
        return lambda g: reshape(matmul(swapaxes(x, -1, -2), reshape(g, g.shape + (1,))), g.shape[:-1] + (y.shape[0],))
    return lambda g: matmul(swapaxes(x, -1, -2), g)


def _batch_matmul(vals, batched, params):
    """Per-example vectors become a row (left) or a column (right), removed again after."""
    from chainrule._interpreters.batching import align
    (x, y), (bx, by) = vals, batched
    xv, yv = len(x.shape) - bx == 1, len(y.shape) - by == 1
    if xv:
        x = reshape(x, x.shape[:-1] + (1,) + x.shape[-1:])
    if yv:
        y = reshape(y, y.shape + (1,))
    out = bind(matmul_p, align((x, y), batched), EMPTY)
    if not (xv or yv):
        return out
    s = out.shape
    return reshape(out, s[:-2] + (() if xv else s[-2:-1]) + (() if yv else s[-1:]))


matmul_p = defprim(
    "matmul", np.matmul, [_matmul_dx, _matmul_dy], jvp="bilinear",
    formulas=[("g @ y.T", r"\bar g\, y^{\top}"), ("x.T @ g", r"x^{\top} \bar g")],
    batch=_batch_matmul,
    notation=("{0} · {1}", r"{0}\,{1}"))


def matmul(x, y):
    """``numpy.matmul`` (the ``@`` operator), differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> W = cnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.grad(lambda v: (W @ v).sum())(cnp.array([1.0, 1.0]))
    array([4., 6.])
    """
    if type(x) in TRACER_TYPES or type(y) in TRACER_TYPES:
        x = x if type(x) in TRACER_TYPES else np.asarray(x)
        y = y if type(y) in TRACER_TYPES else np.asarray(y)
        xs, ys = x.shape, y.shape
        if not xs or not ys:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {xs} and {ys}; use multiply for scalars")
        inner_x = xs[-1]
        inner_y = ys[-2] if len(ys) > 1 else ys[0]
        if inner_x != inner_y:
            raise ValueError(f"matmul: shapes {xs} and {ys} do not align: {inner_x} (last axis of the first) "
                             f"!= {inner_y} ({'second-last' if len(ys) > 1 else 'only'} axis of the second)")
        return bind(matmul_p, (x, y), EMPTY)
    return np.matmul(x, y)


def dot(a, b):
    """``numpy.dot``: products of scalars, vectors, matrices and N-D arrays, differentiable.

    For N-D ``a`` and ``b`` it sums over the last axis of ``a`` and the
    second-to-last of ``b``, as NumPy does.

    >>> import chainrule.numpy as cnp
    >>> cnp.dot(cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0]))
    np.float64(11.0)
    """
    if not (type(a) in TRACER_TYPES or type(b) in TRACER_TYPES):
        return np.dot(a, b)
    an, bn = ndim_of(a), ndim_of(b)
    if an == 0 or bn == 0:
        return multiply(a, b)
    if bn <= 2:
        return matmul(a, b)
    # N-D: contract a's last axis with b's second-to-last; b's other axes follow a's.
    bs = shape_of(b)
    perm = (bn - 2,) + tuple(i for i in range(bn) if i != bn - 2)
    b2 = reshape(transpose(b, perm), (bs[-2], -1))
    out = matmul(a, b2)
    return reshape(out, shape_of(a)[:-1] + bs[:-2] + bs[-1:])


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
        return np.tensordot(a, b, axes)
    a, b = _arr(a), _arr(b)
    ax_a, ax_b = _tensordot_axes(axes, a.ndim, b.ndim)
    for i, j in zip(ax_a, ax_b):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: axis {i} of a (size {a.shape[i]}) and axis {j} of b "
                             f"(size {b.shape[j]}) differ")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    k = int(np.prod([a.shape[i] for i in ax_a], dtype=np.int64))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    a2 = reshape(transpose(a, free_a + ax_a), (-1, k))
    b2 = reshape(transpose(b, ax_b + free_b), (k, -1))
    return reshape(matmul(a2, b2), out_shape)


def outer(a, b):
    """``numpy.outer``: ``out[i, j] = a.ravel()[i] * b.ravel()[j]``, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.outer(cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0, 5.0]))
    array([[ 3.,  4.,  5.],
           [ 6.,  8., 10.]])
    """
    if not _traced(a, b):
        return np.outer(a, b)
    return multiply(reshape(_arr(a), (-1, 1)), reshape(_arr(b), (1, -1)))


def inner(a, b):
    """``numpy.inner``: sum products over the last axes of ``a`` and ``b``, differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.inner(cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0]))
    np.float64(11.0)
    """
    if not _traced(a, b):
        return np.inner(a, b)
    a, b = _arr(a), _arr(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
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


def trace(a, offset=0, axis1=0, axis2=1):
    """``numpy.trace``: the sum along a diagonal, differentiable.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.trace)(cnp.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 0.],
           [0., 1.]])
    """
    if not _traced(a):
        return np.trace(a, offset, axis1, axis2)
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
        if len(set(t)) != len(t):
            raise NotImplementedError(f"einsum: operand subscripts {t!r} repeat an index (a diagonal); "
                                      f"its derivative is not implemented -- use diagonal")
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


def _einsum_impl(*operands, terms, out):
    return np.einsum(",".join(terms) + "->" + out, *operands)


def _einsum_vjp(i):
    def rule(ans, *operands, terms, out):
        target = terms[i]
        others = [(t, x) for j, (t, x) in enumerate(zip(terms, operands)) if j != i]
        avail = set(out).union(*[set(t) for t, _ in others])
        have = "".join(c for c in target if c in avail)
        shape = operands[i].shape

        def vjp(g):
            r = _einsum_bind([out] + [t for t, _ in others], have, [g] + [x for _, x in others])
            if have != target:  # letters summed in operand i alone: broadcast back
                r = reshape(r, tuple(shape[k] if c in avail else 1 for k, c in enumerate(target)))
                r = broadcast_to(r, shape)
            return r
        return vjp
    return rule


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
    batch=_batch_einsum)


def _einsum_bind(terms, out, operands):
    terms = tuple(terms)
    if not _traced(*operands):
        return np.einsum(",".join(terms) + "->" + out, *operands)
    return bind(einsum_p, tuple(_arr(x) for x in operands), {"terms": terms, "out": out})


def einsum(subscripts, *operands):
    """``numpy.einsum(subscripts, *operands)``: Einstein summation, differentiable.

    Explicit (``'ij,jk->ik'``) and implicit (``'ij,jk'``) forms and ``...``
    are supported; an operand that repeats an index (``'ii->i'``) raises
    ``NotImplementedError`` when traced.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.einsum('i,i->', cnp.array([1.0, 2.0]), cnp.array([3.0, 4.0]))
    np.float64(11.0)
    >>> cr.grad(lambda a: cnp.einsum('ij->', a))(cnp.ones((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    """
    if not _traced(*operands):
        return np.einsum(subscripts, *operands)
    operands = [_arr(x) for x in operands]
    terms, out = _einsum_normalize(subscripts, [x.ndim for x in operands])
    return _einsum_bind(terms, out, operands)


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
        return np.linalg.solve(a, b)
    return bind(solve_p, (_arr(a), _arr(b)), EMPTY)


def _det_jvp(primals, tangents, ans, params):
    (a,), (ta,) = primals, tangents
    return multiply(ans, _sum(multiply(_mT(inv(a)), ta), axis=(-2, -1)))


det_p = defprim(
    "det", np.linalg.det,
    [lambda ans, a: lambda g: multiply(reshape(multiply(g, ans), g.shape + (1, 1)), _mT(inv(a)))],
    jvp=_det_jvp, uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("g * ans * inv(a).T", r"\bar g\, \mathrm{ans}\, a^{-\top}")])


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


def _logabsdet_jvp(primals, tangents, ans, params):
    (a,), (ta,) = primals, tangents
    return _sum(multiply(_mT(inv(a)), ta), axis=(-2, -1))


logabsdet_p = defprim(
    "logabsdet", lambda a: np.linalg.slogdet(a)[1],
    [lambda ans, a: lambda g: multiply(reshape(g, g.shape + (1, 1)), _mT(inv(a)))],
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
    return sign, bind(logabsdet_p, (a,), EMPTY)


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


def cholesky(a):
    """``numpy.linalg.cholesky``: the lower Cholesky factor, differentiable (Murray 2016).

    The derivative treats ``a`` as symmetric: the gradient is symmetrised.

    >>> import chainrule.numpy as cnp
    >>> cnp.linalg.cholesky(cnp.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 0.],
           [1., 1.]])
    """
    if not _traced(a):
        return np.linalg.cholesky(a)
    return bind(cholesky_p, (a,), EMPTY)


def _eigh_f(w):
    """``F[..., i, j] = 1 / (w_j - w_i)`` off the diagonal, ``0`` on it."""
    n = w.shape[-1]
    d = subtract(reshape(w, w.shape[:-1] + (1, n)), reshape(w, w.shape + (1,)))
    eye = np.eye(n, dtype=bool)
    return where(eye, 0.0, divide(1.0, where(eye, 1.0, d)))


def _eigh_dw(ans, a):
    def vjp(g):
        v = eigh_v(a)
        return _sym(matmul(multiply(v, reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])), _mT(v)))
    return vjp


def _eigh_dv(ans, a):
    def vjp(g):
        f = _eigh_f(eigh_w(a))
        return _sym(matmul(ans, matmul(multiply(f, matmul(_mT(ans), g)), _mT(ans))))
    return vjp


def _eigh_w_jvp(primals, tangents, ans, params):
    v = eigh_v(primals[0])
    return _sum(multiply(v, matmul(_sym(tangents[0]), v)), axis=-2)  # diag(v^T t v)


def _eigh_v_jvp(primals, tangents, ans, params):
    f = _eigh_f(eigh_w(primals[0]))
    return matmul(ans, multiply(f, matmul(_mT(ans), matmul(_sym(tangents[0]), ans))))


eigh_w_p = defprim(
    "eigh_w", lambda a: np.linalg.eigh(a)[0], [_eigh_dw], jvp=_eigh_w_jvp,
    batch=batch_by_broadcasting,
    formulas=[("eigvecs(a) diag(g) eigvecs(a).T",
               r"Q_{a} \operatorname{diag}(\bar g)\, Q_{a}^{\top}")])
eigh_v_p = defprim(
    "eigh_v", lambda a: np.linalg.eigh(a)[1], [_eigh_dv], jvp=_eigh_v_jvp, uses_ans=True,
    batch=batch_by_broadcasting,
    formulas=[("ans (F ⊙ (ans.T @ g)) ans.T", r"\mathrm{ans}\,(F \circ \mathrm{ans}^{\top}\bar g)\,\mathrm{ans}^{\top}")])


def eigh_w(a):
    return bind(eigh_w_p, (a,), EMPTY) if _traced(a) else np.linalg.eigh(a)[0]


def eigh_v(a):
    return bind(eigh_v_p, (a,), EMPTY) if _traced(a) else np.linalg.eigh(a)[1]


def eigh(a):
    """``numpy.linalg.eigh``: ``(w, v)`` of a symmetric matrix, differentiable.

    The derivative assumes distinct eigenvalues and treats ``a`` as
    symmetric (the gradient is symmetrised).

    >>> import chainrule.numpy as cnp
    >>> w, v = cnp.linalg.eigh(cnp.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> w
    array([1., 2.])
    """
    if not _traced(a):
        return tuple(np.linalg.eigh(a))
    return eigh_w(a), eigh_v(a)


def _safe_sqrt(s):
    """``sqrt(s)`` whose derivatives at ``s = 0`` are 0 (as PyTorch's norm; JAX's is nan)."""
    zero = raw(s) == 0
    return where(zero, 0.0, sqrt(where(zero, 1.0, s)))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (NumPy's name)
    """``numpy.linalg.norm``: vector norms (2, 1, inf, -inf) and matrix norms ('fro', 1, inf), differentiable.

    The gradient of the 2-norm at 0 is 0, as in PyTorch (JAX gives nan); ``norm(x, 1)``
    has derivative 1 at a zero entry (``abs'(0) = 1``, as JAX).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.linalg.norm(cnp.array([3.0, 4.0]))
    np.float64(5.0)
    >>> cr.grad(cnp.linalg.norm)(cnp.array([0.0, 0.0]))
    array([0., 0.])
    """
    if not _traced(x):
        return np.linalg.norm(x, ord, axis, keepdims)
    nd = x.ndim
    if axis is None:
        if ord is None or (ord in ("fro", "f") and nd == 2) or (ord == 2 and nd == 1):
            return _safe_sqrt(_sum(multiply(x, x), axis=None, keepdims=keepdims))
        if nd not in (1, 2):
            raise ValueError("norm: improper number of dimensions to norm")
        axis = tuple(range(nd))
    axis = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(i) for i in axis)
    axis = tuple(i % nd for i in axis)
    if len(axis) == 1:
        if ord is None or ord == 2:
            return _safe_sqrt(_sum(multiply(x, x), axis=axis, keepdims=keepdims))
        if ord == 1:
            return _sum(_abs(x), axis=axis, keepdims=keepdims)
        if ord == np.inf:
            return _max(_abs(x), axis=axis, keepdims=keepdims)
        if ord == -np.inf:
            return negative(_max(negative(_abs(x)), axis=axis, keepdims=keepdims))
        raise NotImplementedError(f"norm: vector ord={ord!r} is not implemented")
    if len(axis) == 2:
        r, c = axis
        if ord is None or ord in ("fro", "f"):
            return _safe_sqrt(_sum(multiply(x, x), axis=axis, keepdims=keepdims))
        if ord in (1, np.inf):
            inner_ax, outer_ax = (r, c) if ord == 1 else (c, r)
            s = _sum(_abs(x), axis=inner_ax, keepdims=True)
            out = _max(s, axis=outer_ax, keepdims=True)
            return out if keepdims else reshape(out, tuple(d for i, d in enumerate(out.shape) if i not in axis))
        raise NotImplementedError(f"norm: matrix ord={ord!r} is not implemented")
    raise ValueError("norm: improper number of dimensions to norm")
