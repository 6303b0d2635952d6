"""The AIST dataset contract (``docs/dataset-format.md``): reader, writer, validation, splits."""

from aist_app.dataset.contract import DatasetError
from aist_app.dataset.reader import Dataset
from aist_app.dataset.splits import make_splits
from aist_app.dataset.writer import DatasetWriter

__all__ = ["Dataset", "DatasetError", "DatasetWriter", "make_splits"]
