"""Newton steps on a network's loss with Hessian-vector products from the tape.

    python examples/forward_ad_newton.py

A small cr.nn.MLP is fitted to y = sin(3x) by truncated Newton: each step solves
H p = -g by conjugate gradients, where every product H v comes from forward mode on the
tape -- the parameters made dual along v with cr.forward_ad, then cr.autograd.grad of the
loss, whose tangent is H v (forward over reverse; the Hessian is never formed). The first
product is checked against the Hessian of the functional form (cr.hessian). A
backtracking line search keeps each step downhill.
"""
import numpy as np

import chainrule as cr
import chainrule.forward_ad as fwAD
import chainrule.numpy as cnp

F = cr.nn.functional

model = cr.nn.MLP([1, 8, 1], activation="tanh", rng=0)
x = np.linspace(-1.0, 1.0, 32).reshape(-1, 1)
y = np.sin(3 * x)
params = dict(model.named_parameters())
names = list(params)


def gradient_and_hvp(v):
    """The gradient at the current parameters, and H v; both dicts by name."""
    with fwAD.dual_level():
        dual = {n: fwAD.make_dual(params[n], v[n]) for n in names}
        loss = F.mse_loss(model.apply(dual, x), y)
        grads = cr.autograd.grad(loss, [params[n] for n in names])
        pairs = [fwAD.unpack_dual(g) for g in grads]
    return ({n: p.primal.numpy() for n, p in zip(names, pairs)},
            {n: p.tangent.numpy() for n, p in zip(names, pairs)})


def dot(a, b):
    return sum(float(np.sum(a[n] * b[n])) for n in names)


def flat_loss(z):
    """The loss as a function of all parameters in one vector (for cr.hessian)."""
    p, i = {}, 0
    for n in names:
        size = params[n].size
        p[n] = cnp.reshape(z[i:i + size], params[n].shape)
        i += size
    return F.mse_loss(model.apply(p, x), y)


def flat(d):
    return np.concatenate([np.ravel(d[n]) for n in names])


# The first product against the exact Hessian (and the gradient against cr.grad).
rng = np.random.default_rng(0)
v = {n: rng.standard_normal(params[n].shape) for n in names}
g, hv = gradient_and_hvp(v)
z = flat(model.params())
err_hv = np.max(np.abs(flat(hv) - cr.hessian(flat_loss)(z) @ flat(v)))
err_g = np.max(np.abs(flat(g) - cr.grad(flat_loss)(z)))
print(f"H v by forward over reverse vs cr.hessian: max difference {err_hv:.1e}; gradient {err_g:.1e}")
assert err_hv < 1e-10 and err_g < 1e-12

print("step  loss")
first = float(flat_loss(flat(model.params())))
for step in range(15):
    g, _ = gradient_and_hvp({n: np.zeros(params[n].shape) for n in names})
    print(f"{step:4d}  {float(flat_loss(flat(model.params()))):.3e}")
    # conjugate gradients on (H + damping) p = -g, a few iterations
    p = {n: np.zeros_like(g[n]) for n in names}
    r = {n: -g[n] for n in names}
    d = dict(r)
    for _ in range(10):
        hd = {n: h + 1e-3 * d[n] for n, h in gradient_and_hvp(d)[1].items()}
        curvature = dot(d, hd)
        if curvature <= 0:
            break
        alpha = dot(r, r) / curvature
        p = {n: p[n] + alpha * d[n] for n in names}
        r_new = {n: r[n] - alpha * hd[n] for n in names}
        d = {n: r_new[n] + dot(r_new, r_new) / dot(r, r) * d[n] for n in names}
        r = r_new
    # backtracking: halve the step until the loss decreases
    z, scale = flat(model.params()), 1.0
    while scale > 1e-4 and float(flat_loss(z + scale * flat(p))) >= float(flat_loss(z)):
        scale /= 2
    with cr.no_grad():
        for n in names:
            params[n] += scale * p[n]
final = float(flat_loss(flat(model.params())))
print(f"final loss {final:.3e}")
assert final < 0.05 * first
