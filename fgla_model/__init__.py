"""FGLA: "Learning Fine-Grained Motion Embedding for Landscape Animation" (Xue et al., ACM MM 2021).

The model, training, animation and evaluation land here; see ../shared/ARCHITECTURE.md.
It may import ``timelapse_d``; ``timelapse_d`` never imports it.
"""
