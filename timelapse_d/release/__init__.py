"""Versioned releases of the dataset: ``create`` from a work directory, ``export`` a curated subset,
``remove`` a source (takedown), ``verify`` the checksums, ``rebuild`` from the manifests alone.

    timelapse-d release create --work WORK --name NAME --version 1.0.0 [--shards DIR]
    timelapse-d release export --from NAME@1.0.0 --name NAME2 --version 1.0.0 --category cloud
    timelapse-d release verify manifests/NAME/1.0.0
    timelapse-d release remove --from NAME@1.0.0 --source-id ID --reason "owner's request"
    timelapse-d rebuild manifests/NAME/1.0.0 --work WORK2

Layout and rules: ``store``; writing a release: ``publish``; details: docs/releases.md.
"""
