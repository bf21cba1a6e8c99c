"""``chainrule pinn burgers`` and ``chainrule pinn poisson``: the reproductions, from the command line."""
from __future__ import annotations

import time

import numpy as np

from chainrule._argtypes import positive_int
from chainrule._launch import add_workers_argument, relaunch

_NAMES = {"ssbfgs": "SSBFGS", "bfgs": "BFGS", "lbfgs": "L-BFGS"}


def add_pinn_command(sub):
    p = sub.add_parser("pinn", help="physics-informed networks: Raissi et al.'s Burgers run, a d-dim Poisson",
                       description="Train a physics-informed network and print its relative L2 error.")
    psub = p.add_subparsers(dest="problem", metavar="PROBLEM", required=True)
    b = psub.add_parser("burgers", help="Raissi et al. (2019): Burgers' equation, 2-[20]*8-1 tanh, Adam + BFGS",
                        description="Burgers' equation u_t + u u_x - (0.01/pi) u_xx = 0 as in Raissi et al. "
                                    "(2019): N_u = 100, N_f = 10,000 (LHS), a 2 -> 8 x 20 tanh -> 1 network, "
                                    "Adam then full-batch self-scaled BFGS; prints the relative L2 error against the "
                                    "Cole-Hopf solution and saves the paper's figure.")
    _common(b, out="burgers.png", time=840.0)
    b.add_argument("--n-f", type=positive_int, default=10_000, help="collocation points (default 10000)")
    b.add_argument("--n-u", type=int, default=100, help="initial/boundary data points (default 100)")
    b.add_argument("--adam", type=int, default=200, help="Adam steps before the quasi-Newton phase (default 200)")
    b.add_argument("--sampling", choices=("lhs", "sobol", "uniform"), default="lhs")
    add_workers_argument(b, "; each takes its share of the collocation points, and the loss and gradient "
                            "are averaged in one allreduce per evaluation")
    b.set_defaults(handler=run_burgers)
    q = psub.add_parser("poisson", help="-Laplacian u = f on [0, 1]^d with a known solution",
                        description="-Laplacian(u) = f on [0, 1]^d, u = g on the boundary, with the exact "
                                    "solution u = sin(pi sum_i (x_i - 1/2) / sqrt(d)); prints the relative L2 error.")
    _common(q, out="poisson.png")
    q.add_argument("--dim", type=positive_int, default=2, help="the dimension d (default 2)")
    q.add_argument("--n-f", type=positive_int, default=None, help="interior points (default 500 d, at most 2000)")
    q.add_argument("--adam", type=int, default=1000, help="Adam steps before the quasi-Newton phase (default 1000)")
    q.add_argument("--stde", type=positive_int, default=None, metavar="K",
                   help="the stochastic Taylor derivative estimator with K random directions instead of the "
                        "forward Laplacian: Adam only, fresh points and directions every step (for large d)")
    q.add_argument("--batch", type=positive_int, default=100,
                   help="with --stde: interior and boundary points drawn per step (default 100)")
    q.set_defaults(handler=run_poisson, iters=5000)


def _common(p, out, time=None):
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the initial weights")
    p.add_argument("--iters", type=int, default=50_000,
                   help="at most this many quasi-Newton iterations (default 50000)")
    p.add_argument("--optimizer", choices=("auto", "ssbfgs", "bfgs", "lbfgs"), default="auto",
                   help="the full-batch phase: self-scaled BFGS, BFGS or L-BFGS (default auto: ssbfgs up "
                        "to 10,000 parameters, lbfgs beyond)")
    p.add_argument("--time", type=float, default=time, metavar="SECONDS",
                   help=f"wall-time budget for the training, in seconds (default: {time or 'none'}; 'inf': none)")
    p.add_argument("--out", default=out, help=f"the figure's file (default {out}; 'none' for no figure)")
    p.add_argument("--quick", action="store_true", help="a short run (seconds), e.g. for CI")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_burgers(args):
    from chainrule import distributed as dist
    from chainrule.pinn import burgers
    from chainrule.pinn.model import mlp

    status = relaunch(args, "chainrule pinn burgers")
    if status is not None:
        return status
    say = print if dist.is_main() else (lambda *a, **k: None)  # only rank 0 prints and saves
    sizes = [2] + [20] * 8 + [1]
    n_f, adam, iters = args.n_f, args.adam, args.iters
    if args.quick:  # a smaller net and problem: the pipeline end to end in seconds
        sizes, n_f, adam, iters = [2, 20, 20, 1], min(n_f, 500), min(adam, 100), min(iters, 100)
    t0 = time.perf_counter()
    problem = burgers.make_problem(n_u=args.n_u, n_f=n_f, seed=args.seed, method=args.sampling)
    net = mlp(problem.box, sizes, rng=args.seed)
    ranks = f"; {dist.world_size()} MPI ranks, each with its share of the points" if dist.world_size() > 1 else ""
    say(f"Burgers (Raissi et al. 2019): MLP {'-'.join(map(str, sizes))} tanh, N_u = {args.n_u}, "
        f"N_f = {n_f} ({args.sampling}), seed {args.seed}; Adam {adam} steps, then {args.optimizer} "
        f"(at most {iters} iterations{'' if args.time is None else f', {args.time:g} s in all'}){ranks}", flush=True)
    params, info = burgers.train(net, problem, adam_steps=adam, iters=iters, optimizer=args.optimizer,
                                 time_budget=args.time, progress=not args.no_progress)
    if not dist.is_main():
        return 0
    err = burgers.relative_l2(net, params, problem)
    print(f"loss {info['loss']:.3e}; Adam {info['adam_steps']} steps, {_NAMES[info['optimizer']]} {info['iters']} "
          f"iterations ({info['evals']} evaluations; stopped: {info['message']}); training {info['wall_s']:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s")
    print(f"relative L2 error: {err:.3e}  (on the {len(problem.grid_t)} x {len(problem.grid_x)} grid; "
          f"paper: 6.7e-04)")
    return _figure(args.out, burgers.plot, net, params, problem)


def run_poisson(args):
    from chainrule.pinn import poisson

    n_f, adam, iters = args.n_f, args.adam, args.iters
    if args.quick:
        n_f, adam, iters = min(n_f or 200, 200), min(adam, 100), min(iters, 100)
    t0 = time.perf_counter()
    if args.stde:  # points are drawn at every step; the problem holds one batch and the test set
        problem = poisson.make_problem(args.dim, n_f=args.batch, n_b=args.batch, seed=args.seed)
        how = (f"STDE Laplacian with {args.stde} Rademacher directions, {args.batch} interior + {args.batch} "
               f"boundary points drawn per step, Adam only")
    else:
        problem = poisson.make_problem(args.dim, n_f=n_f, seed=args.seed)
        how = (f"forward Laplacian, {len(problem.x_f)} interior + {len(problem.x_b)} boundary points (LHS), "
               f"Adam then {args.optimizer}")
    print(f"Poisson -Laplacian u = f on [0, 1]^{args.dim}, u = sin(pi sum_i (x_i - 1/2) / sqrt(d)): MLP "
          f"{'-'.join(map(str, problem.sizes))} tanh, {how}, seed {args.seed}", flush=True)
    net, params, info = poisson.train(problem, adam_steps=adam, iters=iters, optimizer=args.optimizer,
                                      time_budget=args.time, seed=args.seed, progress=not args.no_progress,
                                      stde=args.stde, batch=args.batch)
    err = poisson.relative_l2(net, params, problem)
    then = "" if args.stde else f", {_NAMES[info['optimizer']]} {info['iters']} iterations"
    print(f"loss {info['loss']:.3e}; Adam {info['adam_steps']} steps{then} (stopped: {info['message']}); "
          f"total {time.perf_counter() - t0:.1f} s")
    u = problem.u_test
    flat = float(np.linalg.norm(u - u.mean()) / np.linalg.norm(u))
    print(f"relative L2 error: {err:.3e}  (on {len(problem.x_test)} random test points; the best constant "
          f"scores {flat:.3e})")
    return _figure(args.out, poisson.plot, net, params, problem)


def _figure(out, plot, net, params, problem):
    """Save the problem's figure to ``--out`` (``none``: no figure); the exit status."""
    if out and out.lower() != "none":
        plot(net, params, problem, out)
        print(f"figure: {out}")
    return 0


