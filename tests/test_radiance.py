"""Radiance encoding and the tone-mapping reference."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from skyviewer.runtime.radiance_graph import RadianceDecoder
from skyviewer.sky import tonemap
from skyviewer.sky.radiance import ENCODING, SUN, luminance, to_storage


def test_encoding_covers_at_least_20_stops_onto_unit_range():
    assert ENCODING.stops >= 20
    assert ENCODING.encode(np.float64(0.0)) == pytest.approx(-1.0)
    assert ENCODING.encode(np.float64(ENCODING.x_max)) == pytest.approx(1.0)


def test_encoding_round_trip_over_full_range():
    x = np.concatenate([[0.0], np.logspace(-5, np.log10(ENCODING.x_max), 2000)])
    back = ENCODING.decode(ENCODING.encode(x))
    np.testing.assert_allclose(back, x, rtol=1e-9, atol=1e-12)


def test_encoding_is_monotonic_and_clamps():
    x = np.logspace(-6, 6, 500)
    e = ENCODING.encode(x)
    assert np.all(np.diff(e) >= 0)
    assert e.min() >= -1 and e.max() == 1.0  # the sun beyond x_max is clamped


def test_encoding_same_in_torch():
    x = np.logspace(-3, 4, 100)
    e_np = ENCODING.encode(x)
    e_t = ENCODING.encode(torch.from_numpy(x))
    np.testing.assert_allclose(e_t.numpy(), e_np, atol=1e-12)
    np.testing.assert_allclose(ENCODING.decode(e_t).numpy(), x, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])  # fp32 and fp16 packages' frames
def test_radiance_graph_is_decode_to_float16_hwc(dtype):
    rng = np.random.default_rng(0)
    chw = rng.uniform(-1.2, 1.2, (3, 24, 24)).astype(dtype)  # beyond the range: clamped
    expected = ENCODING.decode(chw.astype(np.float64)).transpose(1, 2, 0).astype(np.float16)
    decoder = RadianceDecoder(ENCODING, ["CPUExecutionProvider"], ort.SessionOptions())
    got = decoder.to_host(ort.OrtValue.ortvalue_from_numpy(chw[None]))
    assert got.shape == (24, 24, 3) and got.dtype == np.float16
    # float32 arithmetic against float64: at most one float16 rounding step apart
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=1e-3, atol=1e-7)


def test_manifest_entries_carry_the_constants():
    m = ENCODING.to_manifest()
    assert m["eps"] == ENCODING.eps and m["x_max"] == ENCODING.x_max and "log2" in m["formula"]
    assert SUN.to_manifest()["angular_radius_deg"] == pytest.approx(0.2666)


def test_storage_is_float16_and_clamped():
    s = to_storage(np.array([-1.0, 5.0, 1e9]))
    assert s.dtype == np.float16 and s[0] == 0 and s[2] == np.float16(ENCODING.x_max)


def test_srgb_round_trip_and_known_values():
    x = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(tonemap.srgb_decode(tonemap.srgb_encode(x)), x, atol=1e-12)
    assert tonemap.srgb_encode(np.float64(0.18)) == pytest.approx(0.4613561, abs=1e-6)


def test_tonemap_is_monotonic_and_bounded():
    y = np.logspace(-3, 5, 300)[:, None] * np.ones(3)
    out = tonemap.tonemap(y, key_nits=100.0)
    assert np.all(np.diff(out[:, 1]) >= 0) and out.min() >= 0 and out.max() <= 1
    # Middle grey stays a mid tone; far above the key saturates to white.
    mid = tonemap.tonemap(np.full(3, 100.0), key_nits=100.0)
    assert 0.3 < mid[1] < 0.5
    assert tonemap.tonemap(np.full(3, 1e6), key_nits=100.0)[1] == pytest.approx(1.0, abs=1e-3)


def test_exposure_in_stops_scales_like_radiance():
    rgb = np.array([[3.0, 2.0, 1.0]])
    np.testing.assert_allclose(
        tonemap.tonemap(rgb, 10.0, exposure_stops=1.0), tonemap.tonemap(2 * rgb, 10.0), atol=1e-12
    )


def test_auto_key_is_log_average_luminance_inside_mask():
    rgb = np.ones((2, 2, 3))
    rgb[0, 0] = 100.0
    mask = np.array([[True, True], [False, False]])
    assert tonemap.auto_key_nits(rgb, mask) == pytest.approx(10.0)
    assert luminance(np.ones(3)) == pytest.approx(1.0)
