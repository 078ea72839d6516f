"""Timelapse recording (no torch): `skyviewer record`, see docs/recording.md.

config.py (RecordConfig, checks), recorder.py (the deterministic loop), views.py (camera,
equirect, fisheye, cube through the dome's projections), writers.py (mp4, gif, png, exr behind
one Writer interface), spherical.py (360 metadata boxes in the MP4).
"""
