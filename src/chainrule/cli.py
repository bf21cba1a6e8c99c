"""The ``chainrule`` command.

``chainrule`` alone runs the tour (the seeds' examples, explained step by step);
``chainrule explain "EXPR" x=1 y=2`` explains an expression; ``chainrule train digits``
trains an MLP on scikit-learn's digits.  Each subcommand lives with its feature
(``chainrule.explain.cli``, ``chainrule.nn.train``) and is imported only when used, so
``chainrule --help`` stays fast and an optional extra is needed only by what uses it.
"""
from __future__ import annotations

import argparse
import sys


def version() -> str:
    """The installed distribution's version (``importlib.metadata``), falling back on
    ``chainrule.__version__`` for a source tree on ``sys.path`` with no installed metadata;
    where the two differ (metadata of another copy than the one imported), both are shown."""
    from chainrule import __version__
    try:
        from importlib.metadata import PackageNotFoundError, version as _dist_version
        installed = _dist_version("chainrule")
    except (ImportError, PackageNotFoundError):
        return __version__
    if installed == __version__:
        return installed
    return f"{__version__} (imported); the installed distribution's metadata says {installed}"


def _parser() -> argparse.ArgumentParser:
    from chainrule.explain import cli as explain_cli
    from chainrule.nn import train as train_cli
    from chainrule.pinn import cli as pinn_cli

    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Exact derivatives of numerical Python code, and how they were found. "
                    "With no command: a tour of three worked examples, explained step by step "
                    "(and an interactive page).")
    parser.add_argument("--version", action="version", version=f"chainrule {version()}")
    explain_cli.add_tour_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    explain_cli.add_explain_command(sub)
    train_cli.add_train_command(sub)
    pinn_cli.add_pinn_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``chainrule`` command; returns the exit status."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) > 1 and argv[0] == "explain" and argv[1].startswith("-") and argv[1] not in (
            "-h", "--help", "--html", "--latex", "--") and not argv[1].startswith("--html="):
        argv.insert(1, "--")  # an expression such as "-x**2" is not an option
    args = parser.parse_args(argv)
    args.argv = argv  # for a command that relaunches itself (train digits --workers N under mpiexec)
    handler = getattr(args, "handler", None)
    if handler is None:
        from chainrule.explain import cli as explain_cli
        handler = explain_cli.run_tour
    try:
        return handler(args)
    except BrokenPipeError:  # `chainrule explain ... | head`: the reader left; no traceback
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # python -m chainrule.cli
    sys.exit(main())
