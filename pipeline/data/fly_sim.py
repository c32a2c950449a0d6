"""Two male flies fighting in a circular dish: the simulator behind the `embedded` fly source.

Each fly's hidden behaviour (one of the paper's six classes) is a semi-Markov process: a bout
lasts a class-dependent number of frames, then the next class is drawn from TRANSITION with
weights that depend on the distance to the other fly (lunge, tussle and hold need contact,
charge needs room, wandering flies stay apart longer) and on the fly's aggressiveness.  The
behaviour sets motor targets that the body tracks with noise.  Numbers follow the CADABRA
thresholds in REFERENCE.md ("Fly kinematics"); frames are at 30 fps, lengths in mm:
  lunge        3-5 frames: rear up, one strike frame at 45-200 mm/s onto the opponent (whose
               speed is capped at 45 mm/s), stop; only within 4 mm
  charge       sustained approach at 15-35 mm/s steering onto the opponent; ends on contact
  tussle       both flies, centres < 2.5 mm, fast (> 10 mm/s) jittery motion, side-on to each
               other (about 90 deg to the line joining them), >= 0.3 s
  wing threat  nearly still (< 5 mm/s), both wings raised to 30-80 deg, turning to face the opponent
  hold         nearly still contact, facing the opponent; the held fly is slowed to < 4 mm/s
  unknown      wandering: walks at 4-16 mm/s with random turns, pauses, keeps away at close range
All flies turn away from the wall and cannot cross it; the two bodies cannot overlap.
Annotations mimic experts: a random subset of bouts (ANNOTATE, per class) is labelled on all
its frames, every other frame is -1, so labels come in sparse bouts at irregular times.
Deterministic given the numpy Generator; all movies and both flies are simulated at once.

Changed for issue 29 (the variant `long` of benchmarks/flies_probe.py, docs/flies_probe.md sec. 4):
charge, tussle, wing-threat and hold bouts last 4x longer (median, minimum and maximum), unknown
wandering bouts half as long (NEAR_UNKNOWN too), so unknown falls from 78.5% to 38.6% of frames and
a bout usually outlasts the 100-step horizon.  Why: on the old durations even a model given every
true label (the oracle) did not predict better than unsupervised RWS (oracle - RWS -1 / +3 nats,
window noise +-20), so Table 1's question could not be asked of these data; on `long` the oracle
led in 4 of 4 seed x fly probe pairs (+6 to +19 nats).  simulate(fork_at=) lets the scale's upper
bound (evaluate.bounds) continue a movie from its true hidden state.  With holds 4x longer a pair
pressed to the wall could overlap (the wall pulled back what the push apart gave), so the push and
the wall now alternate until both hold (SEPARATE); and a lunging fly is no longer pulled into the
other's tussle mid-strike (a 1-frame lunge), which the longer tussles made happen.
"""
import math

import numpy as np

from pipeline.data.fly_geometry import CHARGE, HOLD, LUNGE, THREAT, TUSSLE, UNKNOWN, WING_MAX, wrap
from pipeline.data.supervision import bouts

RADIUS = 15.0      # mm; default dish radius, room for the 1-30 mm wing-threat distances
TRANSITION = np.array([
    # lunge charge tussle threat hold unknown        <- to;  from:
    [0.00, 0.10, 0.10, 0.10, 0.10, 0.60],          # lunge
    [0.50, 0.00, 0.10, 0.15, 0.10, 0.15],          # charge
    [0.15, 0.05, 0.00, 0.10, 0.10, 0.60],          # tussle
    [0.25, 0.20, 0.05, 0.00, 0.05, 0.45],          # wing threat
    [0.15, 0.00, 0.20, 0.05, 0.00, 0.60],          # hold
    [0.20, 0.20, 0.05, 0.10, 0.05, 0.40],          # unknown
])
# bout durations in frames: median, log-normal spread, min, max (lunge: uniform 3-5)
# (before issue 29: charge 30/8/150, tussle 25/9/150, threat 40/9/300, hold 30/10/150, unknown 75/15/600)
DURATION = np.array([[4, 0.0, 3, 5], [120, 0.5, 32, 600], [100, 0.5, 36, 600],
                     [160, 0.7, 36, 1200], [120, 0.5, 40, 600], [37.5, 0.8, 7.5, 300]], dtype=float)
NEAR_UNKNOWN = (8, 0.6, 4, 45)            # unknown bouts within 5 mm of the other fly are short (was 15, 0.6, 4, 90)
GAIN = np.array([1.0, 0.35, 0.6, 0.3, 0.4, 0.3])        # velocity tracking per frame
NOISE_V = np.array([0.0, 2.0, 12.0, 0.4, 0.5, 1.0])     # mm/s
NOISE_W = np.array([0.0, 0.5, 5.0, 0.3, 0.3, 0.8])      # rad/s
ANNOTATE = np.array([0.8, 0.5, 0.7, 0.6, 0.6, 0.08])    # chance that an expert labelled a bout
MIN_GAP = 1.1                                          # mm between centres: bodies cannot overlap
SEPARATE = 40       # most rounds of pushing apart and back inside the wall (a pair pressed to the wall overlapped)


def _categorical(weights, rng):
    """One draw per row of non-negative weights [..., K]."""
    cum = np.cumsum(weights, axis=-1)
    u = rng.random(weights.shape[:-1])[..., None] * cum[..., -1:]
    return np.minimum((u >= cum).sum(axis=-1), weights.shape[-1] - 1)


def _durations(beh, near, rng):
    """Bout lengths (frames) for behaviours `beh`; unknown bouts are short near the other fly."""
    p = DURATION[beh]
    p = np.where((near & (beh == UNKNOWN))[..., None], np.array(NEAR_UNKNOWN, float), p)
    d = np.exp(np.log(p[..., 0]) + p[..., 1] * rng.normal(size=beh.shape))
    d = np.where(beh == LUNGE, rng.integers(3, 6, beh.shape), d)
    return np.clip(np.round(d), p[..., 2], p[..., 3]).astype(np.int64)


def _availability(d):
    """Weights [..., 6] scaling the transition columns by the distance d (mm) to the other fly."""
    a = np.ones(d.shape + (6,))
    a[..., LUNGE] = d < 4
    a[..., TUSSLE] = d < 2.5
    a[..., HOLD] = d < 2.5
    a[..., CHARGE] = np.where(d < 3, 0.05, 1)
    a[..., THREAT] = (d > 1) & (d < 30)
    a[..., UNKNOWN] = np.where(d > 5, 3, 1)
    return a


def _place(rng, n, reach, gap=4.0):
    """Starting positions [n, 2 flies, 2] uniform in a disc of radius `reach`, >= gap mm apart."""
    pos = np.zeros((n, 2, 2))
    todo = np.ones(n, bool)
    while todo.any():
        r = reach * np.sqrt(rng.random((n, 2)))
        a = rng.uniform(-math.pi, math.pi, (n, 2))
        pos[todo] = np.stack([r * np.cos(a), r * np.sin(a)], -1)[todo]
        todo = np.hypot(*(pos[:, 0] - pos[:, 1]).T) < gap
    return pos


def simulate(n_movies, n_frames, rng, radius=RADIUS, fps=30.0, burn_in=60, fork_at=None):
    """Simulate movies of two flies: pose [M, F, 2, S] (flies.POSE) and behaviour [M, F, 2].

    behaviour[t] is the class driving the motion from frame t to t + 1.  fork_at: a frame at whose
    start rng.fork() is called (evaluate.bounds.ForkRng: copies of a movie part ways there).
    """
    shape = (n_movies, 2)
    length = np.clip(rng.normal(2.6, 0.12, shape), 2.2, 3.0)
    width = 0.38 * length
    aggression = rng.uniform(0.5, 1.5, shape)
    rest_wing = rng.uniform(0.06, 0.16, shape + (2,))
    limit = radius - width / 2
    pos = _place(rng, n_movies, radius - 2.0)
    heading = rng.uniform(-math.pi, math.pi, shape)
    wings = rest_wing.copy()
    vf, vl, omega = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    beh, left, age = np.full(shape, UNKNOWN), rng.integers(1, 60, shape), np.zeros(shape, np.int64)
    walking, walk_speed = rng.random(shape) < 0.5, rng.uniform(4, 16, shape)
    charge_speed, side = rng.uniform(15, 35, shape), rng.choice([-1.0, 1.0], shape)
    wing_goal, drive = rest_wing.copy(), np.zeros(shape)
    poses = np.empty((n_frames, n_movies, 2, 7))
    behaviours = np.empty((n_frames, n_movies, 2), np.int64)

    for t in range(burn_in + n_frames):
        if fork_at is not None and t == burn_in + fork_at:
            rng.fork()
        rel = pos[:, ::-1] - pos
        d = np.hypot(rel[..., 0], rel[..., 1])
        bearing = wrap(np.arctan2(rel[..., 1], rel[..., 0]) - heading)   # other fly relative to heading

        # behaviour: bouts end on their timer, or early when the geometry no longer fits
        alone = (beh == TUSSLE) & (beh[:, ::-1] != TUSSLE)
        left[((beh == CHARGE) & (d < 2.0)) | ((beh == TUSSLE) & (d > 3.5)) | alone | ((beh == HOLD) & (d > 3.0))] = 0
        ending = left <= 0
        w = TRANSITION[beh] * _availability(d)
        w[..., [LUNGE, CHARGE, THREAT]] *= aggression[..., None]
        beh = np.where(ending, _categorical(w, rng), beh)
        joins = ending[:, ::-1] & (beh[:, ::-1] == TUSSLE) & (beh != TUSSLE) & (beh != LUNGE)   # mutual; a strike ends first
        beh = np.where(joins, TUSSLE, beh)
        new = ending | joins
        left = np.where(ending, _durations(beh, d < 5, rng), left)
        left = np.where(joins, left[:, ::-1], left)
        left = np.where(new & (beh == TUSSLE), np.maximum(left, left[:, ::-1]), left)
        age = np.where(new, 0, age + 1)
        charge_speed = np.where(new, rng.uniform(15, 35, shape), charge_speed)
        side = np.where(new, np.sign(bearing + 1e-9), side)
        wing_goal = np.where((new & (beh == THREAT))[..., None], rng.uniform(0.6, 1.3, shape + (2,)), wing_goal)
        left -= 1

        if t >= burn_in:
            poses[t - burn_in] = np.concatenate(
                [pos, heading[..., None], wings, length[..., None], width[..., None]], axis=-1)
            behaviours[t - burn_in] = beh

        # motor targets in the fly's frame: forward / lateral speed (mm/s), turning (rad/s)
        walking ^= rng.random(shape) < np.where(walking, 1 / 45, 1 / 30)
        walk_speed = np.where(walking, walk_speed, rng.uniform(4, 16, shape))
        drive += -drive / (0.5 * fps) + 1.5 * math.sqrt(2 / (0.5 * fps)) * rng.normal(size=shape)
        fwd, lat = np.where(walking, walk_speed, 0.0), np.zeros(shape)
        turn = drive * np.where(walking, 1.0, 0.2)
        shy = (d < 3) & (np.abs(bearing) < math.pi / 2)
        turn = np.where(shy, turn - 4 * np.sign(bearing), turn)
        fwd = np.where(shy & walking, np.maximum(fwd, 8.0), fwd)

        charge, lunge = beh == CHARGE, beh == LUNGE
        tussle, threat, hold = beh == TUSSLE, beh == THREAT, beh == HOLD
        fwd = np.where(charge, charge_speed * np.clip((d - 1.5) / 2, 0.3, 1), fwd)
        turn = np.where(charge | threat | hold, np.clip((6 * charge + 3 * (threat | hold)) * bearing, -12, 12), turn)

        strike = np.clip((d - 0.5) * fps * rng.uniform(1.0, 1.6, shape), 60, 200)
        fwd = np.where(lunge, np.where(age == 1, strike, np.where(age == 0, -10.0, 0.0)), fwd)
        turn = np.where(lunge, np.where(age <= 1, bearing * fps * 0.6, 0.0), turn)

        pull = np.where(tussle, 10 * (d - 1.4), 6 * (d - 1.3))
        close = tussle | hold
        fwd = np.where(close, pull * np.cos(bearing), fwd)
        lat = np.where(close, pull * np.sin(bearing), lat)
        turn = np.where(tussle, 5 * wrap(bearing - side * math.pi / 2), turn)
        fwd = np.where(threat, 0.0, fwd)

        wall = limit - np.hypot(pos[..., 0], pos[..., 1])
        facing = wrap(np.arctan2(pos[..., 1], pos[..., 0]) - heading)      # wall normal relative to heading
        steer = (wall < 3) & (np.abs(facing) < math.pi / 2) & ~lunge & ~tussle
        turn = np.where(steer, turn - np.sign(facing) * 6 * (1 - wall / 3), turn)
        fwd = np.where(steer, fwd * np.clip(wall / 1.5, 0.2, 1), fwd)

        # bodies track the targets with behaviour-dependent gain and noise
        gain, nv, nw = GAIN[beh], NOISE_V[beh], NOISE_W[beh]
        vf += gain * (fwd - vf) + nv * rng.normal(size=shape)
        vl += gain * (lat - vl) + nv * rng.normal(size=shape)
        omega += gain * (turn - omega) + nw * rng.normal(size=shape)
        omega = np.where(lunge, omega, np.clip(omega, -20, 20))
        other = beh[:, ::-1]
        cap = np.where(other == LUNGE, 45.0, np.where(other == HOLD, 4.0, np.where(threat, 5.0, np.inf)))
        slow = np.minimum(1, cap / np.maximum(np.hypot(vf, vl), 1e-9))
        vf, vl = vf * slow, vl * slow

        c, s = np.cos(heading), np.sin(heading)
        pos = pos + np.stack([vf * c - vl * s, vf * s + vl * c], -1) / fps
        heading = wrap(heading + omega / fps)
        pos = pos * np.minimum(1, limit / np.maximum(np.hypot(pos[..., 0], pos[..., 1]), 1e-9))[..., None]
        for _ in range(SEPARATE):             # apart, then inside the wall, which can press them together again
            gap = pos[:, 1] - pos[:, 0]
            dist = np.maximum(np.hypot(gap[:, 0], gap[:, 1]), 1e-9)[:, None]
            if dist.min() >= MIN_GAP - 1e-9:
                break
            push = np.maximum(MIN_GAP - dist, 0) / 2 * gap / dist
            pos = pos + np.stack([-push, push], axis=1)
            pos = pos * np.minimum(1, limit / np.maximum(np.hypot(pos[..., 0], pos[..., 1]), 1e-9))[..., None]

        goal = np.where(threat[..., None], wing_goal, rest_wing)
        goal = np.where((lunge & (age <= 1))[..., None], 0.35, goal)
        flick = rng.random(shape + (2,)) < 0.2
        wing_goal = np.where((tussle[..., None] & flick), rng.uniform(0.1, 0.9, shape + (2,)), wing_goal)
        goal = np.where(tussle[..., None], wing_goal, goal)
        wings = np.clip(wings + 0.35 * (goal - wings) + 0.015 * rng.normal(size=shape + (2,)), 0, WING_MAX)

    return {"pose": poses.transpose(1, 0, 2, 3), "behaviour": behaviours.transpose(1, 0, 2)}


def annotate(behaviour, rng, chance=ANNOTATE):
    """Expert-like labels [M, F, 2]: each bout of behaviour is labelled with probability chance[class], else -1."""
    labels = np.full(behaviour.shape, -1, np.int64)
    for m in range(behaviour.shape[0]):
        for fly in range(behaviour.shape[2]):
            for start, end, c in bouts(behaviour[m, :, fly]):
                if rng.random() < chance[c]:
                    labels[m, start:end, fly] = c
    return labels
