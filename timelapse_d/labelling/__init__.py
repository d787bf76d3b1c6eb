"""Labelling clips: a local Label Studio server, pushing clips as tasks, pulling annotations.

    timelapse-d label serve --work WORK      # start Label Studio on 127.0.0.1 (data under WORK)
    timelapse-d label push --work WORK       # one task per clip, pre-annotated from the scores
    timelapse-d label pull --work WORK       # annotations -> labels table, consensus, agreement
    timelapse-d label auto --work WORK       # the automatic verdicts as labels (unattended runs)

Modules: ``server`` (its virtual environment, start / stop, credentials), ``client`` (REST calls),
``project`` (labelling config, create-or-reuse), ``push``, ``pull``, ``auto``. Nothing here is
imported by ``import timelapse_d``. Details: docs/labelling.md.
"""
