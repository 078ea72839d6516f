"""Real sky captures into SkySequences (docs/importing.md).

laval.py, images.py, video.py   find a source's frames and their capture times (Candidates)
pipeline.py                     the shared path: decode -> check -> canonical fisheye -> sequences
decode.py                       image files -> linear radiance in nits, radiance checks
timestamps.py                   capture times from folder/file names and EXIF
report.py                       what was imported, skipped (and why) and noted
commands.py                     `skyviewer dataset import`
"""
