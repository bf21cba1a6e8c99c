"""Raissi et al. (2019)'s Burgers PINN, written with cr.pinn (what `chainrule pinn burgers` runs).

    u_t + u u_x - (0.01/pi) u_xx = 0,  x in [-1, 1], t in [0, 1],
    u(0, x) = -sin(pi x),  u(t, -1) = u(t, 1) = 0.

    python examples/pinn_burgers.py                       # the paper's setup, 14 minutes (--time 840)
    python examples/pinn_burgers.py --quick                # seconds (what CI runs)

Prints the relative L2 error against the exact (Cole-Hopf) solution and saves the
paper's figure (--out, default burgers.png).
"""
import argparse
import math

import numpy as np

import chainrule as cr
from chainrule.pinn import burgers

NU = 0.01 / math.pi


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iters", type=int, default=50_000, help="at most this many quasi-Newton (self-scaled BFGS) iterations")
    ap.add_argument("--time", type=float, default=840.0, help="training budget in seconds ('inf': none)")
    ap.add_argument("--out", default="burgers.png", help="the figure ('none': no figure)")
    ap.add_argument("--quick", action="store_true", help="a small net and problem, for CI")
    args = ap.parse_args()
    sizes, n_f, adam, iters = [2] + [20] * 8 + [1], 10_000, 200, args.iters
    if args.quick:
        sizes, n_f, adam, iters = [2, 20, 20, 1], 500, 100, min(iters, 100)

    # N_u = 100 initial/boundary points with their exact values; N_f collocation points (LHS)
    box = cr.pinn.Box([0.0, -1.0], [1.0, 1.0], names=("t", "x"))
    rng = np.random.default_rng(args.seed)
    x0 = box.sample_slice(50, axis="t", method="lhs", rng=rng)               # t = 0
    xb = box.sample_boundary(50, axes=("x",), method="lhs", rng=rng)         # x = -1, 1
    x_u = np.concatenate([x0, xb])
    u_u = np.where(x_u[:, :1] == 0.0, -np.sin(np.pi * x_u[:, 1:]), 0.0)
    x_f = np.concatenate([box.sample(n_f, "lhs", rng), x_u])

    net = cr.pinn.mlp(box, sizes, rng=args.seed)      # inputs mapped onto [-1, 1], Xavier weights

    def loss(params, x_f, x_u, u_u):
        def u(x):
            return net.apply(params, x)
        v, du, (u_xx,) = cr.pinn.partials(u, x_f, second=(1,))    # u, (u_t, u_x), u_xx
        f = du[:, 0:1] + v * du[:, 1:2] - NU * u_xx
        return cr.pinn.weighted_loss({"u": cr.pinn.mse(u(x_u) - u_u), "f": cr.pinn.mse(f)})

    params, info = cr.pinn.fit(loss, net.params(), (x_f, x_u, u_u), adam_steps=adam, iters=iters,
                               time_budget=args.time, progress=False)

    # the error on the paper's 100 x 256 grid, against the Cole-Hopf solution
    problem = burgers.make_problem(n_u=100, n_f=0, seed=args.seed)
    err = burgers.relative_l2(net, params, problem)
    print(f"MLP {'-'.join(map(str, sizes))}, N_f = {n_f}: Adam {info['adam_steps']} steps, {info['optimizer']} "
          f"{info['iters']} iterations in {info['wall_s']:.1f} s; loss {info['loss']:.3e}")
    print(f"relative L2 error {err:.3e} (Raissi et al.: 6.7e-04)")
    if args.out.lower() != "none":
        print("figure:", burgers.plot(net, params, problem, args.out))


if __name__ == "__main__":
    main()
