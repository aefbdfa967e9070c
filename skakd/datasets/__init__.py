"""Small text-classification datasets bundled with skakd."""

from ._load import list_datasets, load_dataset

__all__ = ["list_datasets", "load_dataset"]
