"""Datasets: IDX file I/O, MNIST / Fashion-MNIST loaders, embedded MNIST, peaked subsets.

Typical use::

    from neuroplast.data import load_mnist
    ds = load_mnist()            # searches root, $NEUROPLAST_DATA, ~/.cache; may download
    ds.train.x.shape             # torch.Size([60000, 784]), float32 in [0, 1]
"""

from neuroplast.data.datasets import (
    DATA_ENV_VAR,
    IDX_FILE_NAMES,
    ChecksumMismatchError,
    DataNotFoundError,
    Dataset,
    Split,
    data_fingerprint,
    default_cache_dir,
    load_fashion_mnist,
    load_mnist,
    verify_md5,
)
from neuroplast.data.embedded import (
    EMBEDDED_SOURCE,
    load_embedded_mnist,
    load_mnist_or_embedded,
)
from neuroplast.data.idx import (
    IdxFormatError,
    IdxHeader,
    parse_idx,
    read_idx,
    read_idx_header,
    write_idx,
)
from neuroplast.data.subsets import peaked_indices, peaked_split

__all__ = [
    "DATA_ENV_VAR",
    "EMBEDDED_SOURCE",
    "IDX_FILE_NAMES",
    "ChecksumMismatchError",
    "DataNotFoundError",
    "Dataset",
    "IdxFormatError",
    "IdxHeader",
    "Split",
    "data_fingerprint",
    "default_cache_dir",
    "load_embedded_mnist",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_or_embedded",
    "parse_idx",
    "peaked_indices",
    "peaked_split",
    "read_idx",
    "read_idx_header",
    "verify_md5",
    "write_idx",
]
