"""``acai-repro``: run notebooks, sweep parameters, list parameters, build the book.

    acai-repro run lines_benchmark --profile smoke -p seed 1
    acai-repro sweep lines_benchmark --profile smoke -g seed 0,1,2 --jobs 2
    acai-repro sweep lines_benchmark --profile smoke -g seed 0,1,2 --cluster local:2
    acai-repro params lines_benchmark
    acai-repro book
    acai-repro gpu plan | gpu run --budget-s 480 --out DIR [--dry-run] | gpu unpack DIR

Bad parameters exit with status 2 and a message naming the parameter and its valid values, before any kernel
starts.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .gpu.errors import UnpackError, WindowError
from .runner import ParameterError, RunFailed, RunLockedError, get_schema, run_notebook, sweep
from .runner.schema import PROFILES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acai-repro", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add_run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("notebook", help="notebook name (notebooks/NAME.ipynb)")
        p.add_argument("--profile", default="quick", choices=PROFILES)
        p.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
        p.add_argument("--results", type=Path, default=None, help="results root (default: <checkout>/results)")
        p.add_argument("--reuse-finished", action="store_true",
                       help="skip runs that already finished (default: execute again, resuming from checkpoints)")

    run = sub.add_parser("run", help="execute one run")
    add_run_options(run)
    sw = sub.add_parser("sweep", help="execute a grid of runs in a local process pool or on a Dask cluster")
    add_run_options(sw)
    sw.add_argument("-g", "--grid", nargs=2, action="append", default=[], metavar=("NAME", "V1,V2,..."))
    sw.add_argument("--jobs", type=int, default=None, help="runs at once in the local process pool (default 1)")
    sw.add_argument("--cluster", default=None, metavar="SPEC",
                    help="run on Dask instead, one task per run: local:N (N worker processes here), tcp://HOST:PORT "
                         "(a running scheduler) or slurm:N[,KEY=VALUE...] (dask-jobqueue); see book/runs.md")
    sw.add_argument("--gpu", action="store_true",
                    help="with --cluster: every run asks for a worker with the resource GPU (-p device cuda does too)")
    sw.add_argument("--retries", type=int, default=None, metavar="N",
                    help="with --cluster: submit a run that raised again, up to N times (default 1)")
    params = sub.add_parser("params", help="list a notebook's parameters and their valid values")
    params.add_argument("notebook")
    book = sub.add_parser("book", help="build the book (paper results where committed, else the quick profile)")
    book.add_argument("--profile", default="quick", choices=PROFILES, help="profile to run where no paper run exists")
    results = sub.add_parser("results", help="tables of the runs' metrics beside the papers' values")
    results.add_argument("--results", type=Path, default=None, help="results root (default: <checkout>/results)")
    results.add_argument("--readme", action="store_true", help="rewrite the README's result tables from results/")
    results.add_argument("--claims", action="store_true",
                         help="the reproduction scoreboard: each paper's claims, judged from the runs")
    results.add_argument("--check", action="store_true",
                         help="exit 1 when the README's tables are stale or a committed run's code changed since")
    from .bench import add_arguments as add_bench_arguments
    add_bench_arguments(sub.add_parser("bench", help="images/s of ACAI training: the project's paths vs a plain loop"))
    from .gpu.command import add_arguments as add_gpu_arguments
    add_gpu_arguments(sub.add_parser("gpu", help="a GPU window: plan it, run it (or rehearse it), unpack its runs"))
    return parser


def _main(args: argparse.Namespace) -> int:
    if args.command == "bench":
        from .bench import main_args as bench_main
        return bench_main(args)
    if args.command == "gpu":
        from .gpu.command import main_args as gpu_main
        return gpu_main(args)
    if args.command == "params":
        schema = get_schema(args.notebook)
        for name, p in schema.params.items():
            print(f"{name:<16} {p.describe():<40} default {p.default!r:<12} {p.help}")
        return 0
    if args.command == "results":
        return _results(args)
    if args.command == "book":
        from .book import build_book
        print(build_book(profile_fallback=args.profile))
        return 0
    schema = get_schema(args.notebook)
    overrides = schema.parse(args.param)
    if args.command == "run":
        print(run_notebook(args.notebook, args.profile, overrides, args.results, progress=True,
                           reuse_finished=args.reuse_finished))
        return 0
    grid = {name: [schema.parse([(name, v)])[name] for v in values.split(",")] for name, values in args.grid}
    if args.cluster is not None and args.jobs is not None:
        raise ParameterError("--jobs sizes the local process pool; with --cluster the workers set how many runs go "
                             "at once (local:N for N)")
    failed = 0
    for combo, outcome in sweep(args.notebook, args.profile, grid, overrides, args.jobs or 1, args.results,
                                args.reuse_finished, cluster=args.cluster, gpu=args.gpu, retries=args.retries):
        failed += isinstance(outcome, Exception)
        print(f"{combo}: {'FAILED ' if isinstance(outcome, Exception) else ''}{outcome}")
    return 1 if failed else 0


def _results(args: argparse.Namespace) -> int:
    from .results import render_readme, stale_runs, tables
    from .runner.registry import repo_root

    readme = repo_root() / "README.md"
    if args.readme:
        readme.write_text(render_readme(readme.read_text(), args.results))
        print(f"rewrote the result tables of {readme}")
        return 0
    if args.check:
        problems = [f"{readme}: result tables are stale; run `acai-repro results --readme`"] if (
            render_readme(readme.read_text(), args.results) != readme.read_text()) else []
        problems += [f"{path}: {reason}" for path, reason in stale_runs(args.results)]
        print("\n".join(problems) or "README tables and committed runs are current")
        return 1 if problems else 0
    if args.claims:
        from .scoreboard import markdown, scoreboard
        print(markdown(scoreboard(args.results)))
        return 0
    for profile in PROFILES:
        for table in tables(profile, args.results):
            print(f"## {table.notebook} ({profile})\n\n{table.markdown(per_row_commands=True)}")
    return 0


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler's or ``kill``'s stop) unwinds like Ctrl-C, so the kernel is shut down and locks released."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()  # signal handlers live in the main thread
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("acai-repro: interrupted; run the same command again to resume from the last checkpoint",
              file=sys.stderr)
        return 130
    except (ParameterError, RunLockedError, WindowError, UnpackError) as err:
        print(f"acai-repro: error: {err}", file=sys.stderr)
        return 2
    except RunFailed as err:
        print(f"acai-repro: run failed: {err}", file=sys.stderr)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
