import math
import urllib.error
import urllib.request

import pytest

from timelapse_d.executors import EXECUTORS
from timelapse_d.net.serve import LocalFileServer


def test_local_file_server_serves_on_loopback_and_stops(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with LocalFileServer(tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert urllib.request.urlopen(f"{server.url}/a.txt", timeout=5).read() == b"hello"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{server.url}/missing.txt", timeout=5)
        url = server.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/a.txt", timeout=5)


@pytest.mark.parametrize("name, workers", [("local", 1), ("local", 2), ("ray", 2)])
def test_executors_return_every_result_once(name, workers):
    with EXECUTORS.get(name)(workers=workers) as executor:
        results = list(executor.map_unordered(math.factorial, range(25)))  # importable by every worker
    assert sorted(results) == [math.factorial(x) for x in range(25)]


def test_unknown_executor_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown executor 'slurm'; known: local, ray"):
        EXECUTORS.get("slurm")


def test_local_ray_instance_uses_loopback_only():
    with EXECUTORS.get("ray")(workers=1) as executor:
        import ray

        assert list(executor.map_unordered(math.factorial, [3])) == [6]
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
