"""A local Label Studio server: its own virtual environment, start / stop, and its credentials.

The server does not run in the project's environment (``label-studio`` pins its own SDK and an
OpenCV wheel of its own), so it gets a virtual environment of its own, created on first use in
``~/.cache/timelapse-d/label-studio-<version>/`` (``TIMELAPSE_D_LABEL_STUDIO_VENV`` overrides the
place) and reused after that. Everything the server keeps lives under ``WORK/label-studio/``:

    data/               its database and uploads (LABEL_STUDIO_BASE_DATA_DIR)
    server.json         url, port, pid of the running server
    settings.json       the port, kept across restarts so that links to tasks keep working
    credentials.json    admin e-mail, password, API token, Django secret (mode 0600; never copied
                        into manifests, stats, logs or releases)
    server.log          the server's output

Use (needs the server's environment, installed on first use)::

    info = start_server("work/demo")    # info["url"] == "http://127.0.0.1:41231", say
    stop_server("work/demo")
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from timelapse_d.atomic import atomic_path, write_json_atomic
from timelapse_d.labelling.client import LabelStudioClient, LabelStudioError

LABEL_STUDIO_VERSION = "1.23.2"
VENV_ENV = "TIMELAPSE_D_LABEL_STUDIO_VENV"
ADMIN_EMAIL = "admin@example.com"
_COMPLETE_MARKER = ".timelapse-d-complete"
log = logging.getLogger(__name__)


def server_dir(work: str | Path) -> Path:
    return Path(work) / "label-studio"


def credentials_path(work: str | Path) -> Path:
    return server_dir(work) / "credentials.json"


def server_record_path(work: str | Path) -> Path:
    return server_dir(work) / "server.json"


def settings_path(work: str | Path) -> Path:
    return server_dir(work) / "settings.json"


# 1. the server's virtual environment ---------------------------------------------------------

def venv_dir() -> Path:
    override = os.environ.get(VENV_ENV)
    if override:
        return Path(override).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "timelapse-d" / f"label-studio-{LABEL_STUDIO_VERSION}"


def ensure_venv() -> Path:
    """The ``label-studio`` executable of the server's environment, installing it when missing.

    An install is complete once its marker file is written (last); an interrupted one is redone.
    A directory named by ``TIMELAPSE_D_LABEL_STUDIO_VENV`` that already has ``bin/label-studio`` is
    used as it is.
    """
    venv = venv_dir()
    exe = venv / "bin" / "label-studio"
    if exe.exists() and ((venv / _COMPLETE_MARKER).exists() or os.environ.get(VENV_ENV)):
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time across processes
        if exe.exists() and (venv / _COMPLETE_MARKER).exists():
            return exe
        if venv.exists():
            shutil.rmtree(venv)
        install_log = venv.parent / f"{venv.name}.install.log"
        print(f"timelapse-d: installing label-studio=={LABEL_STUDIO_VERSION} into {venv} "
              f"(once; about a minute, ~1 GB; log {install_log})", file=sys.stderr)
        base_python = getattr(sys, "_base_executable", None) or sys.executable
        steps = ([base_python, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                  f"label-studio=={LABEL_STUDIO_VERSION}"])
        with open(install_log, "w") as output:
            for step in steps:
                if subprocess.run(step, stdout=output, stderr=subprocess.STDOUT).returncode != 0:
                    tail = install_log.read_text(errors="replace")[-2000:]
                    raise LabelStudioError(f"installing label-studio=={LABEL_STUDIO_VERSION} into {venv} failed "
                                           f"({' '.join(step[:4])} ...); see {install_log}:\n{tail}")
        if not exe.exists():
            raise LabelStudioError(f"installing label-studio into {venv} left no {exe}")
        (venv / _COMPLETE_MARKER).write_text(f"label-studio=={LABEL_STUDIO_VERSION}\n")
    return exe


# 2. credentials --------------------------------------------------------------------------------

def read_credentials(work: str | Path) -> dict | None:
    path = credentials_path(work)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _ensure_credentials(work: Path) -> dict:
    credentials = read_credentials(work)
    if credentials is None:
        credentials = {"email": ADMIN_EMAIL, "password": secrets.token_urlsafe(24),
                       "token": secrets.token_hex(20),  # 40 characters, the length of Label Studio's tokens
                       "secret_key": secrets.token_urlsafe(48)}
        path = credentials_path(work)
        with atomic_path(path) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(credentials, handle, indent=2)
    os.chmod(credentials_path(work), 0o600)
    return credentials


# 3. start / stop -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_for(work: Path, port: int | None) -> int:
    """``port`` if given, else the one this work directory's server used before, else a free one;
    remembered in settings.json. A remembered port that is taken is an error, not a new address."""
    path = settings_path(work)
    remembered = json.loads(path.read_text()).get("port") if path.exists() else None
    if port is None and remembered is not None:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", remembered))
            except OSError:
                raise LabelStudioError(f"port {remembered}, where this work directory's Label Studio ran before "
                                       f"({path}), is taken by another program; free it, or pass --port") from None
    chosen = port or remembered or _free_port()
    write_json_atomic(path, {"port": chosen})
    return chosen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, now reaped
    return True


def read_server(work: str | Path) -> dict | None:
    """The record of the server started for this work directory, or None."""
    path = server_record_path(work)
    return json.loads(path.read_text()) if path.exists() else None


def server_environment(work: Path, credentials: dict) -> dict:
    data = server_dir(work) / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LABEL_STUDIO_", "VIRTUAL_ENV"))}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",  # the org's API token (credentials.json) works
        "LOCAL_FILES_SERVING_ENABLED": "true",  # clip videos as /data/local-files/?d=clips/<clip>.mp4
        "LOCAL_FILES_DOCUMENT_ROOT": str(work),
        "DISABLE_SIGNUP_WITHOUT_LINK": "true",  # annotators join through the invite link only
        # the admin, by environment rather than arguments (which every local user can read in ps)
        "LABEL_STUDIO_USERNAME": credentials["email"], "LABEL_STUDIO_PASSWORD": credentials["password"],
        "LABEL_STUDIO_USER_TOKEN": credentials["token"],
        "SECRET_KEY": credentials["secret_key"],  # sessions survive a restart
        "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def start_server(work: str | Path, port: int | None = None, timeout: float = 180.0) -> dict:
    """Start Label Studio on 127.0.0.1 for ``work`` (or return the running one) and wait until it answers."""
    work = Path(work).resolve()
    record = read_server(work)
    credentials = _ensure_credentials(work)  # kept across restarts: the server's database has this admin
    if record and _alive(record["pid"]) and LabelStudioClient(record["url"], credentials["token"]).health():
        return {**record, "already_running": True}
    exe = ensure_venv()
    port = _port_for(work, port)
    url = f"http://127.0.0.1:{port}"
    data = server_dir(work) / "data"
    data.mkdir(parents=True, exist_ok=True)
    command = [str(exe), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
               "--internal-host", "127.0.0.1", "--data-dir", str(data)]
    server_log = server_dir(work) / "server.log"
    with open(os.open(server_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   env=server_environment(work, credentials), cwd=str(server_dir(work)),
                                   start_new_session=True)  # its own process group, stopped as a whole
    record = {"url": url, "port": port, "pid": process.pid, "version": LABEL_STUDIO_VERSION,
              "started_at": datetime.now(timezone.utc).isoformat()}
    write_json_atomic(server_record_path(work), record)
    client = LabelStudioClient(url, credentials["token"])
    deadline = time.monotonic() + timeout
    while not client.health():
        if process.poll() is not None:
            server_record_path(work).unlink(missing_ok=True)
            tail = server_log.read_text(errors="replace")[-2000:]
            raise LabelStudioError(f"Label Studio at {url} exited with code {process.returncode} while "
                                   f"starting; see {server_log}:\n{tail}")
        if time.monotonic() > deadline:
            stop_server(work)
            raise LabelStudioError(f"Label Studio at {url} did not answer /health within {timeout:.0f} s; "
                                   f"see {server_log}")
        time.sleep(0.5)
    client.get("/api/current-user/whoami")  # the token works (raises naming the URL if not)
    return {**record, "already_running": False}


def stop_server(work: str | Path, timeout: float = 20.0) -> bool:
    """Stop the server started for ``work`` and its children; False when none was recorded."""
    record = read_server(work)
    if record is None:
        return False
    pid = record["pid"]
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            log.warning("Label Studio (pid %s) ignored SIGTERM; killing it", pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    server_record_path(work).unlink(missing_ok=True)
    return True


def client_for(work: str | Path, url: str | None = None, timeout: float = 60.0) -> LabelStudioClient:
    """A client for ``url`` (default: the server started for ``work``) with the work's API token;
    for another server, ``LABEL_STUDIO_API_KEY`` when set."""
    from timelapse_d.errors import UsageError

    record = read_server(work)
    if url is None:
        if record is None:
            raise UsageError(f"no Label Studio server recorded in {server_record_path(work)}: run "
                             f"`timelapse-d label serve --work {work}` first, or pass --url")
        url = record["url"]
    own = (read_credentials(work) or {}).get("token")
    ours = record is not None and record["url"].rstrip("/") == url.rstrip("/")
    token = own if ours and own else os.environ.get("LABEL_STUDIO_API_KEY") or own
    if not token:
        raise UsageError(f"no API token for Label Studio at {url}: none in {credentials_path(work)} "
                         "and LABEL_STUDIO_API_KEY is not set")
    try:
        return LabelStudioClient(url, token, timeout=timeout)
    except ValueError as error:
        raise UsageError(str(error)) from None
