"""`skyviewer eval`: quality metrics of a sky package against held-out data (docs/eval.md).

swd.py     Laplacian-pyramid sliced Wasserstein distance (Karras et al. 2018)
stats.py   per-frame statistics along a rollout (change, brightness, colour, non-finite values)
sun.py     locating the sun in a generated frame (conditioning error)
fid.py     Frechet distance (Heusel et al. 2017) and the optional Inception feature extractor
frames.py  frames as the metrics see them: area resampling, encoding, luma
views.py   perspective (display) views of fisheye frames: SWD against sharp references, sharpness
motion.py  cloud motion per zenith-angle band (speed, size, correlation, change) and drift vs wind
display.py what the display-view and motion sections generate and render (SkySim references)
evaluate.py  generation through SkyModel and the report's numbers
report.py  JSON + PNG plots, written atomically; the printed target table
commands.py  the CLI subcommand

Nothing here imports torch except run-folder export and FID, lazily.
"""
