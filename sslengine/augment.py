"""Batched augmentation on the training device, with per-sample random parameters.

Every function takes a whole batch and draws one set of parameters per sample from the run's own
`torch.Generator` on the batch's device (so runs sharing a process stay reproducible): no per-image Python,
no host round trip. Points (N, 2) get Gaussian jitter; images
(N, C, H, W) in [0, 1] get a small translation (weak) or RandAugment-style ops chosen per sample plus cutout
(strong), as in FixMatch, or SimCLR's views.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

POINT_JITTER_WEAK = 0.05
POINT_JITTER_STRONG = 0.15
WEAK_MAX_SHIFT = 0.125  # of the image side, as FixMatch's 4 px on 32 px
STRONG_OPS_PER_SAMPLE = 2
MAX_ROTATE_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.3  # of the image side
CUTOUT_MAX = 0.5  # of the image side
SIMCLR_MAX_CONTRAST = 0.5  # contrast and brightness factors in 1 +- this
SIMCLR_NOISE = 0.1  # standard deviation of the added Gaussian noise
SIMCLR_JITTER = (0.8, 0.8, 0.8, 0.2)  # brightness, contrast, saturation, hue at strength 1, as SimCLR
SIMCLR_JITTER_P, SIMCLR_GRAY_P = 0.8, 0.2
AFFINE_MAX_SCALE = 0.2  # random_affine scales by 1 +- this
AFFINE_MAX_SHIFT = 0.25  # random_affine shifts by up to this, in [-1, 1] units (an eighth of the side)


def weak(x: torch.Tensor, g: torch.Generator, mirror: bool = False) -> torch.Tensor:
    """FixMatch's weak view: a shift (after a random mirror where `mirror`: photos, not digits)."""
    if x.dim() == 2:
        return x + POINT_JITTER_WEAK * _normal(x, g)
    return random_translate(random_mirror(x, g) if mirror else x, WEAK_MAX_SHIFT, g)


def strong(x: torch.Tensor, g: torch.Generator, mirror: bool = False) -> torch.Tensor:
    """FixMatch's strong view: RandAugment then cutout (after a random mirror where `mirror`)."""
    if x.dim() == 2:
        return x + POINT_JITTER_STRONG * _normal(x, g)
    return cutout(rand_augment(random_mirror(x, g) if mirror else x, STRONG_OPS_PER_SAMPLE, g), CUTOUT_MAX, g)


def random_mirror(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Each image mirrored left to right with probability p."""
    flip = torch.rand(len(x), device=x.device, generator=g) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def rotate_quarters(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Turn sample i by turns[i] quarter turns counter-clockwise: images in their plane, 2-D points about 0."""
    if x.dim() == 2:
        angle = turns.to(x.dtype) * (torch.pi / 2)
        cos, sin = angle.cos(), angle.sin()
        return torch.stack([cos * x[:, 0] - sin * x[:, 1], sin * x[:, 0] + cos * x[:, 1]], dim=1)
    all_turns = torch.stack([x.rot90(k, dims=(-2, -1)) for k in range(4)])  # 4 x N x C x H x W
    return all_turns[turns, torch.arange(len(x), device=x.device)]


def random_affine(x: torch.Tensor, g: torch.Generator, strength: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate, scale, shear and shift each sample at random, every range times `strength`; return the views
    and each sample's 2x3 map.

    Images are warped with the map (output -> input coordinates, in [-1, 1] units); 2-D points are moved by
    it directly. The maps are what a transformation-prediction head learns to read back (EnAET).
    """
    n = x.shape[0]
    angle = _uniform(n, -1, 1, x, g) * (strength * MAX_ROTATE_DEGREES * math.pi / 180)
    scale = 1 + _uniform(n, -1, 1, x, g) * (strength * AFFINE_MAX_SCALE)
    shear = _uniform(n, -1, 1, x, g) * (strength * MAX_SHEAR)
    shift = _uniform(2 * n, -1, 1, x, g).view(n, 2) * (strength * AFFINE_MAX_SHIFT)
    cos, sin = angle.cos() * scale, angle.sin() * scale
    theta = torch.stack([torch.stack([cos, cos * shear - sin, shift[:, 0]], dim=1),
                         torch.stack([sin, sin * shear + cos, shift[:, 1]], dim=1)], dim=1)
    if x.dim() == 2:
        return torch.einsum("nij,nj->ni", theta[:, :, :2], x) + theta[:, :, 2], theta
    return _warp(x, theta), theta


def simclr_view(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """One SimCLR view per sample, every magnitude times `strength` (s in the paper).

    Colour images: SimCLR's random resized crop and flip, colour jitter with probability 0.8 and grayscale
    with 0.2. Grey images (digits): a random affine map, contrast and brightness, Gaussian noise, cutout:
    crops and colour have no 8x8 grey counterpart, and these make two views of a digit differ as much as
    two hands writing it. Points: Gaussian jitter.
    """
    if x.dim() == 2:
        return x + strength * POINT_JITTER_STRONG * _normal(x, g)
    if x.shape[1] == 3:
        return _simclr_colour_view(x, strength, g)
    n = x.shape[0]
    per_sample = (n, 1, 1, 1)
    x, _ = random_affine(x, g, strength)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + strength * SIMCLR_MAX_CONTRAST * _uniform(n, -1, 1, x, g).view(per_sample)
    brightness = 1 + strength * SIMCLR_MAX_CONTRAST * _uniform(n, -1, 1, x, g).view(per_sample)
    x = (mean + (x - mean) * contrast) * brightness + strength * SIMCLR_NOISE * _normal(x, g)
    return cutout(x, strength * CUTOUT_MAX, g).clamp(0, 1)


def random_resized_crop(x: torch.Tensor, g: torch.Generator, area: tuple[float, float] = (0.08, 1.0),
                        flip: float = 0.5) -> torch.Tensor:
    """A crop of random area share and aspect ratio (3/4 to 4/3) of each image, resized to the full size
    and mirrored with probability `flip`: one affine warp for the batch."""
    n = x.shape[0]
    share = _uniform(n, *area, x, g)
    ratio = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), x, g))
    width, height = (share * ratio).sqrt().clamp(max=1), (share / ratio).sqrt().clamp(max=1)
    mirror = torch.where(torch.rand(n, device=x.device, generator=g) < flip, -1.0, 1.0).to(x.dtype)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = width * mirror, height
    theta[:, 0, 2] = (1 - width) * _uniform(n, -1, 1, x, g)  # the crop's centre, inside the image
    theta[:, 1, 2] = (1 - height) * _uniform(n, -1, 1, x, g)
    return _warp(x, theta)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, repeated over the three channels."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True).expand_as(x)


def rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate each image's hue by `turns` of a full circle (red towards green, as in HSV): a rotation of the
    chroma plane of YIQ, which keeps each pixel's luma."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          device=x.device, dtype=x.dtype)
    yiq = torch.einsum("ij,njhw->nihw", to_yiq, x)
    angle = -2 * math.pi * turns.view(-1, 1, 1)  # YIQ's I-to-Q direction runs from red towards blue
    i, q = yiq[:, 1], yiq[:, 2]
    rotated = torch.stack([yiq[:, 0], i * angle.cos() - q * angle.sin(), i * angle.sin() + q * angle.cos()], 1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(to_yiq), rotated)


def _simclr_colour_view(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    per_sample = (n, 1, 1, 1)
    x = random_resized_crop(x, g)
    jitter = (torch.rand(n, device=x.device, generator=g) < SIMCLR_JITTER_P).view(per_sample)
    b, c, s, h = (strength * v for v in SIMCLR_JITTER)
    factor = lambda spread: _uniform(n, max(0.0, 1 - spread), 1 + spread, x, g).view(per_sample)
    jittered = x * factor(b)  # brightness, contrast, saturation, hue, in this order
    mean = grayscale(jittered).mean(dim=(1, 2, 3), keepdim=True)
    jittered = (mean + (jittered - mean) * factor(c)).clamp(0, 1)
    gray = grayscale(jittered)
    jittered = (gray + (jittered - gray) * factor(s)).clamp(0, 1)
    jittered = rotate_hue(jittered, _uniform(n, -h, h, x, g)).clamp(0, 1)
    x = torch.where(jitter, jittered, x)
    return torch.where((torch.rand(n, device=x.device, generator=g) < SIMCLR_GRAY_P).view(per_sample),
                       grayscale(x), x)


def _uniform(n: int, low: float, high: float, like: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=like.device, dtype=like.dtype, generator=g)


def _normal(like: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, device=like.device, dtype=like.dtype, generator=g)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply one 2x3 affine map per sample (output -> input coordinates, in [-1, 1] units)."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _identity_affines(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(3, device=like.device, dtype=like.dtype).expand(n, 3, 3).clone()


def random_translate(x: torch.Tensor, max_shift: float, g: torch.Generator) -> torch.Tensor:
    """Shift each image by a whole number of pixels, up to `max_shift` of its side, in each direction."""
    n, _, h, w = x.shape
    pixels = max(1, round(max_shift * w))
    shift = torch.randint(-pixels, pixels + 1, (n, 2), device=x.device, generator=g).to(x.dtype)
    theta = _identity_affines(n, x)[:, :2]
    theta[:, 0, 2] = 2 * shift[:, 0] / w
    theta[:, 1, 2] = 2 * shift[:, 1] / h
    return _warp(x, theta)


# RandAugment's ops as FixMatch lists them, plus Gaussian noise; geometric ones compose into one warp. The
# colour ones (and equalize, sharpness) go to 3-channel images: 8x8 digits keep the list they were tuned on.
_GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
_PHOTOMETRIC = ("identity", "autocontrast", "brightness", "contrast", "posterize", "solarize", "noise")
STRONG_OPS = _GEOMETRIC + _PHOTOMETRIC
COLOUR_STRONG_OPS = STRONG_OPS + ("equalize", "color", "sharpness")
_SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13  # PIL's sharpness reference


def _choose_ops(n: int, n_ops: int, ops: tuple[str, ...], like: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(n, len(ops)) boolean: `n_ops` distinct ops chosen at random for each sample."""
    scores = torch.rand(n, len(ops), device=like.device, generator=g)
    chosen = scores.topk(n_ops, dim=1).indices
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(1, chosen, True)


def _geometric_affines(chosen: torch.Tensor, like: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Compose the chosen geometric ops of each sample into one affine matrix."""
    n = chosen.shape[0]
    total = _identity_affines(n, like)
    for name in _GEOMETRIC:
        on = chosen[:, STRONG_OPS.index(name)].to(like.dtype)
        m = _identity_affines(n, like)
        if name == "rotate":
            angle = _uniform(n, -MAX_ROTATE_DEGREES, MAX_ROTATE_DEGREES, like, g) * math.pi / 180 * on
            m[:, 0, 0], m[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
            m[:, 1, 0], m[:, 1, 1] = torch.sin(angle), torch.cos(angle)
        elif name == "shear_x":
            m[:, 0, 1] = _uniform(n, -MAX_SHEAR, MAX_SHEAR, like, g) * on
        elif name == "shear_y":
            m[:, 1, 0] = _uniform(n, -MAX_SHEAR, MAX_SHEAR, like, g) * on
        elif name == "translate_x":
            m[:, 0, 2] = 2 * _uniform(n, -MAX_TRANSLATE, MAX_TRANSLATE, like, g) * on
        else:
            m[:, 1, 2] = 2 * _uniform(n, -MAX_TRANSLATE, MAX_TRANSLATE, like, g) * on
        total = total @ m
    return total[:, :2]


def _photometric(name: str, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    per_sample = (n, 1, 1, 1)
    if name == "identity":
        return x
    if name == "autocontrast":  # each channel stretched to [0, 1]
        low = x.amin(dim=(2, 3), keepdim=True)
        high = x.amax(dim=(2, 3), keepdim=True)
        return (x - low) / (high - low).clamp_min(1e-3)
    if name == "equalize":
        return equalize(x)
    if name == "brightness":
        return x * _uniform(n, 0.5, 1.5, x, g).view(per_sample)
    if name == "color":  # saturation: blend with the grey image
        grey = grayscale(x)
        return grey + (x - grey) * _uniform(n, 0.0, 2.0, x, g).view(per_sample)
    if name == "sharpness":  # blend with a smoothed image: below 1 blurs, above 1 sharpens
        kernel = _SMOOTH.to(x).expand(x.shape[1], 1, 3, 3)
        smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])
        return smooth + (x - smooth) * _uniform(n, 0.0, 2.0, x, g).view(per_sample)
    if name == "contrast":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return mean + (x - mean) * _uniform(n, 0.5, 1.5, x, g).view(per_sample)
    if name == "posterize":
        levels = 2 ** torch.randint(2, 5, per_sample, device=x.device, generator=g).to(x.dtype)
        return torch.floor(x * levels) / levels
    if name == "solarize":
        cut = _uniform(n, 0.5, 1.0, x, g).view(per_sample)
        return torch.where(x < cut, x, 1 - x)
    if name == "noise":
        return x + _uniform(n, 0.0, 0.2, x, g).view(per_sample) * _normal(x, g)
    raise ValueError(name)


def equalize(x: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Histogram equalisation of each channel of each image: a pixel at grey level v goes to
    (cdf(v) - cdf(lowest level)) / (pixels - cdf(lowest level)), so the levels in use spread over [0, 1]."""
    n, c, h, w = x.shape
    q = (x.clamp(0, 1) * (levels - 1)).round().long().view(n * c, h * w)
    ones = torch.ones(q.shape, device=x.device, dtype=x.dtype)
    cdf = torch.zeros(n * c, levels, device=x.device, dtype=x.dtype).scatter_add_(1, q, ones).cumsum(dim=1)
    darkest = cdf.gather(1, q.amin(dim=1, keepdim=True))
    return ((cdf.gather(1, q) - darkest) / (h * w - darkest).clamp_min(1)).view(n, c, h, w)


def rand_augment(x: torch.Tensor, n_ops: int, g: torch.Generator) -> torch.Tensor:
    """RandAugment with per-sample op choice and per-sample magnitudes."""
    ops = COLOUR_STRONG_OPS if x.shape[1] == 3 else STRONG_OPS
    chosen = _choose_ops(x.shape[0], n_ops, ops, x, g)
    out = _warp(x, _geometric_affines(chosen, x, g))
    for name in ops[len(_GEOMETRIC):]:
        on = chosen[:, ops.index(name)].view(-1, 1, 1, 1)
        out = torch.where(on, _photometric(name, out, g), out)
    return out.clamp(0, 1)


def cutout(x: torch.Tensor, max_fraction: float, g: torch.Generator) -> torch.Tensor:
    """Grey out one square per sample, of random side up to `max_fraction` of the image, at a random place."""
    n, _, h, w = x.shape
    side = _uniform(n, 1.0, max(1.0, max_fraction * min(h, w)), x, g).view(n, 1, 1)
    cy = _uniform(n, 0, h, x, g).view(n, 1, 1)
    cx = _uniform(n, 0, w, x, g).view(n, 1, 1)
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1) + 0.5
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w) + 0.5
    hole = ((rows - cy).abs() < side / 2) & ((cols - cx).abs() < side / 2)
    return torch.where(hole.unsqueeze(1), torch.full_like(x, 0.5), x)
