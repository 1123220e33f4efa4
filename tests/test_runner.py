"""The runner: parameter validation, profiles, run ids, the lock, the CLI's errors, a real smoke run and sweep."""
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import papermill
import pytest

from acai_repro.cli import main
from acai_repro.runner import CHAPTERS, ParameterError, RunLockedError, get_schema, resolve, run_id, run_notebook
from acai_repro.runner.execute import expand_grid, sweep
from acai_repro.runner.registry import notebook_path
from acai_repro.runner.runs import acquire, command_for, read_metrics
from acai_repro.runner.schema import Param, Schema

REPO = Path(__file__).resolve().parents[1]
SCHEMA = get_schema("lines_benchmark")


@pytest.mark.parametrize("values, message", [
    ({"colour": 1}, "unknown parameter 'colour' for notebook 'lines_benchmark'; valid parameters: "),
    ({"seed": "1"}, "parameter 'seed' must be int in [0, 2147483647]; got '1' (str)"),
    ({"seed": True}, "parameter 'seed' must be int"),
    ({"seed": 1.5}, "parameter 'seed' must be int"),
    ({"seed": -1}, "parameter 'seed' must be int in [0, 2147483647]; got -1"),
    ({"steps": 2}, "parameter 'steps' must be int in [3, 64]; got 2"),
    ({"device": "tpu"}, "parameter 'device' must be one of: auto, cpu, cuda, mps; got 'tpu'"),
    ({"profile": "huge"}, "parameter 'profile' must be one of: smoke, quick, paper"),
    ({"start_angle": float("nan")}, "parameter 'start_angle' must be a finite float"),
])
def test_bad_values_name_the_parameter_and_the_choices(values, message):
    with pytest.raises(ParameterError) as err:
        SCHEMA.validate(values)
    assert message in str(err.value)


def test_valid_values_are_accepted_and_ints_widen_to_floats():
    params = SCHEMA.validate({"start_angle": 1, "seed": 3})
    assert params["start_angle"] == 1.0 and isinstance(params["start_angle"], float)
    assert params["seed"] == 3 and params["steps"] == SCHEMA.defaults["steps"]


def test_command_line_strings_are_parsed_by_type():
    assert SCHEMA.parse([("seed", "4"), ("start_angle", "1e-1"), ("device", "cpu")]) == {
        "seed": 4, "start_angle": 0.1, "device": "cpu"}
    with pytest.raises(ParameterError, match="parameter 'seed' must be int .*got 'four'"):
        SCHEMA.parse([("seed", "four")])


@pytest.mark.parametrize("name", CHAPTERS)
def test_parameters_cell_holds_the_quick_values_and_profiles_validate(name):
    schema = get_schema(name)
    cell = papermill.inspect_notebook(str(notebook_path(name)))
    assert set(cell) == set(schema.params), "parameters cell and schema list different names"
    for pname, spec in cell.items():
        assert ast.literal_eval(spec["default"]) == schema.defaults[pname], pname
    for profile in ("smoke", "quick", "paper"):
        assert resolve(name, profile)["profile"] == profile


def test_unknown_notebook_and_profile_errors():
    with pytest.raises(ParameterError, match="unknown notebook 'nope'; valid notebooks: .*lines_benchmark"):
        resolve("nope")
    with pytest.raises(ParameterError, match="unknown profile 'fast'; valid profiles: smoke, quick, paper"):
        resolve("lines_benchmark", "fast")
    with pytest.raises(ParameterError, match="set by --profile"):
        resolve("lines_benchmark", "smoke", {"profile": "paper"})


def test_run_id_is_stable_readable_and_parameter_derived():
    params = resolve("lines_benchmark", "quick")
    rid = run_id("lines_benchmark", params)
    # Pinned: a change here orphans every existing run folder.
    assert rid == "defaults-" + rid.split("-")[-1] and len(rid.split("-")[-1]) == 10
    code = "from acai_repro.runner import resolve, run_id; print(run_id('lines_benchmark', resolve('lines_benchmark')))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == rid
    seeded = run_id("lines_benchmark", resolve("lines_benchmark", "quick", {"seed": 7}))
    assert seeded.startswith("seed=7-") and seeded != rid
    assert run_id("lines_benchmark", {**params, "run_dir": "/elsewhere"}) == rid


def test_a_parameter_added_later_keeps_the_ids_and_records_of_earlier_runs(tmp_path, monkeypatch):
    """A parameter added after runs exist: at its default it leaves their run-ids as they were (pinned: a committed
    folder), and a record written before it existed reads as run at that default."""
    from acai_repro.acai import params as acai_params

    params = resolve("acai_lines", "quick")
    assert run_id("acai_lines", params) == "defaults-c1de5116af"  # results/quick/acai_lines/defaults-c1de5116af
    later = Schema("acai_lines", {**acai_params.ACAI_LINES.own,
                                  "warmup": Param(int, 0, "a parameter added later", low=0, high=10, added_later=True)})
    monkeypatch.setattr(acai_params, "ACAI_LINES", later)
    assert get_schema("acai_lines").added_later == {"warmup": 0}
    assert run_id("acai_lines", {**params, "warmup": 0}) == "defaults-c1de5116af"
    changed = run_id("acai_lines", {**params, "warmup": 3})
    assert changed.startswith("warmup=3-") and changed.split("-")[-1] != "c1de5116af"
    old = json.loads((REPO / "results/quick/acai_lines/defaults-c1de5116af/metrics.json").read_text())
    (tmp_path / "metrics.json").write_text(json.dumps(old))
    assert read_metrics(tmp_path / "metrics.json")["parameters"]["warmup"] == 0
    (tmp_path / "metrics.json").write_text(json.dumps({**old, "notebook": "retired_notebook"}))
    assert "warmup" not in read_metrics(tmp_path / "metrics.json")["parameters"]  # unknown: as written


def test_run_dir_is_honoured_by_a_run_and_refused_by_a_sweep(tmp_path, monkeypatch):
    """``-p run_dir DIR`` writes the run there (the papermill parameters say so); a sweep of several runs refuses
    one folder for all of them, before any kernel starts."""
    seen = {}

    def fake_execute(source, output, parameters, **kwargs):
        seen.update(parameters)
        Path(output).write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    target = tmp_path / "mine"
    assert run_notebook("lines_benchmark", "smoke", {"run_dir": str(target)}, results_root=tmp_path) == target
    assert seen["run_dir"] == str(target) and (target / "lines_benchmark.ipynb").is_file()
    with pytest.raises(ParameterError, match="drop run_dir.*--results"):
        sweep("lines_benchmark", "smoke", {"seed": [0, 1]}, {"run_dir": str(target)}, results_root=tmp_path)


def test_command_reproduces_the_parameters():
    params = resolve("lines_benchmark", "smoke", {"seed": 2})
    assert command_for("lines_benchmark", params) == "acai-repro run lines_benchmark --profile smoke -p seed 2"


def test_lock_refuses_a_second_writer_and_dies_with_its_holder(tmp_path):
    lock = acquire(tmp_path)
    with pytest.raises(RunLockedError, match="another process is writing the run"):
        acquire(tmp_path)
    lock.release()
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pathlib import Path; from acai_repro.runner.runs import acquire;"
                               f"held = acquire(Path({str(tmp_path)!r})); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLockedError):
        acquire(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    acquire(tmp_path).release()  # a killed holder leaves no stale lock


def test_cli_rejects_bad_parameters_before_any_kernel_starts(tmp_path, capsys):
    start = time.time()
    code = main(["run", "lines_benchmark", "--results", str(tmp_path), "-p", "n_pairs", "999"])
    assert code == 2 and time.time() - start < 5
    assert "parameter 'n_pairs' must be int in [1, 256]; got 999" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    assert main(["run", "lines_benchmark", "--results", str(tmp_path), "-p", "colour", "red"]) == 2
    assert "valid parameters:" in capsys.readouterr().err


def test_sweep_validates_every_combination_first(tmp_path):
    assert expand_grid({"seed": [0, 1], "steps": [8]}) == [{"seed": 0, "steps": 8}, {"seed": 1, "steps": 8}]
    union = expand_grid([{"seed": [0, 1]}, {"seed": [1, 2]}])
    assert union == [{"seed": 0}, {"seed": 1}, {"seed": 2}]  # a list of grids is their union, repeats dropped
    with pytest.raises(ParameterError, match="parameter 'steps' must be int in \\[3, 64\\]; got 1"):
        sweep("lines_benchmark", "smoke", {"seed": [0, 1], "steps": [8, 1]}, results_root=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_smoke_run_and_sweep_write_their_results(tmp_path):
    outcomes = sweep("lines_benchmark", "smoke", {"seed": [0, 1]}, jobs=2, results_root=tmp_path)
    assert [c for c, _ in outcomes] == [{"seed": 0}, {"seed": 1}]
    dirs = [o for _, o in outcomes]
    assert all(not isinstance(d, Exception) for d in dirs), dirs
    assert dirs[0] != dirs[1]
    for seed, run in zip((0, 1), dirs):
        assert run.parent == tmp_path / "smoke" / "lines_benchmark"
        record = read_metrics(run / "metrics.json")
        assert record["parameters"]["seed"] == seed and record["profile"] == "smoke"
        assert record["command"].startswith("acai-repro run lines_benchmark --profile smoke")
        assert set(record["paper"]) <= set(record["metrics"]) and record["metrics"]
        assert (run / "lines_benchmark.ipynb").is_file() and not list(run.glob(".*.partial.ipynb"))
        assert record["wall_time_s"] > 0 and record["torch_version"]
    # Same parameters -> same folder; executed again it replaces the notebook atomically, and clears what killed
    # writes and an earlier failure left behind.
    (dirs[0] / ".metrics.json.x1.tmp").write_text("torn")
    (dirs[0] / "lines_benchmark.failed.ipynb").write_text("{}")
    assert run_notebook("lines_benchmark", "smoke", {"seed": 0}, results_root=tmp_path) == dirs[0]
    assert not list(dirs[0].glob(".*.tmp")) and not (dirs[0] / "lines_benchmark.failed.ipynb").exists()
    assert json.loads((dirs[0] / "metrics.json").read_text())["parameters"]["seed"] == 0


def test_kernels_talk_over_their_own_unix_sockets_and_clean_them_up():
    """Runs started together must not share TCP ports (acai_repro.runner.kernels): two kernels started at once
    each answer on sockets in a folder of their own, which shutdown removes."""
    from concurrent.futures import ThreadPoolExecutor

    from acai_repro.runner.kernels import SyncUnixSocketKernelManager

    def start_and_ask():
        km = SyncUnixSocketKernelManager(kernel_name="python3")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            reply = kc.execute_interactive("import os; print(os.getpid())", timeout=60,
                                           output_hook=lambda msg: answers.append((km, msg)))
            assert reply["content"]["status"] == "ok"
            return km, km.get_connection_info()
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    answers = []
    with ThreadPoolExecutor(2) as pool:
        started = list(pool.map(lambda _: start_and_ask(), range(2)))
    infos = [info for _, info in started]
    assert [info["transport"] for info in infos] == ["ipc", "ipc"]
    assert infos[0]["ip"] != infos[1]["ip"]
    pids = {km: int(msg["content"]["text"]) for km, msg in answers if msg["msg_type"] == "stream"}
    assert len(set(pids.values())) == 2  # each client heard its own kernel
    for km, _ in started:
        assert not os.path.exists(km.socket_dir)


def test_a_client_waiting_without_deadline_survives_a_missed_wake_up(monkeypatch):
    """A socket whose wake-up was missed: ``poll(None)`` never returns although a message is there (what left
    papermill runs asleep forever); only a poll with a deadline, which asks zmq directly, sees it.
    BoundedPollChannel (what papermill's clients read through) gets the message; the plain channel hangs."""
    import asyncio

    from jupyter_client.channels import AsyncZMQSocketChannel

    from acai_repro.runner import kernels
    from acai_repro.runner.kernels import BoundedPollChannel, UnixSocketKernelManager

    class MissedWakeUp:
        async def poll(self, timeout_ms):
            if timeout_ms is None:
                await asyncio.Event().wait()  # the edge never comes
            return 1  # zmq_poll: a message is ready

    async def receive():
        return {"msg_type": "execute_reply"}

    monkeypatch.setattr(kernels, "WAKE_SECONDS", 0.05)

    def channel(cls):
        ch = cls.__new__(cls)  # no real socket: only get_msg's poll and receive are exercised
        ch.socket, ch._recv = MissedWakeUp(), receive
        return ch

    async def wait(cls):
        return await asyncio.wait_for(channel(cls).get_msg(timeout=None), timeout=2)

    assert asyncio.run(wait(BoundedPollChannel)) == {"msg_type": "execute_reply"}
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(wait(AsyncZMQSocketChannel))
    km = UnixSocketKernelManager(kernel_name="python3")
    km.client_class = "jupyter_client.asynchronous.AsyncKernelClient"  # as nbclient sets it
    kc = km.client()
    assert kc.shell_channel_class is BoundedPollChannel and kc.iopub_channel_class is BoundedPollChannel
    km.cleanup_connection_file()
    shutil.rmtree(km.socket_dir, ignore_errors=True)
