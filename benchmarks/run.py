"""Run chainrule's benchmark suite: ``python benchmarks/run.py [--quick] [--only overhead|mlp|mixed|jacobian|train] [--json PATH]``.

(a) overhead: per-op cost of the gradient of a 200-op elementwise chain.
(b) mlp:      one SGD step of a 784-256-256-10 tanh MLP, float32 and float64.
(c) mixed:    value + gradient of a 64-particle energy (indexing, einsum, linalg.solve, max), float64.
(d) jacobian: Jacobians of R^1000 -> R^4 and R^4 -> R^1000 maps (jacfwd, jacrev, auto) and a
              64x64 Hessian, float64.
(e) train:    training throughput (samples/s) with cr.nn + cr.optim against PyTorch eager: digits
              (64-128-10, Adam) and the 784-256-256-10 step (SGD), float32 and float64.

Peers (PyTorch, JAX, HIPS autograd, micrograd) are imported lazily and
skipped, with a note in the tables, when not installed; install them with
``pip install -e ".[bench]"``.  Everything runs single-threaded: the thread
variables are set, and the process is pinned to one CPU, below (``_env``)
before NumPy, PyTorch or JAX is imported.
See docs/benchmarks.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _env  # noqa: E402,F401  (OMP/MKL/OPENBLAS_NUM_THREADS=1, XLA_FLAGS, one CPU: before any numerics)

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import _harness  # noqa: E402

TARGET_A = "chainrule forward+backward per op cheaper than PyTorch eager's"
TARGET_B = "chainrule MLP step within 1.3x of the NumPy floor"
B_LIMIT = 1.3


def targets(results):
    """``[(target, what, measured ratio or None, verdict)]`` from the results."""
    out = []
    if "overhead" in results:
        by = {r["name"]: r for r in results["overhead"]["rows"]}
        for name in ("chainrule cr.grad (functional)", "chainrule tape (.backward())"):
            r = by.get(name)
            ratio = r.get("ratio_to_torch") if r else None
            verdict = "NOT MEASURED (PyTorch not installed)" if ratio is None else (
                "MET" if ratio < 1.0 else "MISSED")
            out.append(("(a) " + TARGET_A, f"{name}: fwd+bwd / PyTorch", ratio, verdict))
    if "mlp" in results:
        for dt in ("float32", "float64"):
            by = {r["name"]: r for r in results["mlp"][dt]["rows"]}
            for name in ("chainrule functional (value_and_grad)", "chainrule tape (.backward())"):
                ratio = by[name]["ratio_to_floor"]
                out.append(("(b) " + TARGET_B, f"{name}, {dt}: step / floor", ratio,
                            "MET" if ratio <= B_LIMIT else "MISSED"))
    return out


def print_targets(rows):
    print(_harness.banner("Targets"))
    last = None
    w = max(len(what) for _, what, _, _ in rows)
    for target, what, ratio, verdict in rows:
        if target != last:
            print(target)
            last = target
        print(f"    {what.ljust(w)}  {_harness.fratio(ratio):>7}  {verdict}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer and shorter repeats")
    ap.add_argument("--only", choices=["overhead", "mlp", "mixed", "jacobian", "train"], help="run one benchmark")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    info = _harness.machine_info()
    _harness.print_machine_info(info)
    mode = "quick (smoke run: few, short repeats; numbers are rough)" if args.quick else "full"
    print(f"mode      {mode}")

    results = {}
    if args.only in (None, "overhead"):
        import bench_overhead
        results["overhead"] = bench_overhead.run(quick=args.quick)
        sys.stdout.flush()
    if args.only in (None, "mlp"):
        import bench_mlp
        results["mlp"] = bench_mlp.run(quick=args.quick)
        sys.stdout.flush()
    if args.only in (None, "mixed"):
        import bench_mixed
        results["mixed"] = bench_mixed.run(quick=args.quick)
        sys.stdout.flush()
    if args.only in (None, "jacobian"):
        import bench_jacobian
        results["jacobian"] = bench_jacobian.run(quick=args.quick)
        sys.stdout.flush()
    if args.only in (None, "train"):
        import bench_train
        results["train"] = bench_train.run(quick=args.quick)
        sys.stdout.flush()

    tg = targets(results)
    if tg:  # (c), (d) and (e) have no target: --only mixed / jacobian / train print none
        print_targets(tg)
    elapsed = time.perf_counter() - t0
    print(f"\nTotal time {elapsed:.0f} s.")

    if args.json:
        payload = {"machine": info, "quick": args.quick, "elapsed_s": elapsed, **results,
                   "targets": [{"target": t, "measure": w, "ratio": r, "verdict": v} for t, w, r, v in tg]}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2, default=str)
        print(f"Results written to {args.json}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
