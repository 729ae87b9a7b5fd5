"""The benchmark suite: every variant against its baseline.

`resvariants bench [--quick] [--output DIR]` (see `cli.py`) times each
comparison group (`groups.py`) in its own process (`worker.py`,
`harness.py`), with paired per-round ratios and a plain-vs-plain control
(`stats.py`, `analysis.py`), and writes a Markdown table and a PNG chart
(`report.py`). `resvariants bench --accuracy` trains each family's small
network and its baseline on Fashion-MNIST (`accuracy.py`); `resvariants
study` runs the paired study of every paper's claim and keeps one result
file per run (`study.py`).

Nothing here is imported by `import keras_resvariants`.
"""
