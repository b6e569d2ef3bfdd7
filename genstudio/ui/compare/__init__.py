"""Compare runs: one module per view of the compare tab.

- ``view``: :class:`CompareView`, the tab itself (filters, table, evaluation buttons) putting the others together
- ``table``: the table model and its sort/filter proxy (one row per run)
- ``eval_queue``: evaluations off the UI thread, one run at a time, cancellable
- ``grids``: the selected runs' sample grids side by side
- ``curves``: one metric of the selected runs overlaid
- ``nfe_runs``: NFE against quality from a run's cached evaluations (the plot is
  :class:`genstudio.ui.nfe_quality_view.NfeQualityView`, shared with the diffusion panel)

The rows themselves come from the Qt-free :mod:`genstudio.metrics.compare`.
"""
