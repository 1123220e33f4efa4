"""``acai-repro gpu plan | run | unpack``: the command line of a GPU window.

    acai-repro gpu plan                                    # what the next window would run, with estimates
    acai-repro gpu run --dry-run --out /tmp/window         # the whole window rehearsed on a CPU at smoke size
    python3 -m acai_repro.cli gpu run --budget-s 480 --out $OUT   # on the GPU machine (carry .gpu/carry)
    acai-repro gpu unpack DIR                              # back here: runs into results/, records into benchmarks/

Bad options exit with status 2 and a message before any work starts.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from acai_repro.gpu.graphs import PRECISIONS


ONLY_HELP = ("comma-separated texts: keep the items whose group or label holds one of them, in the plan's order "
             "(e.g. 'seed=0 model=acai' or 'Table 1')")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="gpu_command", required=True)
    plan = sub.add_parser("plan", help="print what the next GPU window would run, in order of value, with estimates")
    plan.add_argument("--budget-s", type=float, default=None, help="seconds `gpu run` may use (default 480)")
    plan.add_argument("--jobs", type=int, default=1, help="runs at once assumed (default 1)")
    plan.add_argument("--benchmarks", type=Path, default=None, help="folder of measured speeds (default benchmarks/)")
    plan.add_argument("--dry-run", action="store_true", help="the rehearsal's plan instead")
    plan.add_argument("--only", default="", help=ONLY_HELP)
    run = sub.add_parser("run", help="bench, train the items that fit the budget, pack them (the window's command)")
    run.add_argument("--out", type=Path, required=True, help="empty folder for the files that come back ($OUT)")
    run.add_argument("--budget-s", type=float, default=None, help="seconds this command may use, packing included "
                     "(default 480; keep it below the device call's timeout)")
    run.add_argument("--dry-run", action="store_true", help="rehearse on the CPU: smoke sizes, a temporary results "
                     "folder, the same steps")
    run.add_argument("--jobs", type=int, default=None,
                     help="runs at once (default: what the bench measured to pay; 2 in a dry run)")
    run.add_argument("--results", type=Path, default=None,
                     help="where runs are trained (default .gpu/results; dry run: a temporary folder)")
    run.add_argument("--carry", type=Path, default=None, help="the carried folder (default .gpu/carry)")
    run.add_argument("--precision", default="default", choices=PRECISIONS,
                     help="default: torch's flags; fp32: TF32 off; tf32: on; bf16: autocast (measure first)")
    run.add_argument("--no-bench", action="store_true", help="skip the bench (estimates from benchmarks/)")
    run.add_argument("--no-verify", action="store_true", help="do not compare each captured step with eager once")
    run.add_argument("--mps", action="store_true", help="start the CUDA MPS daemon so that runs at once overlap")
    run.add_argument("--benchmarks", type=Path, default=None, help="folder of measured speeds (default benchmarks/)")
    run.add_argument("--only", default="", help=ONLY_HELP)
    run.add_argument("--continue-later", action="store_true",
                     help="also start runs that cannot finish in this call; a later call on the same warm machine "
                          "(same --results) resumes them from their checkpoints")
    unpack = sub.add_parser("unpack", help="place a window's runs under results/ and its records under benchmarks/")
    unpack.add_argument("dirs", type=Path, nargs="+", help="folder(s) holding window.json and runs-NNN.bin")
    unpack.add_argument("--results", type=Path, default=None, help="results root (default: <checkout>/results)")
    unpack.add_argument("--benchmarks", type=Path, default=None, help="where the window's records go")
    unpack.add_argument("--force", action="store_true", help="replace runs that finished here already")


def main_args(args: argparse.Namespace) -> int:
    from acai_repro.gpu import plan as planning
    from acai_repro.gpu.errors import WindowError

    budget = planning.DEFAULT_BUDGET_S if getattr(args, "budget_s", None) is None else args.budget_s
    if getattr(args, "jobs", None) is not None and args.jobs < 1:
        raise WindowError(f"--jobs must be at least 1, got {args.jobs}")
    if budget <= 0 or budget > planning.COMMAND_S:
        raise WindowError(f"--budget-s must be in (0, {planning.COMMAND_S}] (one command's limit), got {budget}")
    if args.gpu_command == "plan":
        return _plan(args, budget)
    if args.gpu_command == "run":
        from acai_repro.gpu.window import Window, run_window

        manifest = run_window(Window(out=args.out, budget_s=budget, dry_run=args.dry_run, jobs=args.jobs,
                                     results=args.results, precision=args.precision, verify=not args.no_verify,
                                     bench=not args.no_bench, carry=args.carry, benchmarks=args.benchmarks,
                                     mps=args.mps, only=_only(args.only), continue_later=args.continue_later,
                                     log=lambda m: print(m, flush=True)))
        return 0 if manifest["blobs"] or not any(e["status"].startswith("failed") for e in manifest["items"]) else 1
    return _unpack(args)


def _plan(args: argparse.Namespace, budget: float) -> int:
    from acai_repro.gpu import plan as planning
    from acai_repro.runner.registry import repo_root

    benchmarks = args.benchmarks or repo_root() / "benchmarks"
    slowdown, note = planning.parallel_slowdown(benchmarks, args.jobs)
    rows = planning.schedule(planning.plan_items(args.dry_run, _only(args.only)), budget_s=budget, jobs=args.jobs,
                             known=planning.known_speeds(benchmarks), slowdown=slowdown, dry_run=args.dry_run)
    print(planning.format_plan(rows, budget_s=budget, jobs=args.jobs, slowdown_note=note))
    carried = repo_root() / ".gpu" / "carry"
    parts = sorted(p.name for p in carried.iterdir()) if carried.is_dir() else []
    print(f"Carried folder {carried}: " + (", ".join(parts) if parts else "missing; run `make gpu-carry`") +
          ("" if "celeba64.npz" in parts else " (without celeba64.npz the GAIA run is skipped)"))
    return 0


def _only(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def write_records(manifest: dict, benchmarks: Path) -> list[Path]:
    """A window's record (what each item measured) and its bench report, as files of ``benchmarks``."""
    benchmarks.mkdir(parents=True, exist_ok=True)
    stamp = manifest["date"].replace(":", "-")
    record = {k: v for k, v in manifest.items() if k not in ("parts", "blobs", "bench")}
    record["items"] = [{k: v for k, v in e.items() if k != "log_tail"} for e in manifest["items"]]
    written = [benchmarks / f"gpu-window-{manifest['device']}-{stamp}.json"]
    written[0].write_text(json.dumps(record, indent=1) + "\n")
    bench = manifest.get("bench")
    if bench and "results" in bench:
        written.append(benchmarks / f"bench-{bench['device']}-{stamp}-window.json")
        written[-1].write_text(json.dumps(bench, indent=1) + "\n")
    return written


def _unpack(args: argparse.Namespace) -> int:
    from acai_repro.gpu.pack import unpack
    from acai_repro.runner.registry import repo_root

    results = args.results or repo_root() / "results"
    for folder in args.dirs:
        if not (folder / "window.json").is_file():
            from acai_repro.gpu.errors import WindowError

            raise WindowError(f"{folder} holds no window.json: give the folder the window's files came back to")
    for folder in args.dirs:
        manifest = json.loads((folder / "window.json").read_text())
        placed = unpack(folder, results, force=args.force)
        commands = {e["relpath"]: e["command"] for e in manifest["items"]}
        for blob, where in placed:
            if isinstance(where, Path):
                print(f"{where}\n  render it: {commands.get(blob['relpath'], '?')}")
            else:
                print(f"{blob['relpath']}: {where}")
        if manifest["dry_run"] and args.benchmarks is None:
            print("a dry run: no record written to benchmarks/ (give --benchmarks to write one)")
        else:
            for path in write_records(manifest, args.benchmarks or repo_root() / "benchmarks"):
                print(f"wrote {path}")
        print(f"{folder}: {len([w for _, w in placed if isinstance(w, Path)])} run(s) placed under {results} "
              f"({dt.datetime.now():%H:%M})")
    return 0
