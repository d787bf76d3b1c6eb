"""Pipeline stages, by the name used in pipeline files. Each is imported only when used."""
from timelapse_d.registry import Registry

STAGES = Registry("stage", {
    "auto-label": "timelapse_d.stages.auto_label:AutoLabelStage",
    "discover": "timelapse_d.stages.discover:DiscoverStage",
    "download": "timelapse_d.stages.download:DownloadStage",
    "import-labels": "timelapse_d.stages.import_labels:ImportLabelsStage",
    "precompute": "timelapse_d.stages.precompute:PrecomputeStage",
    "split": "timelapse_d.stages.split:SplitStage",
})
