"""Matrix decompositions and what is built on them: ``svd``, ``qr``, ``pinv``, ``lstsq``.

Each factor of a decomposition is its own primitive (``svd_U``, ``svd_Vt``, ``qr_Q``,
``qr_R``; the singular values are ``svdvals``), as ``eigh`` is split into ``eigh_w``
and ``eigh_v``: a rule sees one output's cotangent, and the reverse engine adds the
contributions of the factors a function uses.  The rules are the standard ones
(JAX's ``jax/_src/lax/linalg.py`` forward rules; the reverse rules are their
transposes, which are PyTorch's ``svd_backward`` / ``linalg_qr_backward``), written
with chainrule's operations on the factors themselves, so every order follows.

Where they hold:

* ``svd``: distinct singular values (the singular vectors of a repeated one are not
  unique: reverse mode raises ``LinAlgError``, forward mode gives nan, as ``eigh``);
  the thin factors, or ``full_matrices=True`` of a square matrix.  For ``m > n`` (``n > m``)
  the part of ``dU`` (``dV``) outside the column space divides by the singular values;
  at a zero one it is taken as 0 (JAX's convention).
* ``qr``: ``m >= n`` and ``R`` invertible (full column rank), ``mode='reduced'`` or ``'r'``
  (``'complete'`` for a square matrix).
* ``pinv``: the rank is constant near ``a`` (Golub & Pereyra's formula); ``lstsq`` is
  ``pinv(a) @ b`` with NumPy's cutoff, so it is differentiable at rank-deficient ``a`` too.
"""
from __future__ import annotations

#: The public functions of this family (exported by chainrule.numpy.linalg).
LINALG: list = ["svd", "qr", "pinv", "lstsq"]

import numpy as np

from chainrule._core.primitive import bind, defprim
from chainrule._ops._wrap import EMPTY, batch_by_broadcasting, peel, refuse_keywords
from chainrule._ops.elementwise import add, astype, divide, greater, multiply, square, subtract, where
from chainrule._ops.linalg import _arr, _eigh_f, _mT, _traced, finite_svd, matmul, solve, svdvals
from chainrule._ops.reductions import max as _max
from chainrule._ops.reductions import sum as _sum
from chainrule._ops.shape import reshape


def _row(s):  # s_j at [..., i, j]
    return reshape(s, s.shape[:-1] + (1,) + s.shape[-1:])


def _col(s):  # s_i at [..., i, j]
    return reshape(s, s.shape + (1,))


def _tril1(x):
    """The strictly lower triangle of (a stack of) square matrices."""
    n = x.shape[-1]
    return where(np.tril(np.ones((n, n), dtype=bool), -1), x, 0.0)


# -- svd ------------------------------------------------------------------------------------

def _svd_shape_check(a, full_matrices, what):
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        raise NotImplementedError(
            f"svd: the derivative of {what} with full_matrices=True of a {m}×{n} matrix is not "
            f"defined by the decomposition (the extra columns are any orthonormal completion); "
            f"use full_matrices=False (as JAX requires too)")


def _svd_parts(a, full_matrices, what, reverse):
    """``(s, F, 1/s)`` for the rules: ``F[i, j] = 1/(s_j² - s_i²)``, 0 on the diagonal (nan at
    a repeated singular value, which reverse mode refuses by name, as eigh)."""
    _svd_shape_check(a, full_matrices, what)
    s = svdvals(a)
    known = peel(s) if reverse else None  # every example of a batch; None when staged (cr.jit)
    if known is not None:
        _check_distinct(np.asarray(known))
    zero = s == 0
    return s, _eigh_f(square(s)), where(zero, 0.0, divide(1.0, where(zero, 1.0, s)))


def _check_distinct(s):
    k = s.shape[-1]
    if k < 2:
        return
    eps = np.finfo(np.result_type(s.dtype, np.float32)).eps
    s2 = s * s
    tol = 8 * k * eps * np.max(s2, axis=-1, keepdims=True)
    tie = np.abs(np.diff(s2, axis=-1)) <= tol
    if tie.any():
        i = np.argwhere(tie)[0]
        raise np.linalg.LinAlgError(
            f"svd: singular value {float(s[tuple(i)]):.6g} is repeated (up to rounding), so its "
            f"singular vectors are not unique and have no derivative there (forward mode and JAX "
            f"give nan); differentiate only through the singular values (cnp.linalg.svdvals), "
            f"or separate them")


def _svd_dU(ans, a, full_matrices):
    u, vt = ans, svd_Vt(a, full_matrices)
    s, f, s_inv = _svd_parts(a, full_matrices, "U", True)
    tall = a.shape[-2] > a.shape[-1]

    def vjp(g):  # U ((J + Jᵀ) S) Vᵀ with J = F ∘ Uᵀg, and (I - UUᵀ) g S⁻¹ Vᵀ when m > n
        j = multiply(f, matmul(_mT(u), g))
        out = matmul(u, multiply(add(j, _mT(j)), _row(s)))
        if tall:
            gs = multiply(g, _row(s_inv))
            out = add(out, subtract(gs, matmul(u, matmul(_mT(u), gs))))
        return matmul(out, vt)
    return vjp


def _svd_dVt(ans, a, full_matrices):
    vt, u = ans, svd_U(a, full_matrices)
    s, f, s_inv = _svd_parts(a, full_matrices, "Vt", True)
    wide = a.shape[-1] > a.shape[-2]

    def vjp(g):  # U (S (J + Jᵀ)) Vᵀ with J = F ∘ Vᵀ gᵀ, and U S⁻¹ g (I - VVᵀ) when n > m
        gv = _mT(g)
        j = multiply(f, matmul(vt, gv))
        out = matmul(multiply(_col(s), add(j, _mT(j))), vt)
        if wide:
            gs = multiply(g, _col(s_inv))
            out = add(out, subtract(gs, matmul(matmul(gs, _mT(vt)), vt)))
        return matmul(u, out)
    return vjp


def _svd_U_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    u, vt = ans, svd_Vt(a, params["full_matrices"])
    s, f, s_inv = _svd_parts(a, params["full_matrices"], "U", False)
    tv = matmul(t, _mT(vt))
    dss = multiply(matmul(_mT(u), tv), _row(s))  # (Uᵀ dA V) S
    du = matmul(u, multiply(f, add(dss, _mT(dss))))
    if a.shape[-2] > a.shape[-1]:
        du = add(du, multiply(subtract(tv, matmul(u, matmul(_mT(u), tv))), _row(s_inv)))
    return du


def _svd_Vt_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    vt, u = ans, svd_U(a, params["full_matrices"])
    s, f, s_inv = _svd_parts(a, params["full_matrices"], "Vt", False)
    tu = matmul(_mT(t), u)  # dAᵀ U
    sds = multiply(_col(s), _mT(matmul(vt, tu)))  # S (Uᵀ dA V)
    dv = matmul(_mT(vt), multiply(f, add(sds, _mT(sds))))
    if a.shape[-1] > a.shape[-2]:
        dv = add(dv, multiply(subtract(tu, matmul(_mT(vt), matmul(vt, tu))), _row(s_inv)))
    return _mT(dv)


svd_U_p = defprim(
    "svd_U", lambda a, full_matrices: finite_svd(a, full_matrices=full_matrices)[0], [_svd_dU],
    jvp=_svd_U_jvp, uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("U ((J + J.T) S) V.T + (I - U U.T) g S^-1 V.T, J = F ⊙ (U.T g)",
               r"U\,((J + J^{\top}) S)\,V^{\top} + (I - UU^{\top})\,\bar g\, S^{-1} V^{\top}")])
svd_Vt_p = defprim(
    "svd_Vt", lambda a, full_matrices: finite_svd(a, full_matrices=full_matrices)[2], [_svd_dVt],
    jvp=_svd_Vt_jvp, uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("U (S (J + J.T)) V.T + U S^-1 g (I - V V.T), J = F ⊙ (V.T g.T)",
               r"U\,(S (J + J^{\top}))\,V^{\top} + U S^{-1} \bar g\,(I - VV^{\top})")])


def svd_U(a, full_matrices=False):
    return bind(svd_U_p, (a,), {"full_matrices": bool(full_matrices)})


def svd_Vt(a, full_matrices=False):
    return bind(svd_Vt_p, (a,), {"full_matrices": bool(full_matrices)})


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``numpy.linalg.svd``: ``(U, S, Vh)`` with ``a = U diag(S) Vh``, differentiable.

    The singular values' derivative is ``U diag(ḡ) Vᵀ`` (``svdvals``, defined at every
    rank); the singular vectors' derivatives need distinct singular values (a repeated
    one raises ``LinAlgError`` in reverse mode, as ``eigh``) and, for a non-square ``a``,
    ``full_matrices=False``.  A function of ``U`` and ``Vh`` that is unchanged when a
    pair of singular vectors flips sign (``U * U``, ``u_i v_iᵀ``) has a well-defined
    derivative; one that is not depends on LAPACK's choice of sign, as in every library.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> a = cnp.array([[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]])
    >>> cnp.linalg.svd(a, full_matrices=False)[1]
    array([3., 2.])
    >>> cr.grad(lambda a: cnp.sum(cnp.linalg.svd(a, full_matrices=False)[0][:, 0] ** 2))(a)
    array([[0., 0.],
           [0., 0.],
           [0., 0.]])
    """
    if not _traced(a):  # a plain tuple, as eigh's (NumPy's named tuple is not a pytree node here)
        out = np.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv, hermitian=hermitian)
        return tuple(out) if compute_uv else out
    refuse_keywords("svd", {"hermitian": (False,)}, hermitian=hermitian)
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"svd: {a.ndim}-dimensional array given; it needs at least 2 dimensions")
    if not np.issubdtype(a.dtype, np.inexact):
        a = astype(a, np.float64)
    if not compute_uv:
        return svdvals(a)
    full = bool(full_matrices) and a.shape[-2] != a.shape[-1]  # square: full is thin
    return svd_U(a, full), svdvals(a), svd_Vt(a, full)


# -- qr ------------------------------------------------------------------------------------

def _qr_check(a, what):
    m, n = a.shape[-2:]
    if m < n:
        raise NotImplementedError(
            f"qr: the derivative of {what} of a wide {m}×{n} matrix (m < n) is not implemented (JAX "
            f"has none either); differentiate the QR of the transpose, or of a[:, :{m}] and solve "
            f"for the rest")


def _qr_inv_r_t(y, r):
    """``y R⁻ᵀ``."""
    return _mT(solve(r, _mT(y)))


def _qr_dQ(ans, a):
    _qr_check(a, "Q")
    q, r = ans, qr_R(a)

    def vjp(g):  # (g + Q (tril(K - Kᵀ, -1) - K)) R⁻ᵀ with K = Qᵀ g
        k = matmul(_mT(q), g)
        return _qr_inv_r_t(add(g, matmul(q, subtract(_tril1(subtract(k, _mT(k))), k))), r)
    return vjp


def _qr_dR(ans, a):
    _qr_check(a, "R")
    q, r = qr_Q(a), ans

    def vjp(g):  # Q (M - tril(M - Mᵀ, -1)) R⁻ᵀ with M = g Rᵀ
        m = matmul(g, _mT(r))
        return _qr_inv_r_t(matmul(q, subtract(m, _tril1(subtract(m, _mT(m))))), r)
    return vjp


def _qr_tangent_parts(a, t, q, r):
    """``X = dA R⁻¹``, ``C = Qᵀ X`` and the skew ``Ω = tril(C, -1) - tril(C, -1)ᵀ``."""
    x = _mT(solve(_mT(r), _mT(t)))
    c = matmul(_mT(q), x)
    low = _tril1(c)
    return x, c, subtract(low, _mT(low))


def _qr_Q_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    _qr_check(a, "Q")
    x, c, om = _qr_tangent_parts(a, t, ans, qr_R(a))
    return add(matmul(ans, subtract(om, c)), x)


def _qr_R_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    _qr_check(a, "R")
    x, c, om = _qr_tangent_parts(a, t, qr_Q(a), ans)
    return matmul(subtract(c, om), ans)


qr_Q_p = defprim(
    "qr_Q", lambda a: np.linalg.qr(a)[0], [_qr_dQ], jvp=_qr_Q_jvp,
    uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("(g + Q (tril(K - K.T, -1) - K)) R^-T, K = Q.T g",
               r"(\bar g + Q(\operatorname{tril}(K - K^{\top}) - K))\,R^{-\top}")])
qr_R_p = defprim(
    "qr_R", lambda a: np.linalg.qr(a)[1], [_qr_dR], jvp=_qr_R_jvp,
    uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("Q (M - tril(M - M.T, -1)) R^-T, M = g R.T",
               r"Q\,(M - \operatorname{tril}(M - M^{\top}))\,R^{-\top}")])


def qr_Q(a):
    return bind(qr_Q_p, (a,), EMPTY)


def qr_R(a):
    return bind(qr_R_p, (a,), EMPTY)


def qr(a, mode="reduced"):
    """``numpy.linalg.qr``: ``(Q, R)`` with ``a = Q R``, differentiable for ``m >= n`` and
    full column rank (``mode='reduced'``, ``'r'``, or ``'complete'`` of a square matrix).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> a = cnp.array([[3.0, 1.0], [4.0, 2.0], [0.0, 1.0]])
    >>> q, r = cnp.linalg.qr(a)
    >>> cr.grad(lambda a: cnp.linalg.qr(a)[1][0, 0])(a)  # |R[0, 0]| = norm of the first column
    array([[-0.6,  0. ],
           [-0.8,  0. ],
           [-0. ,  0. ]])
    """
    if not _traced(a):
        out = np.linalg.qr(a, mode)
        return tuple(out) if mode in ("reduced", "complete") else out
    if mode not in ("reduced", "complete", "r"):
        raise TypeError(f"qr: mode={mode!r} is not supported for traced values (NumPy's 'raw' gives "
                        f"LAPACK's Householder reflectors); use mode='reduced', 'complete' or 'r'")
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"qr: {a.ndim}-dimensional array given; it needs at least 2 dimensions")
    if not np.issubdtype(a.dtype, np.inexact):
        a = astype(a, np.float64)
    m, n = a.shape[-2:]
    if mode == "complete" and m > n:
        raise NotImplementedError(
            f"qr: mode='complete' of a tall {m}×{n} matrix has no derivative (the extra columns of "
            f"Q are any orthonormal completion); use mode='reduced' (JAX requires it too)")
    r = qr_R(a)
    return r if mode == "r" else (qr_Q(a), r)


# -- pinv -----------------------------------------------------------------------------------
# d(A⁺) = -A⁺ dA A⁺ + A⁺A⁺ᵀ dAᵀ (I - A A⁺) + (I - A⁺A) dAᵀ A⁺ᵀ A⁺  (Golub & Pereyra), where
# the rank is locally constant; the reverse rule is its transpose.

def _pinv_impl(a, rcond, hermitian):
    """NumPy's ``pinv`` through ``finite_svd`` (an infinite entry gives nan, not a hang)."""
    u, s, vt = finite_svd(a, full_matrices=False, hermitian=hermitian)
    large = s > rcond * np.max(s, axis=-1, keepdims=True, initial=0.0)
    s_inv = np.divide(1, s, where=large, out=np.zeros_like(s))
    return np.matmul(np.swapaxes(vt, -1, -2), s_inv[..., None] * np.swapaxes(u, -1, -2))


def _pinv_vjp(ans, a, rcond, hermitian):
    p = ans

    def vjp(g):  # -Pᵀ g Pᵀ + (I - A P) gᵀ P Pᵀ + Pᵀ P gᵀ (I - P A)
        gt = _mT(g)
        left = matmul(matmul(gt, p), _mT(p))
        right = matmul(_mT(p), matmul(p, gt))
        out = subtract(left, matmul(a, matmul(p, left)))
        out = add(out, subtract(right, matmul(matmul(right, p), a)))
        return subtract(out, matmul(_mT(p), matmul(g, _mT(p))))
    return vjp


def _pinv_jvp(primals, tangents, ans, params):
    (a,), (t,) = primals, tangents
    p, tt = ans, _mT(t)
    k = matmul(matmul(p, _mT(p)), tt)  # P Pᵀ dAᵀ
    el = matmul(tt, matmul(_mT(p), p))  # dAᵀ Pᵀ P
    out = subtract(k, matmul(matmul(k, a), p))
    out = add(out, subtract(el, matmul(p, matmul(a, el))))
    return subtract(out, matmul(p, matmul(t, p)))


pinv_p = defprim(
    "pinv", _pinv_impl, [_pinv_vjp], jvp=_pinv_jvp, uses_ans=True, batch=batch_by_broadcasting,
    formulas=[("-P.T g P.T + (I - a P) g.T P P.T + P.T P g.T (I - P a), P = ans",
               r"-P^{\top}\bar g P^{\top} + (I - aP)\,\bar g^{\top} P P^{\top} + P^{\top} P\, \bar g^{\top} (I - Pa)")])


def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    """``numpy.linalg.pinv``: the Moore-Penrose pseudo-inverse, differentiable where the rank
    is locally constant (singular values below the cutoff count as zero, as in NumPy).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.linalg.pinv(cnp.array([[2.0, 0.0], [0.0, 0.0]]))
    array([[0.5, 0. ],
           [0. , 0. ]])
    >>> cr.grad(lambda a: cnp.linalg.pinv(a)[0, 0])(cnp.array([[2.0, 0.0], [0.0, 0.0]]))
    array([[-0.25,  0.  ],
           [ 0.  ,  0.  ]])
    """
    if not _traced(a):
        return np.linalg.pinv(a, rcond, hermitian, rtol=rtol)
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"pinv: {a.ndim}-dimensional array given; it needs at least 2 dimensions")
    if not np.issubdtype(a.dtype, np.inexact):
        a = astype(a, np.float64)
    if rcond is None:  # NumPy's defaults
        rcond = 1e-15 if rtol is np._NoValue else \
            max(a.shape[-2:]) * np.finfo(a.dtype).eps if rtol is None else rtol
    elif rtol is not np._NoValue:
        raise ValueError("pinv: rtol and rcond can't both be set")
    if np.ndim(rcond):
        raise TypeError("pinv: a per-matrix array of rcond is not supported for traced values; "
                        "pass one number (or map over the stack with cr.vmap)")
    return bind(pinv_p, (a,), {"rcond": float(rcond), "hermitian": bool(hermitian)})


# -- lstsq ------------------------------------------------------------------------------------

def lstsq(a, b, rcond=None):
    """``numpy.linalg.lstsq``: ``(x, residuals, rank, s)``; ``x = pinv(a) @ b`` (NumPy's cutoff)
    and ``s`` are differentiable in ``a`` and ``b``, ``residuals`` too (present, as in NumPy,
    when ``a`` has full column rank and more rows than columns; always for ``m > n`` under
    ``cr.jit``, where the rank is not known, as JAX); ``rank`` is an integer.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> a, b = cnp.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]), cnp.array([1.0, 2.0, 4.0])
    >>> cnp.linalg.lstsq(a, b)[0]
    array([0.83333333, 1.5       ])
    >>> cr.grad(lambda b: cnp.linalg.lstsq(a, b)[0][1])(b).round(12)  # the slope's weights
    array([-0.5,  0. ,  0.5])
    """
    if not _traced(a, b):
        return np.linalg.lstsq(a, b, rcond)
    a, b = _arr(a), _arr(b)
    if a.ndim != 2 or b.ndim not in (1, 2):
        raise np.linalg.LinAlgError(f"lstsq: a must be 2-D and b 1-D or 2-D, got shapes {a.shape} and {b.shape}")
    if not np.issubdtype(a.dtype, np.inexact):
        a = astype(a, np.float64)
    m, n = a.shape
    if b.shape[0] != m:
        raise np.linalg.LinAlgError(f"lstsq: incompatible dimensions: a is {a.shape}, b is {b.shape}")
    eps = np.finfo(np.result_type(a.dtype, b.dtype, np.float32)).eps
    if rcond is None or rcond < 0:
        rcond = eps * max(m, n)
    x = matmul(pinv(a, rcond), b)
    s = svdvals(a)
    rank = _sum(greater(s, multiply(_max(s), rcond)), axis=-1)
    known = peel(rank)
    if m > n and (known is None or np.all(np.asarray(known) == n)):
        r = subtract(b, matmul(a, x))
        residuals = _sum(square(r), axis=0)
        residuals = reshape(residuals, (1,)) if b.ndim == 1 else residuals
    else:
        residuals = np.empty((0,), dtype=np.result_type(a.dtype, b.dtype))
    return x, residuals, rank, s
