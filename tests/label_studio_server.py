"""A real Label Studio server for the test session, and what annotators do through its API.

The server is installed (once per machine, into the cache the command line uses) and started by
``timelapse-d label serve`` itself; nothing is skipped: if it cannot be installed or started, the
tests that use it fail with the reason.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import requests

from timelapse_d.cli import main
from timelapse_d.labelling.server import credentials_path, read_credentials, read_server


@dataclass
class LabelStudioServer:
    work: Path  # the work directory the server was started for (its data, credentials, document root)

    @property
    def url(self) -> str:
        return read_server(self.work)["url"]

    @property
    def port(self) -> int:
        return read_server(self.work)["port"]

    @property
    def token(self) -> str:
        return read_credentials(self.work)["token"]

    def api(self, method: str, path: str, token: str | None = None, **kwargs):
        response = requests.request(method, self.url + path, timeout=60,
                                    headers={"Authorization": f"Token {token or self.token}"}, **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json() if response.content else None

    def work_copy(self, source: Path, target: Path) -> Path:
        """A copy of a work directory that may talk to this server (its API token, no server of its own)."""
        shutil.copytree(source, target)
        credentials_path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(credentials_path(self.work), credentials_path(target))
        return target

    def annotator(self, email: str, password: str = "annotator-Pw-2024") -> str:
        """Sign an annotator up through the organisation's invite link; their API token."""
        invite = self.api("GET", "/api/invite")["token"]
        session = requests.Session()
        signup = f"{self.url}/user/signup/?token={invite}"
        session.get(signup, timeout=60)
        response = session.post(signup, timeout=60, headers={"Referer": signup},
                                data={"csrfmiddlewaretoken": session.cookies["csrftoken"], "email": email,
                                      "password": password, "allow_newsletters": "false"})
        assert response.status_code == 200 and "sessionid" in session.cookies, response.text[:300]
        return session.get(f"{self.url}/api/current-user/token", timeout=60).json()["token"]

    def project(self, title: str) -> dict:
        projects = [p for p in self.api("GET", "/api/projects/", params={"page_size": 1000})["results"]
                    if p["title"] == title]
        assert len(projects) == 1, [p["title"] for p in projects]
        return projects[0]

    def tasks(self, project_title: str) -> list[dict]:
        answer = self.api("GET", "/api/tasks/", params={"project": self.project(project_title)["id"],
                                                        "page_size": 1000, "fields": "all"})
        return answer["tasks"]

    def annotate(self, token: str, task_id: int, camera_motion: str, usable: bool,
                 categories: tuple[str, ...] = ()) -> dict:
        """Submit an annotation as the annotator whose token this is (what the labelling UI sends)."""
        def choices(name, values):
            return {"from_name": name, "to_name": "video", "type": "choices", "value": {"choices": list(values)}}
        result = [choices("camera_motion", [camera_motion]), choices("usable", ["yes" if usable else "no"])]
        if categories:
            result.append(choices("categories", categories))
        return self.api("POST", f"/api/tasks/{task_id}/annotations", token=token, json={"result": result})


def start_session_server(source_work: Path, directory: Path) -> LabelStudioServer:
    work = directory / "ls-work"
    shutil.copytree(source_work, work)
    assert main(["label", "serve", "--work", str(work)]) == 0, "label serve failed (see the message above)"
    record = json.loads((work / "label-studio" / "server.json").read_text())
    assert record["url"].startswith("http://127.0.0.1:")
    return LabelStudioServer(work)


def stop_session_server(server: LabelStudioServer) -> None:
    main(["label", "serve", "--work", str(server.work), "--stop"])
