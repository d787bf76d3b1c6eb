"""The whole pipeline on Ray: every stage of pipelines/demo.toml (synthetic discovery, download, split,
auto-label, precompute into shards), scaled down, run on a local Ray instance (``--executor ray``)
and on a running cluster (``ray start --head`` on 127.0.0.1, ``--ray-address``), ends with the local
executor's manifests (timestamps apart) and byte-identical shards (``precomputed_run``, conftest)."""
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from conftest import manifest_snapshot, write_precompute_pipeline

from timelapse_d.cli import main
from timelapse_d.executors.ray_executor import LOOPBACK_VARIABLE
from timelapse_d.executors.reaper import RUN_MARK, marked
from timelapse_d.pipeline import Pipeline
from timelapse_d.stages.precompute import SPLITS_FILE

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "demo.toml"


def _outputs(work: Path) -> dict[str, str]:
    """sha256 of every shard and of the splits file, by path in WORK."""
    paths = sorted((work / "shards").glob("*.tar")) + [work / SPLITS_FILE]
    return {str(path.relative_to(work)): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def _assert_same_as_local(work: Path, local: Path) -> None:
    assert manifest_snapshot(work) == manifest_snapshot(local)
    outputs = _outputs(work)
    assert outputs == _outputs(local)
    shards = [name for name in outputs if name.startswith("shards/")]
    assert any("/train-" in name for name in shards) and any("/test-" in name for name in shards), shards


def test_the_test_pipeline_runs_every_stage_of_the_demo(tmp_path):
    assert (Pipeline.load(write_precompute_pipeline(tmp_path)).stage_names()
            == Pipeline.load(DEMO).stage_names() == ["discover", "download", "split", "auto-label", "precompute"])


def test_a_local_ray_instance_gives_the_local_manifests_and_shards(precomputed_run, tmp_path):
    loopback_setting = os.environ.get(LOOPBACK_VARIABLE)
    work = tmp_path / "work"
    assert main(["run", str(write_precompute_pipeline(tmp_path)), "--work", str(work), "--executor", "ray",
                 "--workers", "2", "--no-progress"]) == 0
    _assert_same_as_local(work, precomputed_run)
    stats = json.loads((work / "stats" / "precompute.json").read_text())
    assert (stats["executor"], stats["workers"], stats["address"]) == ("ray", 2, "local")
    assert os.environ.get(LOOPBACK_VARIABLE) == loopback_setting  # the loopback setting ended with the run


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def test_an_address_where_no_cluster_answers_fails_at_once(tmp_path, capsys):
    (port,) = _free_ports(1)
    started = time.monotonic()
    assert main(["run", str(write_precompute_pipeline(tmp_path)), "--work", str(tmp_path / "work"), "--executor", "ray",
                 "--ray-address", f"127.0.0.1:{port}", "--no-progress"]) == 2
    assert time.monotonic() - started < 10  # not Ray's minutes of retries
    assert f"no Ray cluster answers at --ray-address 127.0.0.1:{port}" in capsys.readouterr().err


@contextlib.contextmanager
def ray_head(env: dict[str, str], num_cpus: int = 2):
    """A one-node Ray cluster as a head node starts it, kept on 127.0.0.1: ``ray start --head --block``
    with its own temp dir and ports, so it meets no other Ray instance of this machine. Yields
    (address, its session's log folder, the mark its processes carry). Stopped with SIGTERM to that
    command (never ``ray stop``, which stops every Ray process of the machine); if pytest itself is
    killed, the executors' reaper kills the processes carrying the mark."""
    mark = f"ray-head-{uuid.uuid4().hex}"
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    port, agent_port, dashboard_port = _free_ports(3)
    reaper = subprocess.Popen([sys.executable, "-m", "timelapse_d.executors.reaper", str(os.getpid()), mark],
                              stdin=subprocess.DEVNULL, start_new_session=True)
    log = (temp_dir / "head.log").open("wb")
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--num-cpus", str(num_cpus), "--include-dashboard", "false",
         "--dashboard-port", str(dashboard_port), "--dashboard-agent-listen-port", str(agent_port),
         "--temp-dir", str(temp_dir), "--disable-usage-stats"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env={**env, RUN_MARK: mark, LOOPBACK_VARIABLE: "0", "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        address_file, deadline = temp_dir / "ray_current_cluster", time.monotonic() + 60
        while not address_file.exists() and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert address_file.exists(), f"ray start did not come up: {(temp_dir / 'head.log').read_text()[-3000:]}"
        assert address_file.read_text().strip() == f"127.0.0.1:{port}"
        yield f"127.0.0.1:{port}", temp_dir / "session_latest" / "logs", mark
    finally:
        head.send_signal(signal.SIGTERM)  # the node drains, then stops the processes it started
        try:
            head.wait(timeout=60)
        finally:
            deadline = time.monotonic() + 10
            while marked(mark) and time.monotonic() < deadline:  # workers end just after their raylet
                time.sleep(0.1)
            for pid in marked(mark):
                os.kill(pid, signal.SIGKILL)
            reaper.kill()
            reaper.wait()
            log.close()
            shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_cluster_on_loopback_gives_the_local_manifests_and_shards(precomputed_run, tmp_path):
    # token authentication, as on a cluster that others can reach: the head and the driver share the token
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    work = tmp_path / "work"
    with ray_head(env) as (address, logs, mark):
        driver = subprocess.Popen(
            [sys.executable, "-m", "timelapse_d.cli", "run", str(write_precompute_pipeline(tmp_path)), "--work",
             str(work), "--executor", "ray", "--workers", "2", "--ray-address", address, "--no-progress"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = driver.communicate(timeout=120)  # about 10 s here
        except subprocess.TimeoutExpired:
            driver.kill()
            raise AssertionError(f"the run did not end in 120 s: {driver.communicate()[1][-5000:]}") from None
        assert driver.returncode == 0, stderr[-5000:]
        # the driver ran as a job of that cluster (its core log is in the cluster's session), on no instance of its own
        assert list(logs.glob(f"python-core-driver-*_{driver.pid}.log")), sorted(path.name for path in logs.iterdir())
        assert "Started a local Ray instance" not in stderr
    assert not marked(mark), "processes of the stopped cluster are still running"

    _assert_same_as_local(work, precomputed_run)
    for stage in ("discover", "download", "split", "auto-label", "precompute"):
        stats = json.loads((work / "stats" / f"{stage}.json").read_text())
        assert (stats["executor"], stats["address"]) == ("ray", address), stage
