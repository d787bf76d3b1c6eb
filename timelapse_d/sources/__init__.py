"""Sources of videos, by name. Each is imported only when a pipeline uses it."""
from timelapse_d.registry import Registry

SOURCES = Registry("source", {
    "flickr": "timelapse_d.sources.flickr:FlickrSource",
    "sky-timelapse": "timelapse_d.sources.sky_timelapse:SkyTimelapseSource",
    "synthetic": "timelapse_d.sources.synthetic:SyntheticSource",
    "urls": "timelapse_d.sources.urls:UrlListSource",
})
