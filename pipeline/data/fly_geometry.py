"""Geometry of two flies in a circular dish, shared by the simulator, the file readers and the
closed-loop continuations (paper sec. 4.3).  Works on numpy arrays and torch tensors alike.

Per fly and frame, the pose (POSE, S = 7) is
    x, y      mm, arena centre at the origin, y pointing up
    heading   rad, counter-clockwise from +x, wrapped to [-pi, pi)
    wing_l/r  rad, angle of each wing from the body's rear axis (0 = folded), in [0, pi/2]
    length    mm, body length (major axis), constant per fly and movie
    width     mm, body width (minor axis), constant per fly and movie
What models predict, x_t (MOTION, D = 5), is the velocity taking pose t to pose t + 1, in the
fly's own frame at t, so that a sampler can integrate it (`integrate`, `rollout`):
    forward, lateral (mm/s, lateral > 0 = to the fly's left), turn (rad/s), wing_l/r rates (rad/s).
Inputs at t, computed from pose t only (so a closed-loop sampler can recompute them):
    vision  [2 channels: other fly, wall; 72 bins] per fly (`vision_encoding`)
    state   (STATE, O = 4): wing_l, wing_r, length, wall_dist (mm from the wall)
The previous velocity x_{t-1}, also part of a fly's knowledge of its own state, reaches the
models through their recurrence, so it is not repeated here.  Behaviour labels index CLASSES.
"""
import math

import numpy as np

CLASSES = ("lunge", "charge", "tussle", "wing threat", "hold", "unknown")
LUNGE, CHARGE, TUSSLE, THREAT, HOLD, UNKNOWN = range(6)
POSE = ("x", "y", "heading", "wing_l", "wing_r", "length", "width")
X, Y, HEADING, WING_L, WING_R, LENGTH, WIDTH = range(7)
MOTION = ("forward", "lateral", "turn", "wing_l_rate", "wing_r_rate")
STATE = ("wing_l", "wing_r", "length", "wall_dist")
N_BINS = 72
BIN = 2 * math.pi / N_BINS
OFFSETS = -math.pi + BIN * np.arange(N_BINS)     # bin k looks at heading - 180 deg + 5k deg
WING_MAX = math.pi / 2


def _xp(a):
    """The array module `a` belongs to: torch for tensors, numpy otherwise."""
    if type(a).__module__.startswith("torch"):
        import torch
        return torch
    return np


def _const(values, like):
    """`values` as an array of `like`'s kind, dtype and device."""
    if _xp(like) is np:
        return np.asarray(values, dtype=like.dtype)
    import torch
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def _expand(radius, k):
    """A radius broadcastable to pose.shape[:-2], with k trailing axes added (a number as is)."""
    return radius[(..., *[None] * k)] if getattr(radius, "ndim", 0) else radius


def wrap(angle):
    """Angles to [-pi, pi)."""
    return _xp(angle).remainder(angle + math.pi, 2 * math.pi) - math.pi


def encode_distance(d, radius):
    """The vision code of a distance: 1 - min(1, (d / 2R)^0.6); 1 at contact, 0 far away."""
    return 1 - _xp(d).clip(d / (2 * radius), 0, 1) ** 0.6


def vision_encoding(pose, radius):
    """What each fly sees: [..., 2 flies, 2 channels (other fly, wall), 72 bins].

    pose [..., 2, S]; radius a number or an array broadcastable to pose.shape[:-2].
    Bin k is centred on heading + (-180 + 5k) degrees (bin 36 straight ahead, bin 0 behind)
    and is 5 degrees wide.  Other fly: an ellipse (length x width) whose angular extent is
    set by its half-width across the line of sight; every bin overlapping that extent gets the
    code of the distance to its near surface (centre distance minus its half-depth along the
    line of sight); other bins get 0.  Wall: the ray-circle distance along each bin's centre.
    """
    xp = _xp(pose)
    other = pose[..., [1, 0], :]
    rx, ry = other[..., X] - pose[..., X], other[..., Y] - pose[..., Y]
    d = xp.sqrt(rx ** 2 + ry ** 2)
    bearing = xp.arctan2(ry, rx)
    c2 = xp.cos(bearing - other[..., HEADING]) ** 2             # line of sight vs its body axis
    a2, b2 = (other[..., LENGTH] / 2) ** 2, (other[..., WIDTH] / 2) ** 2
    depth = xp.sqrt(a2 * c2 + b2 * (1 - c2))
    half_width = xp.sqrt(a2 * (1 - c2) + b2 * c2)
    extent = xp.arcsin(xp.clip(half_width / xp.clip(d, 1e-9, None), 0, 1))
    centres = pose[..., HEADING, None] + _const(OFFSETS, pose)   # [..., 2, 72]
    seen = xp.abs(wrap(centres - bearing[..., None])) <= extent[..., None] + BIN / 2
    near = encode_distance(xp.clip(d - depth, 0, None), _expand(radius, 1))
    fly = xp.where(seen, near[..., None], xp.zeros_like(centres))
    ux, uy = xp.cos(centres), xp.sin(centres)
    px, py = pose[..., X, None], pose[..., Y, None]
    along = px * ux + py * uy
    R = _expand(radius, 2)
    inside = xp.clip(px ** 2 + py ** 2 - R ** 2, None, 0)       # <= 0 for a fly in the arena
    wall = encode_distance(-along + xp.sqrt(along ** 2 - inside), R)
    return xp.stack([fly, wall], axis=-2)


def own_state(pose, radius):
    """A fly's own state [..., 2, 4] = wing_l, wing_r, length, distance to the wall (mm)."""
    xp = _xp(pose)
    wall = _expand(radius, 1) - xp.sqrt(pose[..., X] ** 2 + pose[..., Y] ** 2)
    return xp.stack([pose[..., WING_L], pose[..., WING_R], pose[..., LENGTH], wall], axis=-1)


def motion_from_pose(pose, fps):
    """Motion [..., T, 2, D] taking pose [..., T+1, 2, S] from each frame to the next (axis -3 = time)."""
    xp = _xp(pose)
    p0, p1 = pose[..., :-1, :, :], pose[..., 1:, :, :]
    dx, dy = (p1[..., X] - p0[..., X]) * fps, (p1[..., Y] - p0[..., Y]) * fps
    c, s = xp.cos(p0[..., HEADING]), xp.sin(p0[..., HEADING])
    return xp.stack([dx * c + dy * s, -dx * s + dy * c,
                     wrap(p1[..., HEADING] - p0[..., HEADING]) * fps,
                     (p1[..., WING_L] - p0[..., WING_L]) * fps,
                     (p1[..., WING_R] - p0[..., WING_R]) * fps], axis=-1)


def integrate(pose, motion, radius, fps):
    """The next pose [..., 2, S] after `motion` [..., 2, D]: inverse of `motion_from_pose`.

    A fly's centre stays at least half its width inside the wall (positions beyond are pulled
    back radially); wing angles stay in [0, pi/2]; length and width are carried over.
    """
    xp = _xp(pose)
    c, s = xp.cos(pose[..., HEADING]), xp.sin(pose[..., HEADING])
    fwd, lat = motion[..., 0] / fps, motion[..., 1] / fps
    x, y = pose[..., X] + fwd * c - lat * s, pose[..., Y] + fwd * s + lat * c
    limit = _expand(radius, 1) - pose[..., WIDTH] / 2
    scale = xp.clip(limit / xp.clip(xp.sqrt(x ** 2 + y ** 2), 1e-9, None), None, 1)
    return xp.stack([x * scale, y * scale,
                     wrap(pose[..., HEADING] + motion[..., 2] / fps),
                     xp.clip(pose[..., WING_L] + motion[..., 3] / fps, 0, WING_MAX),
                     xp.clip(pose[..., WING_R] + motion[..., 4] / fps, 0, WING_MAX),
                     pose[..., LENGTH], pose[..., WIDTH]], axis=-1)


def rollout(pose0, motion, radius, fps):
    """Integrate motion [..., T, 2, D] from pose0 [..., 2, S]: poses [..., T+1, 2, S]."""
    xp = _xp(pose0)
    poses = [pose0]
    for t in range(motion.shape[-3]):
        poses.append(integrate(poses[-1], motion[..., t, :, :], radius, fps))
    return xp.stack(poses, axis=-3)



def model_inputs(pose, radius, stats):
    """Per-fly model inputs u [..., 2, 148] from poses [..., 2, S]: vision (other fly, wall; 72 bins
    each) and the standardised own state."""
    vision = vision_encoding(pose, radius)
    state = (own_state(pose, radius) - stats["state_mean"]) / stats["state_std"]
    if _xp(pose) is np:
        return np.concatenate([vision.reshape(*vision.shape[:-2], -1), state], -1)
    return _xp(pose).cat([vision.flatten(-2), state], -1)
