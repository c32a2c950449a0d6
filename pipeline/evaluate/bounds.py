"""The scale of Table 1 (issue 29): two non-learned predictors of the first `score_windows` test
windows, continued like the models' (K samples of H steps after the seed) and scored by the same
KDE rules (evaluate.kde.bound_scores), so the page can say where the models sit between them.

  upper  the simulator's own continuations from its true hidden state at the seed's end (embedded
         data only): fly_sim.simulate replayed with the test split's random stream on K copies
         of its movies, the copies parting ways at the seed's last frame (ForkRng)
  lower  a constant-velocity random walk: the last seed motion (body frame) integrated in the dish,
         with Gaussian steps on it of the training motion's per-frame change sd
From benchmarks/flies_probe.py (docs/flies_probe.md sec. 2-3)."""
import numpy as np

from pipeline import PipelineError
from pipeline.data import fly_sim
from pipeline.data import flies as flies_data
from pipeline.data.fly_geometry import integrate


class ForkRng:
    """A numpy Generator stand-in for fly_sim.simulate run on K copies of M movies (rows k * M + m):
    until fork() every draw is the original stream's draw for M movies, tiled K times, so every copy
    replays the original simulation exactly; after it each copy draws from its own `branch` stream."""

    def __init__(self, rng, K, branch_seed):
        self.rng, self.K, self.forked = rng, K, False
        self.branch = np.random.default_rng(branch_seed)

    def fork(self):
        self.forked = True

    def _draw(self, name, args, size):
        if self.forked:
            return getattr(self.branch, name)(*args, size=size)
        out = getattr(self.rng, name)(*args, size=(size[0] // self.K, *size[1:]))
        return np.tile(out, (self.K,) + (1,) * (len(size) - 1))

    def random(self, size):
        return self._draw("random", (), size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._draw("normal", (loc, scale), size)

    def uniform(self, low, high, size):
        return self._draw("uniform", (low, high), size)

    def integers(self, low, high, size):
        return self._draw("integers", (low, high), size)

    def choice(self, a, size):
        return self._draw("choice", (a,), size)


def simulator_continuations(data, cfg, n, K):
    """The simulator's K continuations [n, K, H, 2, 2] of the first n test windows from its true state
    at the seed's end (frame seed_steps); checks that the replayed seed is the prepared one."""
    T0, H, length = cfg["seed_steps"], cfg["horizon"], cfg["window"]
    frames = max(cfg["sim_frames"] or 1800, length + 1)
    per_movie = len(flies_data.window_starts(np.ones(frames, bool), length, cfg.get("stride") or length))
    M = -(-(cfg["test_windows"] or 64) // per_movie)
    movie, start = data["test_movie"][:n], data["test_start"][:n]
    out = np.zeros((n, K, H, 2, 2))
    for s in np.unique(start):
        stream = np.random.SeedSequence(cfg["data_seed"]).spawn(len(flies_data.SPLITS))[flies_data.SPLITS.index("test")]
        rng = ForkRng(np.random.default_rng(stream), K, [cfg["data_seed"], int(s)])
        sim = fly_sim.simulate(K * M, int(s) + T0 + H + 1, rng, radius=float(cfg["arena_radius"]),
                               fps=float(cfg["fps"]), fork_at=int(s) + T0)
        pose = sim["pose"].reshape(K, M, *sim["pose"].shape[1:])             # [K, M, F, 2, S]
        for i in np.flatnonzero(start == s):
            replay = pose[:, movie[i], s:s + T0 + 1, :, :2]
            if not np.allclose(replay, data["test_pose"][i, :T0 + 1, :, :2], atol=1e-4):
                raise PipelineError("flies bounds: the simulator's replay differs from the prepared test windows; "
                                    "prepare the data again (dvc repro prepare_flies)")
            out[i] = pose[:, movie[i], s + T0 + 1:s + T0 + 1 + H, :, :2]
    return out


def cv_continuations(data, n, K, T0, H, rng=None):
    """Constant-velocity continuations [n, K, H, 2, 2] of the first n test windows: the motion of the
    seed's last step held in the body frame and integrated in the dish; with `rng`, a random walk on
    that motion whose step sd is the training motion's per-frame change sd."""
    fps, radius = float(data["fps"]), np.asarray(data["test_radius"][:n], np.float64)
    motion = np.repeat(np.asarray(data["test_motion"][None, :n, T0 - 1], np.float64), K, 0)   # [K, n, 2, D]
    pose = np.repeat(np.asarray(data["test_pose"][None, :n, T0], np.float64), K, 0)            # [K, n, 2, S]
    step_sd = np.diff(np.asarray(data["train_motion"], np.float64), axis=1).reshape(-1, motion.shape[-1]).std(0)
    out = np.zeros((K, H, n, 2, 2))
    for t in range(H):
        if rng is not None:
            motion = motion + step_sd * rng.normal(size=motion.shape)
        pose = integrate(pose, motion, radius[None, :], fps)
        out[:, t] = pose[..., :2]
    return np.transpose(out, (2, 0, 1, 3, 4))


def bounds(data, cfg, simulated):
    """{"truth", "radius", "lower", and "upper" when `simulated`}: the arrays of bounds_flies."""
    n, K, T0, H = min(cfg["score_windows"], len(data["test_pose"])), cfg["continuations"], cfg["seed_steps"], cfg["horizon"]
    out = {"truth": data["test_pose"][:n, T0 + 1:T0 + 1 + H, :, :2], "radius": data["test_radius"][:n],
           "lower": cv_continuations(data, n, K, T0, H, np.random.default_rng(0))}
    if simulated:
        out["upper"] = simulator_continuations(data, cfg, n, K)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}
