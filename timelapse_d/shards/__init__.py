"""WebDataset shards of precomputed samples: the sample format (``sample``), tar reading and
writing (``tarfiles``) and packing staged samples into shards (``pack``). Details: docs/shards.md.

    >>> from timelapse_d.shards import ClipSample, read_samples
    >>> # for entries in read_samples("WORK/shards/train-000000.tar"):
    >>> #     sample = ClipSample(entries); sample.frame(0), sample.flow(0), sample.groups(0)
"""
from .sample import ClipSample, decode_frame, decode_groups, frame_entry, flow_entry, mask_entry, sample_entries
from .tarfiles import read_samples, write_samples

__all__ = ["ClipSample", "decode_frame", "decode_groups", "flow_entry", "frame_entry", "mask_entry", "read_samples",
           "sample_entries", "write_samples"]
