"""The seeds' layered Jacobian: J_theta f of a 3-layer tanh network, three ways (plus FD).

    python examples/layered_jacobian.py

A layered function f(x, theta) = L^l(... L^1(x, theta^1) ..., theta^l) with l = 3 layers

    L^k(x, theta^k) = tanh(W_k x + b_k),     theta^k = (W_k, b_k) flattened into one vector,

x in R^3 and widths 4, 3, 2, so f maps R^3 -> R^2 and has 16 + 15 + 8 = 39 parameters.
The Jacobian of the output with respect to ALL parameters (theta^1, ..., theta^l
concatenated), J_theta f, a 2 x 39 matrix, is computed

  1. by cr.jacfwd  (forward mode: one pushed-forward tangent per parameter, 39 of them),
  2. by cr.jacrev  (reverse mode: one pulled-back cotangent per output, 2 of them),
  3. by the seed's explicit reverse recursion over the stored forward pass:

         D = I
         for k = l, ..., 1:
             J_theta^k f = D . J_theta^k L^k       (at the layer's own input x_{k-1})
             D           = D . J_x L^k

     where the per-layer Jacobians come from cr.jacobian and D is the running product
     of layer-input Jacobians from the output back to layer k,
  4. and by central finite differences in float64, as an independent check.

All agree. Reverse mode wins here: the cost is one pass per output (2), not one per
parameter (39) -- the seeds' central lesson.
"""
import numpy as np

import chainrule as cr
import chainrule.numpy as cnp

SIZES = (3, 4, 3, 2)          # input dimension, then the width of each layer


def layer_param_sizes(sizes=SIZES):
    """Number of entries of each theta^k = (W_k, b_k): n_out * n_in + n_out."""
    return [n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def init_params(seed=0, sizes=SIZES):
    """Random x and flattened per-layer parameters [theta^1, ..., theta^l] (float64)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(sizes[0])
    thetas = [rng.standard_normal(p) * 0.8 for p in layer_param_sizes(sizes)]
    return x, thetas


def layer(x, theta_k, n_in, n_out):
    """L^k(x, theta^k) = tanh(W_k x + b_k), with theta^k = [W_k.ravel(), b_k]."""
    W = cnp.reshape(theta_k[: n_out * n_in], (n_out, n_in))
    b = theta_k[n_out * n_in:]
    return cnp.tanh(W @ x + b)


def split(theta, sizes=SIZES):
    """Cut the concatenated parameter vector back into [theta^1, ..., theta^l]."""
    out, start = [], 0
    for p in layer_param_sizes(sizes):
        out.append(theta[start:start + p])
        start += p
    return out


def f(x, theta, sizes=SIZES):
    """f(x, theta) = L^l(... L^1(x, theta^1) ..., theta^l), theta all parameters concatenated."""
    h = x
    for k, theta_k in enumerate(split(theta, sizes)):
        h = layer(h, theta_k, sizes[k], sizes[k + 1])
    return h


def jac_theta_fwd(x, theta, sizes=SIZES):
    """J_theta f by forward mode: one tangent per parameter."""
    return np.asarray(cr.jacfwd(lambda t: f(x, t, sizes))(theta))


def jac_theta_rev(x, theta, sizes=SIZES):
    """J_theta f by reverse mode: one cotangent per output."""
    return np.asarray(cr.jacrev(lambda t: f(x, t, sizes))(theta))


def jac_theta_recursion(x, theta, sizes=SIZES):
    """J_theta f by the seed's explicit reverse recursion over the stored forward pass."""
    thetas = split(theta, sizes)
    n_layers = len(thetas)
    # Forward pass, storing each layer's input x_{k-1} (x_0 = x).
    inputs, h = [], x
    for k in range(n_layers):
        inputs.append(h)
        h = np.asarray(layer(h, thetas[k], sizes[k], sizes[k + 1]))
    # Backward sweep: D = d f / d x_k, the product of layer Jacobians from the output down.
    D = np.eye(sizes[-1])
    blocks = [None] * n_layers
    for k in reversed(range(n_layers)):
        n_in, n_out = sizes[k], sizes[k + 1]
        J_theta, J_x = cr.jacobian(lambda xk, tk: layer(xk, tk, n_in, n_out),
                                   argnums=(1, 0))(inputs[k], thetas[k])
        blocks[k] = D @ np.asarray(J_theta)      # J_theta^k f = D . J_theta^k L^k
        D = D @ np.asarray(J_x)                  # D = D . J_x L^k
    return np.concatenate(blocks, axis=1)


def jac_theta_fd(x, theta, sizes=SIZES, eps=1e-6):
    """J_theta f by central finite differences (float64), one column per parameter."""
    theta = np.asarray(theta, dtype=np.float64)
    cols = []
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = eps
        cols.append((np.asarray(f(x, theta + e, sizes)) - np.asarray(f(x, theta - e, sizes)))
                    / (2 * eps))
    return np.stack(cols, axis=1)


def all_jacobians(seed=0, sizes=SIZES):
    """The four Jacobians (fwd, rev, recursion, fd) for one random draw."""
    x, thetas = init_params(seed, sizes)
    theta = np.concatenate(thetas)
    return {"jacfwd": jac_theta_fwd(x, theta, sizes),
            "jacrev": jac_theta_rev(x, theta, sizes),
            "recursion": jac_theta_recursion(x, theta, sizes),
            "finite differences": jac_theta_fd(x, theta, sizes)}


def main():
    x, thetas = init_params(0)
    theta = np.concatenate(thetas)
    out = np.asarray(f(x, theta))
    print(f"layers: {len(thetas)}, sizes {' -> '.join(map(str, SIZES))}")
    print(f"x: {x.shape}, theta: {theta.shape} (per layer {[t.size for t in thetas]}), "
          f"f(x, theta): {out.shape}")
    J = all_jacobians(0)
    for name, Jm in J.items():
        print(f"J_theta f via {name:<18}: shape {Jm.shape}")
    ref = J["jacrev"]
    print(f"max |jacfwd      - jacrev| = {np.max(np.abs(J['jacfwd'] - ref)):.2e}")
    print(f"max |recursion   - jacrev| = {np.max(np.abs(J['recursion'] - ref)):.2e}")
    print(f"max |finite diff - jacrev| = {np.max(np.abs(J['finite differences'] - ref)):.2e}")
    n_out, n_par = ref.shape
    print(f"Reverse mode needs one backward pass per output ({n_out}), forward mode one "
          f"pass per parameter ({n_par}): for a wide Jacobian like this ({n_out} x {n_par}), "
          f"reverse mode is about {n_par / n_out:.0f}x fewer passes -- the seeds' lesson.")


if __name__ == "__main__":
    main()
