"""Linear regression by gradient descent on the tape, checked against least squares.

    python examples/tape_linear_regression.py

The PyTorch-style loop: parameters are cr.tensor(..., requires_grad=True) leaves, the
loss is computed with operators and chainrule.numpy, loss.backward() fills .grad, and
the update is done in place under cr.no_grad(), after which the gradient is zeroed
(w.grad = None). The result is compared with np.linalg.lstsq.
"""
import numpy as np

import chainrule as cr
import chainrule.numpy as cnp


def make_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    w_true = np.array([2.0, -1.0, 0.5])
    b_true = 0.3
    y = X @ w_true + b_true + 0.1 * rng.standard_normal(n)
    return X, y, w_true, b_true


def main():
    X, y, w_true, b_true = make_data()
    w = cr.tensor(np.zeros(3), requires_grad=True)
    b = cr.tensor(0.0, requires_grad=True)
    lr = 0.1

    for step in range(301):
        residual = X @ w + b - y              # ndarray @ Tensor records too
        loss = cnp.mean(residual ** 2) / 2
        loss.backward()
        with cr.no_grad():                    # the update itself is not recorded
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad = None                         # gradients accumulate: zero them
        b.grad = None
        if step % 50 == 0:
            print(f"step {step:3d}  loss {loss.item():.6f}")

    A = np.hstack([X, np.ones((len(X), 1))])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    w_fit = w.detach().numpy()
    b_fit = b.item()
    np.set_printoptions(precision=6, suppress=True, floatmode="fixed")
    print(f"\n{'':16}  {'w':^31}  {'b':^9}")
    print(f"gradient descent  {w_fit}  {b_fit:.6f}")
    print(f"np.linalg.lstsq   {coef[:3]}  {coef[3]:.6f}")
    print(f"true              {w_true}  {b_true:.6f}")
    gap = max(np.max(np.abs(w_fit - coef[:3])), abs(b_fit - coef[3]))
    print(f"largest difference from lstsq: {gap:.1e}")
    assert gap < 1e-6


if __name__ == "__main__":
    main()
