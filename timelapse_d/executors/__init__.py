"""Executors run a stage's items: ``local`` (a process pool) and ``ray``. Same pipeline, same manifests."""
from timelapse_d.registry import Registry

EXECUTORS = Registry("executor", {
    "local": "timelapse_d.executors.local:LocalExecutor",
    "ray": "timelapse_d.executors.ray_executor:RayExecutor",
})
