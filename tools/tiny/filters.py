"""The ControlNets' filters, as the studio's nodes compute them (nodes/canny.ts mirrors canny() and
nodes/control.ts super_resolution() step for step: keep them in sync).

canny: luma (0.299, 0.587, 0.114), 5x5 Gaussian (sigma 1, edge pixels repeated), Sobel (unnormalised,
edge pixels repeated), non-maximum suppression along the gradient quantised to 4 directions
(neighbours outside the image count 0, a pixel survives when it is >= both), double threshold,
hysteresis (weak pixels 8-connected to strong ones). Thresholds on the gradient magnitude of [0,1]
images (kornia's defaults 0.1 / 0.2).
inpaint: 4 channels, the picture with the masked area set to 1, then the mask (1 = to paint).
super_resolution: 3 channels, the picture down 4x nearest (every 4th pixel from the first), then up
4x nearest, cut to the picture's size.
"""
import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma=1.0, k=5):
    x = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-x * x / (2 * sigma * sigma))
    return (g / g.sum()).float()


def luma(images):
    return images[:, 0:1] * 0.299 + images[:, 1:2] * 0.587 + images[:, 2:3] * 0.114


@torch.no_grad()
def canny(images, low=0.1, high=0.2):
    """images [B,3,H,W] in [0,1] -> edges [B,1,H,W] of 0/1."""
    g = luma(images)
    k = gaussian_kernel()
    g = F.conv2d(F.pad(g, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5))
    g = F.conv2d(F.pad(g, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1))
    p = F.pad(g, (1, 1, 1, 1), mode="replicate")
    sx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    gx = F.conv2d(p, sx)
    gy = F.conv2d(p, sx.transpose(2, 3))
    mag = torch.sqrt(gx * gx + gy * gy)
    ang = torch.atan2(gy, gx) * (180 / math.pi)
    ang = torch.where(ang < 0, ang + 180, ang)
    z = F.pad(mag, (1, 1, 1, 1))
    H, W = mag.shape[-2:]

    def at(dy, dx):
        return z[:, :, 1 + dy:1 + dy + H, 1 + dx:1 + dx + W]

    d0 = (ang < 22.5) | (ang >= 157.5)
    d45 = (ang >= 22.5) & (ang < 67.5)
    d90 = (ang >= 67.5) & (ang < 112.5)
    n1 = torch.where(d0, at(0, 1), torch.where(d45, at(1, 1), torch.where(d90, at(1, 0), at(1, -1))))
    n2 = torch.where(d0, at(0, -1), torch.where(d45, at(-1, -1), torch.where(d90, at(-1, 0), at(-1, 1))))
    nms = torch.where((mag >= n1) & (mag >= n2), mag, torch.zeros_like(mag))
    weak = nms >= low
    edges = nms >= high
    for _ in range(H * W):
        grown = weak & (F.max_pool2d(edges.float(), 3, stride=1, padding=1) > 0)
        if torch.equal(grown, edges):
            break
        edges = grown
    return edges.float()


def inpaint_input(images, mask):
    """images [B,3,H,W], mask [B,1,H,W] (1 = to paint) -> the inpainting ControlNet's 4 channels."""
    return torch.cat([images * (1 - mask) + mask, mask], dim=1)


def super_resolution(images, factor=4):
    """images [B,3,H,W] -> the super-resolution ControlNet's input: pixel (y, x) takes the value at
    (factor * (y // factor), factor * (x // factor))."""
    H, W = images.shape[-2:]
    small = images[:, :, ::factor, ::factor]
    return small.repeat_interleave(factor, 2).repeat_interleave(factor, 3)[:, :, :H, :W]
