"""eval.views: perspective views of fisheye frames land where the camera looks, and a blurred sky reads
as less sharp and further from sharp references than sharp skies do."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from skyviewer.data.store import SkyDataset
from skyviewer.data.synth import ScenarioRanges, SynthSettings, synthesize
from skyviewer.eval.display import Reference
from skyviewer.eval.frames import to_resolution
from skyviewer.eval.swd import SWDSettings
from skyviewer.eval.views import BELOW_HORIZON, Viewer, ViewSet, ViewSettings, view_figures
from skyviewer.render.camera import Camera
from skyviewer.sky.projection import direction_from_angles, fisheye_directions
from skyviewer.sky.radiance import ENCODING

SMALL = ViewSettings(width=128, height=72, pitches_deg=(10.0, 45.0), yaws_deg=(0.0, 180.0))


def test_a_bright_spot_appears_where_the_camera_projects_it_and_the_ground_is_not_sky():
    n = 256
    dirs, mask = fisheye_directions(n)
    spot = direction_from_angles(np.radians(60.0), np.radians(10.0))  # 30 deg up, 10 deg east of north
    spot_pixels = dirs @ spot > np.cos(np.radians(1.0))
    frame = (np.where(mask, 100.0, 0.0) + 1e4 * spot_pixels)[..., None] * np.ones(3)
    viewer = Viewer(SMALL)
    views = viewer.views(frame.astype(np.float32))
    assert views.shape == (4, 3, 72, 128)
    col, row = Camera(0.0, 10.0, 60.0).project(spot, 128, 72)
    brightest = np.unravel_index(np.argmax(views[0, 0]), (72, 128))
    assert brightest == pytest.approx((row, col), abs=1.5)
    # Pitch 10 deg, 60 deg tall: the lower 20 deg of the view is below the horizon.
    below = ~viewer.sky[0]
    assert below[-1].all() and not below[0].any() and (views[0][:, below] == BELOW_HORIZON).all()
    assert below.mean() == pytest.approx(np.tan(np.radians(20)) / (2 * np.tan(np.radians(30))), abs=0.05)


def cloudy(n: int, seed: int) -> np.ndarray:
    """(n, n, 3) nits: sky with sharp-edged clouds (thresholded fine noise)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n // 4, n // 4))
    noise = np.repeat(np.repeat(noise, 4, 0), 4, 1)
    clouds = (noise > 0.5)[..., None]
    sky = np.where(clouds, [8000.0, 8000.0, 8000.0], [2000.0, 3000.0, 6000.0])
    return (sky * fisheye_directions(n)[1][..., None]).astype(np.float32)


def test_a_blurred_sky_is_less_sharp_and_further_from_sharp_references():
    viewer = Viewer(SMALL)
    sets = {k: ViewSet(viewer) for k in ("sharp", "blurred", "a", "b")}
    for i in range(3):
        sharp = cloudy(512, i)
        sets["sharp"].add(sharp)
        sets["blurred"].add(to_resolution(sharp[None], 32)[0])
        sets["a"].add(cloudy(512, 10 + i))
        sets["b"].add(cloudy(512, 20 + i))
    settings = SWDSettings(min_descriptors=512)
    sharp = view_figures(sets["sharp"], sets["a"], sets["b"], settings)
    blurred = view_figures(sets["blurred"], sets["a"], sets["b"], settings)
    assert sharp["sharpness"]["gradient_ratio"] == pytest.approx(1.0, abs=0.2)
    assert blurred["sharpness"]["gradient_ratio"] < 0.5 * sharp["sharpness"]["gradient_ratio"]
    assert blurred["sharpness"]["high_frequency_ratio"] < 0.2 * sharp["sharpness"]["high_frequency_ratio"]
    assert sharp["ratio"] < 1.5 < blurred["ratio"]
    assert blurred["levels"][0] > 3 * blurred["floor_levels"][0]  # the finest band shows it most


def test_views_are_encoded_radiance():
    frame = np.full((64, 64, 3), 1000.0, np.float32)
    views = Viewer(SMALL).views(frame)
    sky = Viewer(SMALL).sky
    assert views[:, 0][sky] == pytest.approx(float(ENCODING.encode(np.float32(1000.0))), abs=1e-5)


def test_the_floor_redraws_the_clouds_and_the_turbidity_the_package_is_not_told(tmp_path):
    """The floor is another sample of the sky under the model's conditions: other clouds and a
    turbidity drawn as `dataset synth` draws it, everything else (place, time, covers, wind) kept."""
    settings = SynthSettings(sequences=2, frames=1, resolution=16, seed=3)
    out = synthesize(settings, tmp_path / "d", progress=False)
    reference = Reference(SkyDataset.open(out))
    for seq_id in reference.dataset.sequence_ids():
        sky, other = reference.simulator(seq_id), reference.simulator(seq_id, other_draw=True)
        assert other.seed != sky.seed
        low, high = ScenarioRanges().turbidity
        assert low <= other.config.turbidity <= high and other.config.turbidity != sky.config.turbidity
        assert replace(other.config, turbidity=sky.config.turbidity) == sky.config


def test_the_horizon_figure_reads_a_band_of_haze_in_stops():
    """A sky one stop brighter within 3 deg of the horizon reads +1 stop in the bands below 3 deg
    and 0 above; the pitch-10 views see those bands, the pitch-45 ones do not."""
    n = 512
    dirs, _ = fisheye_directions(n)
    elevation = np.degrees(np.arcsin(np.clip(dirs[..., 1], -1, 1)))
    sky = cloudy(n, 0)
    hazy = sky * np.where(elevation < 3.0, 2.0, 1.0)[..., None]
    viewer = Viewer(SMALL)
    sets = {k: ViewSet(viewer) for k in ("model", "a", "b")}
    sets["model"].add(hazy)
    sets["a"].add(sky)
    sets["b"].add(sky)
    horizon = view_figures(sets["model"], sets["a"], sets["b"], SWDSettings(min_descriptors=64))["horizon"]
    assert horizon["bands_deg"][:2] == [[0.0, 1.0], [1.0, 3.0]]
    # Bilinear sampling of the fisheye blurs the 3 deg edge by a texel (0.35 deg) or so.
    assert horizon["stops"][0] == pytest.approx(1.0, abs=0.02)
    assert horizon["stops"][1] == pytest.approx(1.0, abs=0.15)
    assert horizon["stops"][2] == pytest.approx(0.0, abs=0.1)


def test_skysim_through_a_larger_fisheye_comes_closer_to_its_own_rays(tmp_path):
    """The "fisheye" entry: the floor's skies drawn into a fisheye and viewed like a model's frames,
    measured with the same floor. A 32 px fisheye smears what a 256 px one keeps."""
    settings = SynthSettings(sequences=2, frames=1, resolution=16, seed=3)
    reference = Reference(SkyDataset.open(synthesize(settings, tmp_path / "d", progress=False)))
    viewer = Viewer(SMALL)
    sets = {k: ViewSet(viewer) for k in ("reference", "floor", "fisheye_32", "fisheye_256")}
    for seq_id in reference.dataset.sequence_ids():
        reference.add(sets["reference"], seq_id, 0)
        reference.add(sets["floor"], seq_id, 0, other_draw=True)
        reference.add_fisheye(sets["fisheye_32"], seq_id, 0, 32)
        reference.add_fisheye(sets["fisheye_256"], seq_id, 0, 256)
    data = sets["floor"], sets["reference"], SWDSettings(min_descriptors=256)
    coarse = view_figures(sets["fisheye_32"], *data, fisheye=sets["fisheye_256"])
    fine = coarse["fisheye"]
    assert fine["floor"] == coarse["floor"] and fine["ratio"] < coarse["ratio"]
    assert fine["sharpness"]["gradient_ratio"] > 2 * coarse["sharpness"]["gradient_ratio"]
