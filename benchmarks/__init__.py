"""skakd's benchmarks, one module per benchmark.

Run them from the repository root as modules, e.g.
``python -m benchmarks.label_efficiency --quick``. Each writes its results
under ``benchmarks/results/`` and, for a full run, its page under
``docs/benchmarks/``; :mod:`benchmarks._report` holds what they all write
(machine info, JSON and CSV files, markdown tables, the generated section of
a page) and :mod:`benchmarks._common` the data they share.
"""
