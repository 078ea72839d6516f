"""`skyviewer dataset synth` (+ info, preview): scenarios, reproducibility, the CLI end to end."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from PIL import Image

import skyviewer.cli
from skyviewer.data import preview, synth
from skyviewer.data.store import SkyDataset
from skyviewer.errors import UserError
from skyviewer.sky.solar import solar_position

TINY = ["--sequences", "4", "--frames", "3", "--resolution", "32", "--seed", "5"]
TINY_SETTINGS = synth.SynthSettings(sequences=4, frames=3, resolution=32, seed=5)


@pytest.fixture
def cli(monkeypatch):
    """skyviewer's main() with only the dataset stage registered (other stages are not under test)."""
    monkeypatch.setattr(skyviewer.cli, "COMMAND_MODULES", ("skyviewer.data.commands",))
    return skyviewer.cli.main


def scenarios(ranges: synth.ScenarioRanges, n: int = 150) -> list[synth.Scenario]:
    return [synth.sample_scenario(np.random.default_rng(synth.sequence_seed(0, i)), ranges) for i in range(n)]


def test_scenarios_are_reproducible_in_range_and_in_phase():
    ranges = synth.ScenarioRanges()
    drawn = scenarios(ranges)
    assert drawn == scenarios(ranges)
    for name in ("latitude_deg", "turbidity", "cloud_cover", "cirrus_cover", "wind_speed_mps"):
        lo, hi = getattr(ranges, name)
        values = [getattr(s, name) for s in drawn]
        assert lo <= min(values) and max(values) <= hi
        assert max(values) - min(values) > 0.8 * (hi - lo)  # spread over the range, not stuck
    for s in drawn:
        start = np.datetime64(s.start_utc.rstrip("Z")).astype("datetime64[s]").astype(float)
        elevation = float(solar_position(s.latitude_deg, s.longitude_deg, start)[0])
        lo, hi = synth.PHASES[s.phase]
        assert lo <= elevation < hi and elevation == pytest.approx(s.sun_elevation_deg, abs=0.01)
    share = {p: sum(s.phase == p for s in drawn) / len(drawn) for p in synth.PHASES}
    assert share["day"] > 0.4 and min(share.values()) > 0.03


def test_phase_weights_fall_back_when_the_day_lacks_the_phase():
    polar_nights = synth.ScenarioRanges(latitude_deg=(85.0, 85.0), phase_weights={"night": 1.0})
    drawn = scenarios(polar_nights, 40)
    for s in drawn:
        if s.phase != "night":  # allowed only on a day without night (polar summer)
            midnight = np.datetime64(s.start_utc[:10]).astype("datetime64[s]").astype(float)
            day = midnight + 60.0 * np.arange(24 * 60)
            assert solar_position(85.0, s.longitude_deg, day)[0].min() >= synth.PHASES["night"][1]
    assert 0 < sum(s.phase == "night" for s in drawn) < len(drawn)


def test_sequence_seeds_are_distinct():
    seeds = {synth.sequence_seed(s, i) for s in range(3) for i in range(1000)}
    assert len(seeds) == 3000


def test_settings_are_checked():
    with pytest.raises(UserError, match="--frames"):
        synth.SynthSettings(frames=0)
    with pytest.raises(UserError, match="--heldout-fraction"):
        synth.SynthSettings(heldout_fraction=1.5)


def test_cli_synth_info_preview(cli, tmp_path, capsys):
    out = tmp_path / "sky"
    assert cli(["dataset", "synth", "--out", str(out), "--workers", "2", *TINY]) == 0
    ds = SkyDataset.open(out)
    assert (ds.num_sequences, ds.num_frames, ds.resolution, ds.step_seconds) == (4, 12, 32, 20.0)
    assert ds.sequence_ids("heldout") == ["seq-00000"]
    for i, seq_id in enumerate(ds.sequence_ids()):  # any worker count gives what index i renders alone
        np.testing.assert_array_equal(ds.frames(seq_id), synth.render_sequence(TINY_SETTINGS, i).frames)
        assert ds.records[seq_id].attributes["scenario"]["phase"] in synth.PHASES
    assert {f.name for f in fields(synth.SynthSettings)} <= set(ds.manifest["provenance"]["args"])
    frames = np.stack([ds.frames(i) for i in ds.sequence_ids()]).astype(np.float32)
    assert np.isfinite(frames).all() and frames.max() > 0

    capsys.readouterr()
    assert cli(["dataset", "info", str(out), "--verify"]) == 0
    info = capsys.readouterr().out
    assert "sequences   4: train: 3, heldout: 1" in info and "skysim: 4" in info and "32 x 32" in info

    assert (
        cli(["dataset", "preview", str(out), "--out", str(tmp_path / "prev"), "--sequence", "seq-00002"]) == 0
    )
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "prev" / "contact-sheet.png"), str(tmp_path / "prev" / "seq-00002.gif")]
    with Image.open(printed[0]) as sheet:
        assert sheet.size == (3 * preview.TILE, 4 * (preview.HEADER + preview.TILE))
    with Image.open(printed[1]) as gif:
        assert (gif.size, gif.n_frames) == ((preview.GIF_SIZE, preview.GIF_SIZE), 3)


def test_cli_interrupt_resume_overwrite(cli, tmp_path, monkeypatch, capsys):
    out, ref = tmp_path / "sky", tmp_path / "ref"
    render = synth.render_sequence

    def interrupted(settings, index):
        if index == 2:
            raise KeyboardInterrupt
        return render(settings, index)

    monkeypatch.setattr(synth, "render_sequence", interrupted)
    assert cli(["dataset", "synth", "--out", str(out), *TINY]) == 130
    monkeypatch.setattr(synth, "render_sequence", render)
    assert not out.exists() and (tmp_path / "sky.partial").exists()
    capsys.readouterr()
    assert cli(["dataset", "synth", "--out", str(out), *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli(["dataset", "synth", "--out", str(out), "--resume", *TINY[:-1], "6"]) == 2
    assert "different settings" in capsys.readouterr().err

    assert cli(["dataset", "synth", "--out", str(out), "--resume", *TINY]) == 0
    assert cli(["dataset", "synth", "--out", str(ref), *TINY]) == 0
    resumed, fresh = SkyDataset.open(out), SkyDataset.open(ref)
    assert resumed.manifest["shards"] == fresh.manifest["shards"]  # identical files (sha256)
    assert resumed.manifest["sequences"] == fresh.manifest["sequences"]

    assert cli(["dataset", "synth", "--out", str(out), *TINY]) == 2
    assert "already exists" in capsys.readouterr().err
    smaller = ["--sequences", "2", "--frames", "2", "--resolution", "32"]
    assert cli(["dataset", "synth", "--out", str(out), "--overwrite", *smaller]) == 0
    assert SkyDataset.open(out).num_frames == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref", "sky"]  # no .partial or .old left


def test_cli_synth_with_patches_stores_the_frames_at_the_patch_resolution(cli, tmp_path):
    from dataclasses import asdict

    from skyviewer.data.skysim import SimConfig, SkySim

    out = tmp_path / "sky"
    args = ["--sequences", "2", "--frames", "2", "--resolution", "16", "--seed", "3"]
    patches = ["--patch-resolution", "64", "--patch-size", "8", "--patches-per-frame", "3"]
    assert cli(["dataset", "synth", "--out", str(out), *args, *patches]) == 0
    assert cli(["dataset", "info", str(out), "--verify"]) == 0
    ds = SkyDataset.open(out)
    assert ds.patch_spec["resolution"] == 64
    for seq_id in ds.sequence_ids():
        attributes = ds.records[seq_id].attributes
        scenario = attributes["scenario"]
        fields = {k: v for k, v in scenario.items() if k not in ("phase", "sun_elevation_deg")}
        big = SkySim(SimConfig(resolution=64, step_seconds=20.0, **fields), attributes["seed"])
        positions = ds.patch_positions(seq_id)
        assert positions.shape == (2, 3, 2) and positions.min() >= 0 and positions.max() <= 64 - 8
        for k in range(2):
            frame = big.frame(k)[0].astype(np.float16)
            for (r, c), patch in zip(positions[k], ds.patches(seq_id)[k], strict=True):
                np.testing.assert_allclose(patch, frame[r : r + 8, c : c + 8], rtol=2e-3, atol=1e-3)
        meta = ds.meta(seq_id)
        np.testing.assert_allclose(meta["wind_speed_mps"], scenario["wind_speed_mps"], rtol=1e-6)
        np.testing.assert_allclose(meta["wind_towards_deg"], scenario["wind_towards_deg"], rtol=1e-6)
        np.testing.assert_allclose(meta["cirrus_cover"], scenario["cirrus_cover"], rtol=1e-6)
    assert asdict(synth.SynthSettings())["patch_resolution"] == 0  # no patches unless asked for
    with pytest.raises(UserError, match="--patch-resolution must be >= --resolution"):
        synth.SynthSettings(resolution=64, patch_resolution=32)
