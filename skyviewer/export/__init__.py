"""torch -> sky package: ONNX export, op-set check, parity, fp16 variants, manifest (docs/package.md).

`skyviewer.export.package.export_package` is the entry point; `skyviewer export` its command.
"""
