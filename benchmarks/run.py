"""Run chainrule's benchmark suite: ``python benchmarks/run.py [--quick] [--only NAME[,NAME...]] [--json PATH]``.

(a) overhead: per-op cost of the gradient of a 200-op elementwise chain (eager, cr.jit, jax.jit).
(b) mlp:      one SGD step of a 784-256-256-10 tanh MLP, float32 and float64, batch 128 and 16.
(c) mixed:    value + gradient of a 64-particle energy (indexing, einsum, linalg.solve, max), float64.
(d) jacobian: Jacobians of R^1000 -> R^4 and R^4 -> R^1000 maps (jacfwd, jacrev, auto) and a
              64x64 Hessian, float64.
(e) train:    training throughput (samples/s) with cr.nn + cr.optim against PyTorch eager: digits
              (64-128-10, Adam) and the 784-256-256-10 step (SGD), float32 and float64.
(f) pinn:     loss + parameter gradient of a Burgers PINN (u_t, u_x, u_xx by nested gradients on
              10,000 points), float64 and float32; page faults per call.
(g) compile:  first-call compile time of cr.jit (and jax.jit) in fresh processes, cold and warm
              disk cache.
(h) laplacian: Laplacian of a tanh MLP (d-128x3-1) at 256 points + gradient of mean(Δu²), d = 2/16/64,
              float64: forward Laplacian (eager, cr.jit), Hessian trace, PyTorch, jax.jit, folx.
(i) jet:      cr.jet of order 4 of a tanh MLP against 4 nested cr.jvp (and JAX's jet, nested jvp).
(j) explain:  cr.explain and its renderers (text, LaTeX, SVG, the page) on graphs of 10^2..10^5
              operations, a chain and a fan-out: seconds and µs per operation.
(k) loops:    cr.scan against the unrolled loop and jax.lax.scan under jit (an RNN and an RK4 integrator,
              1,000 steps, loss + gradient), PyTorch eager's Python loop for reference.
(l) matrix:   issue 16's audit: 3 functions x n in {4, 64, 1024} x 16 transforms (grad, vjp, jvp,
              jacfwd/jacrev, hessian, hvp, vmap, tape, checkpoint, ...), chainrule eager against the
              best eager peer (torch.func, PyTorch eager, JAX eager, HIPS autograd) in each cell.
              Not part of the default run (20-25 minutes on a loaded 2-core VM): run it by
              name, --only matrix.
    jit:      only the compiled rows of (a)-(d), with the floor and the peers they are compared with.

The Targets table at the end says MET or MISSED for each target the results measure.
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
# issue 11 (cr.jit)
TARGET_A_JIT = "jitted chainrule per op at most jax.jit's"
TARGET_B_JIT = "jitted chainrule MLP step at most 1.0x the NumPy floor and at most jax.jit's"
TARGET_C_JIT = "jitted chainrule mixed workload within 1.5x of the NumPy floor"
TARGET_D_JIT = "jitted chainrule 64x64 Hessian at most jax.jit's"
TARGET_F_JIT = "jitted chainrule PINN loss + gradient at most 0.5x PyTorch eager"
TARGET_G_JIT = "compile of (b)'s step with a warm disk cache at most 0.5 s"
# issue 12 (PDE operators)
TARGET_H = "chainrule forward Laplacian + grad at most folx's time, 0.5x PyTorch nested autograd, jax.jit's"

#: ``--only`` choices: a benchmark, or ``jit`` (the compiled rows of (a)-(d) only).
CHOICES = ("overhead", "mlp", "mixed", "jacobian", "train", "pinn", "compile", "laplacian", "jet", "explain",
           "loops", "matrix", "jit")
#: Benchmarks that run only when named in ``--only`` (too long for the default run).
BY_NAME_ONLY = ("matrix",)


def _ratio_target(target, what, ratio, limit, missing="NOT MEASURED (a peer or row is missing)"):
    """A target row ``(target, what, shown value, verdict)``: MET when ``ratio <= limit``."""
    if ratio is None:
        return (target, what, None, missing)
    return (target, what, _harness.fratio(ratio), "MET" if ratio <= limit else "MISSED")


def targets(results):
    """``[(target, what, shown measurement or None, verdict)]`` from the results."""
    out = []
    if "overhead" in results:
        by = {r["name"]: r for r in results["overhead"]["rows"]}
        for name in ("chainrule cr.grad (functional)", "chainrule tape (.backward())"):
            r = by.get(name)
            if r is None:  # --only jit
                continue
            ratio = r.get("ratio_to_torch")
            verdict = "NOT MEASURED (PyTorch not installed)" if ratio is None else (
                "MET" if ratio < 1.0 else "MISSED")
            out.append(("(a) " + TARGET_A, f"{name}: fwd+bwd / PyTorch", _harness.fratio(ratio)
                        if ratio is not None else None, verdict))
        r = by.get("chainrule cr.jit(cr.grad(f))")
        out.append(_ratio_target("(a) " + TARGET_A_JIT, "cr.jit(cr.grad(f)): fwd+bwd / jax.jit",
                                 r and r.get("ratio_to_jax_jit"), 1.0))
    if "mlp" in results:
        for dt in ("float32", "float64"):
            by = {r["name"]: r for r in results["mlp"][dt]["rows"]}
            for name in ("chainrule functional (value_and_grad)", "chainrule tape (.backward())"):
                if name not in by:  # --only jit
                    continue
                ratio = by[name]["ratio_to_floor"]
                out.append(("(b) " + TARGET_B, f"{name}, {dt}: step / floor", _harness.fratio(ratio),
                            "MET" if ratio <= B_LIMIT else "MISSED"))
        for key in ("float32", "float64", "float32_b16", "float64_b16"):
            if key not in results["mlp"]:
                continue
            run = results["mlp"][key]
            r = {x["name"]: x for x in run["rows"]}.get("chainrule cr.jit(value_and_grad + update)")
            label = f"cr.jit step, {run['dtype']} batch {run['batch']}"
            out.append(_ratio_target("(b) " + TARGET_B_JIT, f"{label}: step / floor",
                                     r and r.get("ratio_to_floor"), 1.0))
            out.append(_ratio_target("(b) " + TARGET_B_JIT, f"{label}: step / jax.jit",
                                     r and r.get("ratio_to_jax_jit"), 1.0))
    if "mixed" in results:
        r = {x["name"]: x for x in results["mixed"]["rows"]}.get("chainrule cr.jit(cr.value_and_grad)")
        out.append(_ratio_target("(c) " + TARGET_C_JIT, "cr.jit(cr.value_and_grad): call / floor",
                                 r and r.get("ratio_to_floor"), 1.5))
    if "jacobian" in results:
        r = {x["name"]: x for x in results["jacobian"]["hessian_h"]["rows"]}.get("chainrule cr.jit(cr.hessian)")
        out.append(_ratio_target("(d) " + TARGET_D_JIT, "cr.jit(cr.hessian): call / jax.jit",
                                 r and r.get("ratio_to_jax_jit"), 1.0))
    if "pinn" in results:
        for key, run in results["pinn"].items():
            r = {x["name"]: x for x in run["rows"]}.get("chainrule cr.jit(value_and_grad)")
            import bench_pinn
            out.append(_ratio_target("(f) " + TARGET_F_JIT, f"cr.jit, MLP {bench_pinn.arch(run['sizes'])} "
                                     f"{run.get('dtype', 'float64')}: call / PyTorch",
                                     r and r.get("ratio_to_torch"), 0.5))
    if "compile" in results:
        for r in results["compile"]["rows"]:
            if r["framework"] != "chainrule" or not r["workload"].startswith("mlp"):
                continue
            s = r["warm"]["compile_s"]  # first two calls - two steady calls
            cache = "" if r["cache_files_after_cold"] else " (no disk cache: warm = cold)"
            out.append(("(g) " + TARGET_G_JIT, f"cr.jit step, {r['workload']}: warm compile{cache}",
                        f"{s:.3f} s", "MET" if s <= 0.5 else "MISSED"))
    if "laplacian" in results:
        import bench_laplacian as bl
        for run in results["laplacian"].values():
            by = {x["name"]: x for x in run["rows"]}
            for name in (bl.CR_JIT, bl.CR_EAGER):
                r = by.get(name)
                label = "cr.jit" if name == bl.CR_JIT else "eager"
                for key, peer_name, limit in (("ratio_to_folx", "folx", 1.0), ("ratio_to_torch", "PyTorch", 0.5),
                                              ("ratio_to_jax_jit", "jax.jit", 1.0)):
                    out.append(_ratio_target("(h) " + TARGET_H, f"{label}, d = {run['d']}: call / {peer_name}",
                                             r and r.get(key), limit))
    if "jet" in results:
        r = results["jet"]
        out.append(("(i) cr.jet of order 4 at least 2x faster than 4 nested cr.jvp",
                    f"tanh MLP, {r['n']} points: nested / jet", f"{r['speedup']:.1f}x",
                    "MET" if r["speedup"] >= 2 else "MISSED"))
    if "matrix" in results:
        sm = results["matrix"]["summary"]
        worst = max((a[3] for a in sm["above"]), default=None)
        bound = sm.get("numpy_bound", [])
        verdict = "MET" if sm["met"] else "MISSED"
        if not sm["met"] and len(bound) == len(sm["above"]):
            verdict = "MISSED (NumPy-bound)"  # each such cell: NumPy's own kernels are above 1.2x the peer
        out.append(("(l) no cell of the transform matrix above 1.2x the best eager peer",
                    f"{sm['cells']} cells: {len(sm['above'])} above 1.2x ({len(bound)} bound by NumPy's kernels); the worst",
                    _harness.fratio(worst) if worst is not None else "none", verdict))
    return out


def print_targets(rows):
    print(_harness.banner("Targets"))
    last = None
    w = max(len(what) for _, what, _, _ in rows)
    for target, what, shown, verdict in rows:
        if target != last:
            print(target)
            last = target
        print(f"    {what.ljust(w)}  {shown or _harness.DASH:>8}  {verdict}")


#: The benchmarks that ``--only jit`` trims to their compiled rows.
JIT_PARTS = ("overhead", "mlp", "mixed", "jacobian")


def _selection(only):
    """``--only a,b,...`` as a set of choices (None: everything)."""
    if only is None:
        return None
    picked = {c.strip() for c in only.split(",") if c.strip()}
    bad = picked - set(CHOICES)
    if bad:
        raise SystemExit(f"run.py: --only {', '.join(sorted(bad))}: choose from {', '.join(CHOICES)} "
                         f"(comma-separated)")
    return picked


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer and shorter repeats")
    ap.add_argument("--only", metavar="|".join(CHOICES),
                    help="run only these benchmarks (comma-separated); 'jit': only the compiled rows "
                         "of (a)-(d) with the floor and the peers they are compared with")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = ap.parse_args(argv)
    only = _selection(args.only)

    t0 = time.perf_counter()
    info = _harness.machine_info()
    _harness.print_machine_info(info)
    mode = "quick (smoke run: few, short repeats; numbers are rough)" if args.quick else "full"
    print(f"mode      {mode}")

    def want(name):
        if name in BY_NAME_ONLY:
            return only is not None and name in only
        return only is None or name in only or (name in JIT_PARTS and "jit" in only)

    jit_only = only is not None and "jit" in only
    results = {}
    for name in ("overhead", "mlp", "mixed", "jacobian", "train", "pinn", "compile", "laplacian", "jet", "explain",
                 "loops", "matrix"):
        if not want(name):
            continue
        mod = __import__(f"bench_{name}")
        if name in JIT_PARTS:
            # 'jit' alone trims (a)-(d) to the compiled rows; naming the benchmark too runs all of it
            results[name] = mod.run(quick=args.quick, jit_only=jit_only and name not in only)
        else:
            results[name] = mod.run(quick=args.quick)
        sys.stdout.flush()

    tg = targets(results)
    if tg:  # (e) has no target: --only train prints none
        print_targets(tg)
    elapsed = time.perf_counter() - t0
    print(f"\nTotal time {elapsed:.0f} s.")

    if args.json:
        payload = {"machine": info, "quick": args.quick, "elapsed_s": elapsed, **results,
                   "targets": [{"target": t, "measure": w, "value": r, "verdict": v} for t, w, r, v in tg]}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2, default=str)
        print(f"Results written to {args.json}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
