"""Losses and cnp.special at -inf, +-1e308 and probabilities of 0 and 1 (issue 10, item 6).

Oracles: PyTorch 2.13 (values and gradients of the losses), JAX x64 (logsumexp,
log_softmax, their Hessians) and the hand-derived derivative of the clamped BCE.
"""
from __future__ import annotations


import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.nn import functional as F

from _inputs import quiet

INF = np.inf


_quiet = pytest.fixture(autouse=True)(quiet)  # edge points overflow and divide by zero on purpose


CE_CASES = [
    ([[2.0, -INF, 0.5]], [0], {}),                        # the example: 0.2014
    ([[1e308, -1e308, 0.0]], [0], {}),
    ([[1e308, -1e308, 0.0]], [1], {}),                    # the target's log-probability is -inf: inf
    ([[2.0, -INF, 0.5]], [1], {}),
    ([[2.0, -INF, 0.5]], [0], {"label_smoothing": 0.1}),
    ([[2.0, -INF, 0.5], [-INF, 1.0, -INF]], [2, 1], {"reduction": "sum"}),
    ([[-1e308, 1e308, 1e308]], [2], {"reduction": "none"}),
]


@pytest.mark.parametrize("logits, target, kw", CE_CASES)
def test_cross_entropy_extreme_logits_match_torch(logits, target, kw):
    torch = pytest.importorskip("torch")
    z, t = np.array(logits), np.array(target)
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, torch.tensor(t), **kw)
    lt.sum().backward()
    loss = F.cross_entropy(z, t, **kw)
    g = cr.grad(lambda v: cnp.sum(F.cross_entropy(v, t, **kw)))(z)
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-14, atol=1e-300)
    assert np.all(np.isfinite(g))
    # the tape and forward mode agree
    tz = cr.tensor(z, requires_grad=True)
    cnp.sum(F.cross_entropy(tz, t, **kw)).backward()
    np.testing.assert_allclose(tz.grad.numpy(), g, rtol=1e-14)
    fwd = cr.jacfwd(lambda v: cnp.sum(F.cross_entropy(v, t, **kw)))(z)
    np.testing.assert_allclose(fwd, g, rtol=1e-14)


def test_cross_entropy_masked_logits_under_vmap_and_second_order():
    z = np.array([[2.0, -INF, 0.5], [0.0, 1.0, -INF]])
    t = np.array([0, 1])
    per = cr.vmap(lambda v, c: F.cross_entropy(v[None], c[None]))(z, t)
    np.testing.assert_allclose(per, F.cross_entropy(z, t, reduction="none"), rtol=1e-15)
    assert np.all(np.isfinite(per))
    h = cr.hessian(lambda v: F.cross_entropy(v[None], np.array([0])))(np.array([2.0, -INF, 0.5]))
    # d2/dz2 of -log softmax_0 on the finite classes: diag(p) - p p^T; the masked class: 0
    p = np.exp(np.array([2.0, 0.5]) - np.logaddexp(2.0, 0.5))
    want = np.zeros((3, 3))
    want[np.ix_([0, 2], [0, 2])] = np.diag(p) - np.outer(p, p)
    np.testing.assert_allclose(h, want, rtol=1e-13, atol=1e-300)


def test_binary_cross_entropy_at_zero_and_one():
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 0.0, 1.0, 1.0, 0.5, 1e-300, 0.9])
    t = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 1.0, 0.2])
    loss = F.binary_cross_entropy(p, t, reduction="none")
    want = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(loss, want.numpy(), rtol=1e-14)
    g = cr.grad(lambda v: cnp.sum(F.binary_cross_entropy(v, t, reduction="none")))(p)
    # the derivative of the clamped loss: -t/p where log p > -100, + (1-t)/(1-p) where log(1-p) > -100
    live_p, live_q = np.log(p) > -100, np.log1p(-p) > -100
    with np.errstate(all="ignore"):
        want_g = np.where(live_p, -t / p, 0.0) + np.where(live_q, (1 - t) / (1 - p), 0.0)
    np.testing.assert_allclose(g, want_g, rtol=1e-14)
    g32 = cr.grad(lambda v: cnp.sum(F.binary_cross_entropy(v, t.astype(np.float32))))(p.astype(np.float32))
    assert g32.dtype == np.float32 and np.all(np.isfinite(g32))


def test_binary_cross_entropy_with_logits_at_infinities_match_torch():
    torch = pytest.importorskip("torch")
    z = np.array([INF, -INF, 1e308, -1e308, 0.0])
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.tensor(t), reduction="none")
    lt.sum().backward()
    g = cr.grad(lambda v: cnp.sum(F.binary_cross_entropy_with_logits(v, t, reduction="none")))(z)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-15)
    # values: inf - inf at z = +-inf with t = 1, 0 is nan in both (PyTorch's formula too)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(z, t, reduction="none"),
                               lt.detach().numpy(), rtol=1e-15)


LSE_POINTS = [[2.0, -INF, 0.5], [-INF, 1.0], [1e308, -1e308], [1e308, 1e308], [-INF, -INF], [INF, 1.0],
              [[1e308, 1e308], [0.0, -INF]]]


def _jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _compare(f, jf, x, jax):
    np.testing.assert_allclose(f(x), jf(x), rtol=1e-14)
    np.testing.assert_allclose(cr.grad(f)(x), jax.grad(jf)(x), rtol=1e-14)
    np.testing.assert_allclose(cr.jacfwd(f)(x), jax.jacfwd(jf)(x), rtol=1e-14)
    np.testing.assert_allclose(cr.hessian(f)(x), jax.hessian(jf)(x), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("x", LSE_POINTS)
def test_logsumexp_matches_jax(x):
    jax = _jax_x64()
    from jax.scipy.special import logsumexp as jlse
    x = np.array(x)
    _compare(cnp.special.logsumexp, jlse, x, jax)
    if x.ndim == 2:  # one axis, and a scale b that broadcasts
        b = np.array([2.0, 0.5])
        _compare(lambda v: cnp.sum(cnp.special.logsumexp(v, axis=1, b=b)),
                 lambda v: jlse(v, axis=1, b=b).sum(), x, jax)


@pytest.mark.parametrize("x", LSE_POINTS[:5])  # log_softmax with a +inf logit: nan (JAX: nan everywhere)
def test_log_softmax_matches_jax(x):
    jax = _jax_x64()
    _compare(lambda v: F.log_softmax(v)[..., 0].sum(), lambda v: jax.nn.log_softmax(v)[..., 0].sum(),
             np.array(x), jax)


def test_logsumexp_weights_under_vmap():
    x = np.array([[1e308, 1e308], [2.0, -INF]])
    g = cr.vmap(cr.grad(cnp.special.logsumexp))(x)
    np.testing.assert_allclose(g, [[0.5, 0.5], [1.0, 0.0]], rtol=1e-15)
