"""Time-lapse-D: discover, download, curate, precompute and publish a time-lapse video dataset.

Importing this package is cheap: stages, sources and executors are imported by name when used.
"""
__version__ = "0.1.0"
