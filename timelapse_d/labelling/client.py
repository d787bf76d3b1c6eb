"""REST calls to a Label Studio server, with timeouts and errors that name the server's URL.

Use (against a running server)::

    client = LabelStudioClient("http://127.0.0.1:8080", token="...")
    projects = client.get("/api/projects/")["results"]
"""
from __future__ import annotations

from typing import Any, Iterator

import requests


class LabelStudioError(RuntimeError):
    """Label Studio answered with an error, or could not be reached; the message names its URL."""


class LabelStudioUnreachable(LabelStudioError):
    """No answer from the server (connection refused, reset or timed out)."""


class LabelStudioClient:
    """A thin client over Label Studio's REST API, authenticated by an API token."""

    def __init__(self, url: str, token: str, timeout: float = 60.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Label Studio URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Token {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON answer (None when empty); LabelStudioError naming the URL otherwise."""
        address = self.url + path
        try:
            response = self._session.request(method, address, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            raise LabelStudioUnreachable(
                f"Label Studio at {self.url} is unreachable ({method} {path}): {type(error).__name__}: "
                f"{error}") from None
        if response.status_code >= 400:
            raise LabelStudioError(f"Label Studio at {self.url}: {method} {path} answered "
                                   f"{response.status_code}: {response.text[:500]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise LabelStudioError(f"Label Studio at {self.url}: {method} {path} answered non-JSON "
                                   f"({response.headers.get('content-type')}): {response.text[:200]}") from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, json: Any) -> Any:
        return self.request("POST", path, json=json)

    def paginate(self, path: str, key: str = "results", page_size: int = 500, **params: Any) -> Iterator[dict]:
        """Every item of a paginated list endpoint (``results`` of /api/projects/, ``tasks`` of /api/tasks/)."""
        page = 1
        while True:
            try:
                answer = self.get(path, page=page, page_size=page_size, **params)
            except LabelStudioError as error:
                if " answered 404" in str(error) and page > 1:
                    return  # past the last page
                raise
            items = answer[key] if isinstance(answer, dict) else answer
            yield from items
            if isinstance(answer, list) or len(items) < page_size or (isinstance(answer, dict) and not answer.get("next", True)):
                return
            page += 1

    def health(self) -> bool:
        try:
            response = self._session.get(self.url + "/health", timeout=5)
        except requests.RequestException:
            return False
        return response.status_code == 200
