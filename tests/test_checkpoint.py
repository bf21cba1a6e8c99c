"""cr.checkpoint: identical values and derivatives, intermediates recomputed in the backward pass,
and a measured drop in the peak memory of a deep network's gradient (issue 4, item 4).
"""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads
from chainrule.checkpoint import checkpoint


def _mlp(x, Ws):
    h = x
    for W in Ws:
        h = cnp.tanh(W @ h)
    return h


def _setup(n=6, d=5, b=3, seed=0):
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((d, d)) / np.sqrt(d) * 1.5 for _ in range(n)]
    x = rng.standard_normal((d, b))
    return x, Ws


def _loss(block):
    def loss(x, Ws):
        h = x
        for k in range(0, len(Ws), 2):
            h = block(h, Ws[k:k + 2])
        return cnp.sum(h ** 2)
    return loss


plain_loss = _loss(_mlp)
ckpt_loss = _loss(checkpoint(_mlp))


def test_values_are_identical():
    x, Ws = _setup()
    np.testing.assert_array_equal(checkpoint(_mlp)(x, Ws), _mlp(x, Ws))
    assert ckpt_loss(x, Ws) == plain_loss(x, Ws)


def test_grad_matches_for_every_argument():
    x, Ws = _setup()
    gx, gW = cr.grad(plain_loss, argnums=(0, 1))(x, Ws)
    cx, cW = cr.grad(ckpt_loss, argnums=(0, 1))(x, Ws)
    np.testing.assert_allclose(cx, gx, rtol=1e-12, atol=1e-14)
    for a, b in zip(cW, gW):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_grad_with_respect_to_one_argument_only():
    x, Ws = _setup()
    np.testing.assert_allclose(cr.grad(ckpt_loss)(x, Ws), cr.grad(plain_loss)(x, Ws), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(ckpt_loss, argnums=1)(x, Ws)[3],
                               cr.grad(plain_loss, argnums=1)(x, Ws)[3], rtol=1e-12)


def test_vjp_of_a_non_scalar_output():
    x, Ws = _setup()
    g = np.random.default_rng(1).standard_normal(x.shape)
    out_p, pull_p = cr.vjp(_mlp, x, Ws)
    out_c, pull_c = cr.vjp(checkpoint(_mlp), x, Ws)
    np.testing.assert_array_equal(out_c, out_p)
    (cx, cW), (px, pW) = pull_c(g), pull_p(g)
    np.testing.assert_allclose(cx, px, rtol=1e-12)
    np.testing.assert_allclose(cW[1], pW[1], rtol=1e-12)


def test_jvp_matches():
    x, Ws = _setup()
    tx = np.random.default_rng(2).standard_normal(x.shape)
    p = cr.jvp(lambda x: plain_loss(x, Ws), (x,), (tx,))
    c = cr.jvp(lambda x: ckpt_loss(x, Ws), (x,), (tx,))
    np.testing.assert_allclose(c, p, rtol=1e-12)


def test_tape_backward_matches():
    x, Ws = _setup()
    grads = []
    for loss in (plain_loss, ckpt_loss):
        tx = cr.tensor(x, requires_grad=True)
        tWs = [cr.tensor(W, requires_grad=True) for W in Ws]
        loss(tx, tWs).backward()
        grads.append((tx.grad.detach().numpy(), tWs[2].grad.detach().numpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-12)


def test_tape_with_constant_weights():
    x, Ws = _setup()
    tx = cr.tensor(x, requires_grad=True)
    ckpt_loss(tx, [cr.tensor(W) for W in Ws]).backward()
    np.testing.assert_allclose(tx.grad.detach().numpy(), cr.grad(plain_loss)(x, Ws), rtol=1e-12)


def test_tape_create_graph_gives_second_derivatives():
    f = lambda x: cnp.sum(cnp.tanh(cnp.sin(x) * 1.7) ** 3)
    x0 = np.array([0.3, -0.8, 1.1])
    v = np.array([1.0, 2.0, -0.5])
    results = []
    for fn in (f, checkpoint(f)):
        x = cr.tensor(x0, requires_grad=True)
        (g,) = cr.autograd.grad(fn(x), [x], create_graph=True)
        cnp.sum(g * cr.tensor(v)).backward()
        results.append((g.detach().numpy(), x.grad.detach().numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12)


def test_grad_of_grad():
    f = lambda x: cnp.tanh(cnp.sin(x) * x) ** 2
    cf = checkpoint(f)
    for x in (0.3, -1.2, 2.0):
        np.testing.assert_allclose(cr.grad(cr.grad(cf))(x), cr.grad(cr.grad(f))(x), rtol=1e-12)
        np.testing.assert_allclose(cr.grad(cr.grad(cr.grad(cf)))(x),
                                   cr.grad(cr.grad(cr.grad(f)))(x), rtol=1e-11)
        # jvp of grad (forward over reverse) and grad of jvp
        np.testing.assert_allclose(cr.jvp(cr.grad(cf), (x,), (1.0,))[1],
                                   cr.jvp(cr.grad(f), (x,), (1.0,))[1], rtol=1e-12)
        np.testing.assert_allclose(cr.grad(lambda x: cr.jvp(cf, (x,), (1.0,))[1])(x),
                                   cr.grad(lambda x: cr.jvp(f, (x,), (1.0,))[1])(x), rtol=1e-12)


def test_nested_checkpoints():
    f = lambda x: cnp.sin(x) * cnp.cos(x)
    inner = checkpoint(f)
    outer = checkpoint(lambda x: inner(inner(x)) + x)
    plain = lambda x: f(f(x)) + x
    x = np.array([0.1, 0.7, -2.0])
    g = lambda fn: cr.grad(lambda x: cnp.sum(fn(x) ** 2))
    np.testing.assert_allclose(g(outer)(x), g(plain)(x), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(g(outer)(x)))(x),
                               cr.grad(lambda x: cnp.sum(g(plain)(x)))(x), rtol=1e-12)


def test_the_function_runs_again_in_the_backward_pass_once_per_call():
    calls = []

    def block(h, W, b):
        calls.append(1)
        return cnp.tanh(W @ h + b)

    x, Ws = _setup()
    b = np.ones((5, 1))
    cb = checkpoint(block)
    loss = lambda x, W, b: cnp.sum(cb(cb(x, W, b), W, b))
    loss(x, Ws[0], b)
    assert len(calls) == 2  # forward: once per call
    calls.clear()
    cr.grad(loss, argnums=(0, 1, 2))(x, Ws[0], b)
    # forward (2) + one re-run per checkpointed call in the backward pass (2),
    # not one per input
    assert len(calls) == 4
    calls.clear()
    xt = cr.tensor(x, requires_grad=True)
    loss(xt, cr.tensor(Ws[0], requires_grad=True), cr.tensor(b, requires_grad=True)).backward()
    assert len(calls) == 4


def test_pytree_arguments_keywords_and_static_leaves():
    def f(params, x, n, scale=1.0):
        for _ in range(n):
            x = cnp.tanh(params["W"] @ x + params["b"]) * scale
        return x

    rng = np.random.default_rng(3)
    params = {"W": rng.standard_normal((4, 4)), "b": rng.standard_normal((4, 1))}
    x = rng.standard_normal((4, 2))
    cf = checkpoint(f)
    lp = lambda p, x: cnp.sum(f(p, x, 3, scale=0.9) ** 2)
    lc = lambda p, x: cnp.sum(cf(p, x, 3, scale=0.9) ** 2)
    gp, gc_ = cr.grad(lp, argnums=(0, 1))(params, x), cr.grad(lc, argnums=(0, 1))(params, x)
    np.testing.assert_allclose(gc_[0]["W"], gp[0]["W"], rtol=1e-12)
    np.testing.assert_allclose(gc_[0]["b"], gp[0]["b"], rtol=1e-12)
    np.testing.assert_allclose(gc_[1], gp[1], rtol=1e-12)


def test_pytree_outputs():
    def f(x, y):
        return {"a": cnp.sin(x) * y, "b": (cnp.exp(y), x ** 3)}

    cf = checkpoint(f)
    x, y = np.array([0.5, 1.5]), np.array([[2.0], [3.0]])
    out = cf(x, y)
    ref = f(x, y)
    np.testing.assert_array_equal(out["a"], ref["a"])
    assert out["b"][1].shape == (2,) and out["a"].shape == (2, 2)
    loss = lambda fn: (lambda x, y: cnp.sum(fn(x, y)["a"]) + cnp.sum(fn(x, y)["b"][0] * 2)
                       + cnp.sum(fn(x, y)["b"][1]))
    for a, b in zip(cr.grad(loss(cf), argnums=(0, 1))(x, y), cr.grad(loss(f), argnums=(0, 1))(x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    t = (np.ones(2), np.ones((2, 1)))
    jc, jp = cr.jvp(cf, (x, y), t)[1], cr.jvp(f, (x, y), t)[1]
    np.testing.assert_allclose(jc["b"][1], jp["b"][1], rtol=1e-12)
    np.testing.assert_allclose(jc["a"], jp["a"], rtol=1e-12)


def test_integer_arguments_are_not_differentiated():
    cf = checkpoint(lambda x, idx: cnp.sin(x)[idx] * 2.0)
    x = np.array([0.1, 0.2, 0.3])
    g = cr.grad(lambda x: cnp.sum(cf(x, np.array([2, 0]))))(x)
    np.testing.assert_allclose(g, [2 * np.cos(0.1), 0.0, 2 * np.cos(0.3)], rtol=1e-12)


def _closing_over(w):
    """A loss whose checkpointed block captures ``w`` (and a dict holding it) in its closure."""
    params = {"w": w}
    block = checkpoint(lambda x: cnp.sin(x * w) * params["w"])
    return cnp.sum(block(np.linspace(0.1, 0.3, 3)) ** 2)


def _plain(w):
    return cnp.sum((cnp.sin(np.linspace(0.1, 0.3, 3) * w) * w) ** 2)


def test_a_closure_over_a_traced_value_is_lifted_into_an_argument():
    np.testing.assert_allclose(cr.grad(_closing_over)(2.0), cr.grad(_plain)(2.0), rtol=1e-12)
    np.testing.assert_allclose(cr.grad(cr.grad(_closing_over))(2.0), cr.grad(cr.grad(_plain))(2.0), rtol=1e-12)
    np.testing.assert_allclose(cr.jvp(_closing_over, (2.0,), (1.0,))[1], cr.jvp(_plain, (2.0,), (1.0,))[1],
                               rtol=1e-12)
    ws = np.array([1.0, 2.0])
    np.testing.assert_allclose(cr.vmap(_closing_over)(ws), [_plain(w) for w in ws], rtol=1e-12)
    check_grads(_closing_over, (2.0,), order=2)


class _Box:
    pass


@pytest.mark.parametrize("transform, name", [
    (lambda f: cr.jvp(f, (2.0,), (1.0,)), "forward mode"),
    (lambda f: cr.vmap(f)(np.array([1.0, 2.0])), "cr.vmap"),
    (lambda f: cr.grad(f)(2.0), "reverse mode")])
def test_a_deeper_capture_raises_naming_the_transform(transform, name):
    def loss(w):
        box = _Box()
        box.w = w  # captured through an attribute: not a closure cell, so not lifted
        return cnp.sum(checkpoint(lambda x: x * box.w)(np.ones(3)))

    with pytest.raises(ValueError, match=f"{name}.*Pass the value as an explicit argument"):
        transform(loss)


def test_vmap_of_a_checkpoint_stays_one_checkpoint_node():
    """Under vmap the checkpointed call is still one node: the backward pass re-runs vmap(f)."""
    calls = []

    def f(h, w):
        calls.append(1)
        return cnp.tanh(w @ h)

    block = checkpoint(f)
    w, hs = np.eye(2) * 0.5, np.arange(6.0).reshape(3, 2)
    g = cr.grad(lambda w: cnp.sum(cr.vmap(block, in_axes=(0, None))(hs, w)))(w)
    want = sum(np.outer(1 - np.tanh(w @ h) ** 2, h) for h in hs)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    assert len(calls) == 2  # the forward pass and one re-run in the backward pass, not one per example


# -- memory -------------------------------------------------------------------------

DEPTH, BLOCK, D, B = 100, 10, 256, 64


def _deep(h, Ws):
    for W in Ws:
        h = cnp.tanh(W @ h)
    return h


def _peak_of_gradient(block_fn, x, Ws):
    def loss(x):
        h = x
        for k in range(0, DEPTH, BLOCK):
            h = block_fn(h, Ws[k:k + BLOCK])
        return cnp.sum(h)

    gc.collect()
    tracemalloc.start()
    try:
        g = cr.grad(loss)(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, g


def test_checkpointing_lowers_the_peak_memory_of_a_deep_gradient():
    rng = np.random.default_rng(0)
    Ws = [rng.standard_normal((D, D)) / np.sqrt(D) for _ in range(DEPTH)]
    x = rng.standard_normal((D, B))
    plain_peak, g_plain = _peak_of_gradient(_deep, x, Ws)
    ckpt_peak, g_ckpt = _peak_of_gradient(checkpoint(_deep), x, Ws)
    np.testing.assert_allclose(g_ckpt, g_plain, rtol=1e-10, atol=1e-14)
    act = D * B * 8  # one activation, bytes
    # plain reverse mode keeps two arrays per layer (W @ h and tanh of it): ~200 activations;
    # blocks of 10 keep 10 block inputs plus one block's intermediates: ~30
    assert plain_peak > 150 * act, (plain_peak, act)
    assert ckpt_peak < 0.6 * plain_peak, (ckpt_peak, plain_peak)
    assert ckpt_peak < 50 * act, (ckpt_peak, act)


def test_tape_backward_peak_memory_drops_too():
    rng = np.random.default_rng(0)
    Ws = [cr.tensor(rng.standard_normal((D, D)) / np.sqrt(D)) for _ in range(DEPTH)]
    x0 = rng.standard_normal((D, B))
    peaks, grads = [], []
    for block_fn in (_deep, checkpoint(_deep)):
        x = cr.tensor(x0, requires_grad=True)
        gc.collect()
        tracemalloc.start()
        try:
            h = x
            for k in range(0, DEPTH, BLOCK):
                h = block_fn(h, Ws[k:k + BLOCK])
            cnp.sum(h).backward()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        grads.append(x.grad.detach().numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10, atol=1e-14)
    assert peaks[1] < 0.6 * peaks[0], peaks


def test_retained_graph_backward_twice():
    f = lambda x: cnp.sum(cnp.tanh(x * 3.0) ** 2)
    x = cr.tensor([0.2, -0.4], requires_grad=True)
    y = checkpoint(f)(x)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 2 * cr.grad(f)(np.array([0.2, -0.4])),
                               rtol=1e-12)


def test_float32_and_no_differentiated_inputs():
    cf = checkpoint(lambda x: cnp.tanh(x) * 2)
    x = np.array([0.5, 1.0], dtype=np.float32)
    g = cr.grad(lambda x: cnp.sum(cf(x)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 / np.cosh(x) ** 2, rtol=1e-5)
    np.testing.assert_array_equal(cf(x), np.tanh(x) * 2)  # no tracer at all: a plain evaluation


def test_jax_keywords_static_argnums_policy_prevent_cse():
    """JAX code passes static_argnums (often through functools.partial), policy, prevent_cse."""
    import functools

    @functools.partial(cr.checkpoint, static_argnums=(1,), prevent_cse=False)
    def f(x, p):
        return x ** 2 if p > 0.5 else x

    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(f(x, 0.7)))(np.ones(2)), [2.0, 2.0])
    np.testing.assert_array_equal(cr.vmap(lambda x: f(x, 0.2))(np.ones((2, 3))), np.ones((2, 3)))

    @cr.checkpoint(static_argnums=1, policy=lambda *a: True)
    def g(x, p):
        return x * p["s"] if p["on"] else x

    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(g(x, {"on": True, "s": 3.0})))(np.ones(2)), [3.0, 3.0])
    with pytest.raises(TypeError, match="argument 1 is in static_argnums but holds a traced value"):
        cr.grad(lambda p: cnp.sum(f(np.ones(2), p)))(0.7)


def test_a_non_array_output_is_refused_by_name():
    for run in (lambda f: cr.grad(lambda x: cnp.sum(f(x)[0]))(np.ones(3)),
                lambda f: cr.vmap(f)(np.ones((2, 3))),
                lambda f: cr.jvp(f, (np.ones(3),), (np.ones(3),))):
        with pytest.raises(TypeError, match=r"checkpointed .* returned output\[1\] of type str"):
            run(cr.checkpoint(lambda x: (x * 2, "label")))
