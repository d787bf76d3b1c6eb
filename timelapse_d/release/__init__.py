"""Versioned releases of the dataset: ``create`` from a work directory, ``export`` a curated subset,
``remove`` a source (takedown), ``verify`` the checksums, ``rebuild`` from the manifests alone;
``publish`` to a directory or URL, ``pull`` from one, ``repair`` damaged shards byte for byte.

    timelapse-d release create --work WORK --name NAME --version 1.0.0 [--shards DIR]
    timelapse-d release export --from NAME@1.0.0 --name NAME2 --version 1.0.0 --category cloud
    timelapse-d release verify manifests/NAME/1.0.0          # or https://HOST/releases/NAME/1.0.0
    timelapse-d release remove --from NAME@1.0.0 --source-id ID --reason "owner's request"
    timelapse-d release publish manifests/NAME/1.0.0 --to s3://bucket/releases
    timelapse-d release pull https://HOST/releases/NAME/1.0.0 --to manifests
    timelapse-d release repair manifests/NAME/1.0.0 --work WORK2
    timelapse-d rebuild manifests/NAME/1.0.0 --work WORK2

Layout and rules: ``store``; writing a release: ``publish``; copying one: ``transfer``; details:
docs/releases.md.
"""
