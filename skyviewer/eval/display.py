"""The eval's display-view and motion sections: what is generated and rendered for them.

Display views (views.py): the model draws a start frame under the conditions of held-out frames;
where the dataset records how a sky was made (synth's `scenario` and `seed` attributes), the
reference is that sky rendered by SkySim along the views' own rays (SkySim.render_directions:
exact, no fisheye in between) and the floor another draw of that sky under the same conditions:
other clouds and another turbidity, the scenario values a package is not told (view_section).

Motion (motion.py): each chain's window of consecutive rollout frames (evaluate.generate) against
the held-out sequences, both at one analysis resolution, daylight only (sun above
MIN_SUN_ELEVATION_DEG: at night the clouds are barely visible and their motion is noise); the drift of
each against the wind its sequence was made with (data) or was asked for (model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np

from skyviewer.data.store import SkyDataset
from skyviewer.eval import motion as mo
from skyviewer.eval.frames import to_resolution
from skyviewer.eval.views import Viewer, ViewSet, view_figures

REFERENCE_FRAME_PX = 16
"""SkySim's own fisheye frame is not used for the views (they are rendered ray by ray): kept small."""
OTHER_DRAW = 7_919
"""Added to a sequence's seed for the floor's draw of its sky: other clouds, another turbidity."""
MIN_SUN_ELEVATION_DEG = -6.0
"""Motion is measured in skies lit at least as at the end of civil twilight."""


def pick_frames(held, count: int, seed: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """`count` (sequence, frame) pairs from each held-out half, going round the half's sequences."""
    rng = np.random.default_rng(seed)
    return tuple(
        [
            (half[j % len(half)], int(rng.integers(len(held.frames[half[j % len(half)]]))))
            for j in range(count)
        ]
        for half in held.half_indices()
    )


class Reference:
    """Reference views at display quality: SkySim rendering the views' rays where the dataset says
    how its skies were made."""

    def __init__(self, dataset: SkyDataset):
        self.dataset = dataset

    def config(self, seq_id: str, resolution: int = REFERENCE_FRAME_PX):
        """The sequence's SimConfig for `resolution` px frames, or None if the dataset does not say
        how it was made."""
        from skyviewer.data.synth import scenario_config

        record = self.dataset.records[seq_id]
        scenario, seed = record.attributes.get("scenario"), record.attributes.get("seed")
        if seed is None:
            return None
        try:
            return scenario_config(scenario, resolution, record.step_seconds)
        except (KeyError, TypeError):  # not a synth sequence
            return None

    def simulator(self, seq_id: str, other_draw: bool = False, resolution: int = REFERENCE_FRAME_PX):
        """SkySim drawing the sequence's sky (`resolution` px frames), or None if the dataset does not
        say how it was made. other_draw: the same conditions (sun, time, cloud and cirrus cover,
        wind) under another seed and another turbidity, drawn as `dataset synth` draws it."""
        from skyviewer.data.skysim import SkySim
        from skyviewer.data.synth import ScenarioRanges

        config = self.config(seq_id, resolution)
        if config is None:
            return None
        seed = int(self.dataset.records[seq_id].attributes["seed"]) + (OTHER_DRAW if other_draw else 0)
        if other_draw:
            low, high = ScenarioRanges().turbidity
            config = replace(config, turbidity=float(np.random.default_rng(seed).uniform(low, high)))
        return SkySim(config, seed % 2**32)

    def add(self, views: ViewSet, seq_id: str, t: int, other_draw: bool = False) -> None:
        """Add the views of frame t: SkySim rendering the views' rays directly (see simulator), or
        the dataset's own frame where it cannot."""
        sim = self.simulator(seq_id, other_draw)
        if sim is None:
            views.add(np.asarray(self.dataset.frames(seq_id)[t], np.float32))
            return
        viewer = views.viewer
        views.add_views(viewer.encode(sim.render_directions(t, viewer.rays, viewer.pixel_angles)))

    def add_fisheye(self, views: ViewSet, seq_id: str, t: int, resolution: int) -> None:
        """Add the views of frame t of the floor's sky (the other draw) as SkySim draws it into a
        `resolution` px fisheye: what a decoder of that size shows at best."""
        views.add(self.simulator(seq_id, other_draw=True, resolution=resolution).frame(t)[0])


def view_section(model, held, cfg, progress) -> tuple[dict, dict[str, ViewSet]]:
    """Display-view figures (views.view_figures) and the view sets, for the report's picture.

    The model draws a start frame under the conditions of each picked half-A frame. Where every
    picked sky can be re-rendered, the reference is those skies along the views' rays and the floor
    another draw of each under the same conditions (Reference.add's other_draw): both comparisons
    then share their conditions, and the floor is the variety of what the package is not told
    (the clouds, the turbidity), not the mix of skies two small halves happen to hold (with 12
    skies a half that mix was ~4x the descriptors' sampling noise, and it hid most of a 64 px sky's
    blur). The floor's skies are then also drawn into a fisheye of the model's size and viewed
    like the model's frames: the figures' "fisheye" entry, what that size alone costs.
    Otherwise: reference half B, floor half A (as the native SWD)."""
    from skyviewer.eval.evaluate import ask_conditions

    viewer, reference = Viewer(cfg.views), Reference(SkyDataset.open(held.path))
    sets = {k: ViewSet(viewer) for k in ("model", "reference", "floor")}
    picks_a, picks_b = pick_frames(held, cfg.view_frames, cfg.seed)
    matched = all(reference.config(held.ids[seq]) is not None for seq, _ in picks_a)
    if matched:
        sets["fisheye"] = ViewSet(viewer)
    for i, (seq, t) in enumerate(picks_a):
        ask_conditions(model, held, seq, t)
        model.reset(cfg.seed + 1_000_000 + i)
        sets["model"].add(model.frame().astype(np.float32))
        if matched:
            reference.add(sets["reference"], held.ids[seq], t)
            reference.add(sets["floor"], held.ids[seq], t, other_draw=True)
            reference.add_fisheye(sets["fisheye"], held.ids[seq], t, model.resolution)
        else:
            reference.add(sets["floor"], held.ids[seq], t)
        progress.update(4 if matched else 2)
    for seq, t in [] if matched else picks_b:
        reference.add(sets["reference"], held.ids[seq], t)
        progress.update(1)
    figures = view_figures(sets["model"], sets["floor"], sets["reference"], cfg.swd, sets.get("fisheye"))
    figures["reference"] = (
        "SkySim rendering the views' rays under the model's conditions; floor: other clouds and turbidity"
        if matched
        else f"held-out half B at the dataset's {reference.dataset.resolution} px; floor: half A"
    )
    figures["settings"] = asdict(cfg.views)
    figures["model_resolution"] = model.resolution  # the fisheye the views sample
    return figures, sets


def _daylight(sun_dir: np.ndarray) -> bool:
    return float(sun_dir[1]) >= math.sin(math.radians(MIN_SUN_ELEVATION_DEG))


def _drift_summary(frames, winds, step_seconds: float, altitude_m: float, settings) -> dict:
    """Median direction error and speed ratio of each sequence's drift against its wind."""
    errors = [
        mo.wind_error(mo.drift_velocity(f, step_seconds, altitude_m, settings), w)
        for f, w in zip(frames, winds, strict=True)
    ]
    direction = np.array([e["direction_error_deg"] for e in errors])
    speed = np.array([e["speed_ratio"] for e in errors])
    ok = np.isfinite(direction)
    return {
        "sequences": int(ok.sum()),
        "direction_error_deg": float(np.median(direction[ok])) if ok.any() else math.nan,
        "speed_ratio": float(np.median(speed[ok])) if ok.any() else math.nan,
    }


def motion_section(generated, held, cfg, step_seconds: float) -> dict:
    """Band figures of the model's motion windows and of the held-out sequences, their ratios, and the
    drift of both against the wind."""
    n = generated.motion_frames.shape[2]
    model_seqs = [
        f for f, s in zip(generated.motion_frames, generated.motion_sun, strict=True) if _daylight(s)
    ]
    data_idx = [i for i in range(len(held.frames)) if _daylight(held.sun_dir[i][0])]
    data_seqs = [to_resolution(held.sequence_radiance(i), n) for i in data_idx]
    model_fig = mo.motion_figures(model_seqs, n, cfg.motion)
    data_fig = mo.motion_figures(data_seqs, n, cfg.motion)
    model_winds = [
        w for w, s in zip(generated.motion_wind, generated.motion_sun, strict=True) if _daylight(s)
    ]
    data_winds = [
        np.nanmean(held.wind[i], axis=0) if np.isfinite(held.wind[i]).any() else held.wind[i][0]
        for i in data_idx
    ]
    return {
        "resolution": n,
        "model_sequences": len(model_seqs),
        "data_sequences": len(data_seqs),
        "model": model_fig,
        "data": data_fig,
        "ratios": mo.ratios(model_fig, data_fig),
        "drift": {
            "altitude_m": cfg.cloud_altitude_m,
            "model": _drift_summary(model_seqs, model_winds, step_seconds, cfg.cloud_altitude_m, cfg.motion),
            "data": _drift_summary(
                data_seqs, data_winds, held.step_seconds or step_seconds, cfg.cloud_altitude_m, cfg.motion
            ),
        },
    }
