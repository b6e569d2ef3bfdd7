"""Datasets: the in-memory :class:`Dataset`, its options, and loading by registered id.

Loaders live in ``builtin``, ``points``, ``torchvision_sets`` and ``user`` and
are registered through the ``genstudio.datasets`` entry-point group, so this
package imports none of them (nor torchvision) until a dataset is loaded.
"""

from genstudio.data.dataset import DataError, DataOptions, Dataset, load_dataset

__all__ = ["Dataset", "DataOptions", "DataError", "load_dataset"]
