"""The experiments that make the stored results the lessons read (``benchmarks/results/``).

Each module is a script (``python experiments/NAME.py --help``) and importable, so that a lesson
reads a run's settings from the script that made it: ``from experiments import beyond``.

- ``toy_table``, ``toy_long``, ``toy_levers``: lesson 07's 2-D tables and long runs;
- ``robustness`` (with ``digits_grid``, the digits GAN driver): lesson 08's grid on 8x8 digits;
- ``cifar_small_run``: lesson 09's small CPU run on CIFAR-10;
- ``beyond``: lesson 10's conditional runs;
- ``result_files``: whole-row appends, whole-file replaces and one writer at a time, for all.

The speed benchmarks stay in ``benchmarks/``.
"""
