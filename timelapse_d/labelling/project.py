"""The labelling project: its config (a Video tag and three questions) and create-or-reuse by title.

    >>> "aurora" in label_config()
    True
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from timelapse_d.camera_motion import CAMERA_LABELS
from timelapse_d.categories import CATEGORIES
from timelapse_d.labelling.client import LabelStudioClient

USABLE = ("yes", "no")
DEFAULT_TITLE = "Time-lapse-D clips"
MODEL_VERSION = "timelapse-d-auto"  # the pre-annotations' model version


def _choices(name: str, values: tuple[str, ...], choice: str, required: bool) -> str:
    options = "".join(f"<Choice value={quoteattr(value)}/>" for value in values)
    return (f'  <Header value={quoteattr(name.replace("_", " "))}/>\n'
            f'  <Choices name="{name}" toName="video" choice="{choice}" showInline="true"'
            f'{" required=" + quoteattr("true") if required else ""}>{options}</Choices>\n')


def label_config() -> str:
    """Label Studio's XML: the clip's video at its own frame rate (task data ``fps``), camera motion
    (one, radio buttons), usable (one, radio buttons), categories (any, check boxes)."""
    return ("<View>\n"
            '  <Video name="video" value="$video" frameRate="$fps" height="360"/>\n'
            + _choices("camera_motion", CAMERA_LABELS, "single-radio", True)
            + _choices("usable", USABLE, "single-radio", True)
            + _choices("categories", CATEGORIES, "multiple", False)
            + "</View>\n")


def find_or_create_project(client: LabelStudioClient, title: str = DEFAULT_TITLE,
                           annotators_per_clip: int = 1) -> dict:
    """The project titled ``title`` (the one with the lowest id if several), created when missing; an
    older project's labelling interface is brought up to date (the questions and answers are the same)."""
    matches = [project for project in client.paginate("/api/projects/") if project["title"] == title]
    if matches:
        project = min(matches, key=lambda project: project["id"])
        if project.get("label_config") != label_config():
            project = client.request("PATCH", f"/api/projects/{project['id']}", json={"label_config": label_config()})
        return project
    return client.post("/api/projects/", {
        "title": title, "label_config": label_config(), "maximum_annotations": annotators_per_clip,
        "description": "Time-lapse-D: camera motion, usability and categories per clip (timelapse-d label push)",
        "show_collab_predictions": True, "model_version": MODEL_VERSION})
