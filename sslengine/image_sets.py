"""Image sets from their official files: downloaded on request into a cache folder, checked against their
published MD5 sums, and read from their own formats into uint8 arrays (N, C, H, W).

Nothing here runs at import or without being asked: `download(name)` fetches (the CLI's `download` command,
the page's Download button), `load(name)` only reads what is already there and says how to get it when it is
not. The cache is $SSL_EXPLORER_DATA, or ~/.cache/ssl-explorer. A set that a system package installs
(Debian's dataset-fashion-mnist) is read from the package's folder when the cache does not hold it: the
package recompressed the official files, so they are checked by the SHA-256 of their decompressed bytes.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import pickle
import tarfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from .errors import ConfigError

DATA_ENV = "SSL_EXPLORER_DATA"
ERROR_FILE = "download-error.txt"


class DataError(ConfigError):
    """A dataset that is not downloaded, cannot be downloaded, or is corrupt; names the field `dataset`."""

    def __init__(self, message: str):
        super().__init__("dataset", message)


@dataclass(frozen=True)
class Images:
    """A dataset as its authors split it; `x_unlabeled` holds images published without labels (STL-10)."""

    x_train: np.ndarray  # uint8 (N, C, H, W)
    y_train: np.ndarray  # int64
    x_test: np.ndarray
    y_test: np.ndarray
    x_unlabeled: np.ndarray | None = None


@dataclass(frozen=True)
class Remote:
    filename: str
    md5: str
    urls: tuple[str, ...]  # the official address first, then its mirrors


@dataclass(frozen=True)
class Installed:
    """The official files as a system package installs them: its folder, and each file's SHA-256 of its
    decompressed bytes (the package's own compression changes the archive's MD5, not the content)."""

    package: str
    folder: Path
    content_sha256: dict[str, str]

    def present(self) -> bool:
        return all((self.folder / filename).exists() for filename in self.content_sha256)


@dataclass(frozen=True)
class ImageSet:
    files: tuple[Remote, ...]
    read: Callable[[Path], Images]
    num_classes: int
    mirror: bool = False  # a left-right mirror keeps the class: photos, not digits or house numbers
    installed: Installed | None = None  # where a system package puts the same files, if one does
    classes: tuple[str, ...] = ()  # each class's name, where the authors give names (else its number)


def cache_root() -> Path:
    return Path(os.environ.get(DATA_ENV) or Path.home() / ".cache" / "ssl-explorer")


def folder(name: str) -> Path:
    return cache_root() / name


def mirrored(dataset: str) -> bool:
    """Whether the dataset's augmentations mirror images: FixMatch's weak view flips CIFAR and STL-10 only."""
    return dataset in IMAGE_SETS and IMAGE_SETS[dataset].mirror


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(name: str, progress: bool = True) -> Path:
    """Fetch the dataset's files that are missing or corrupt, each checked against its MD5; returns its folder."""
    target = folder(_known(name))
    target.mkdir(parents=True, exist_ok=True)
    for remote in IMAGE_SETS[name].files:
        path = target / remote.filename
        if path.exists() and md5sum(path) == remote.md5:
            continue
        errors = []
        for url in remote.urls:
            try:
                _fetch(url, path, remote.md5, progress)
                break
            except (OSError, urllib.error.URLError) as error:  # offline, refused, or a checksum mismatch
                errors.append(f"{url}: {error}")
        else:
            raise DataError(f"could not download {name}'s {remote.filename}; " + "; ".join(errors) +
                            f". Offline? Copy the file (MD5 {remote.md5}) into {target} by hand.")
    return target


def download_in_background(name: str) -> threading.Thread:
    """`download` on a thread, for the pages. Its state lives in the cache folder, where every server and
    the command line see it: the .part file growing, then the files, or `download-error.txt` saying why not."""
    error_file = folder(_known(name)) / ERROR_FILE

    def work():
        error_file.unlink(missing_ok=True)
        try:
            download(name, progress=False)
        except Exception as error:  # shown by `state` to whoever looks next
            error_file.parent.mkdir(parents=True, exist_ok=True)
            error_file.write_text(str(error))
            raise

    thread = threading.Thread(target=work, name=f"download {name}", daemon=True)
    thread.start()
    return thread


def downloaded(name: str) -> bool:
    return all((folder(name) / remote.filename).exists() for remote in IMAGE_SETS[name].files)


def state(name: str) -> str:
    """One line for the pages: where the set comes from (downloaded, installed by a package), downloading (bytes
    so far), failed (why), or not downloaded."""
    target, installed = folder(_known(name)), IMAGE_SETS[name].installed
    partial = list(target.glob("*.part"))
    if partial:
        return f"downloading: {sum(p.stat().st_size for p in partial) / 1e6:.0f} MB so far"
    if downloaded(name):
        return f"downloaded: into {target}"
    if installed and installed.present():
        return f"installed: by Debian's {installed.package} package, in {installed.folder}"
    if (target / ERROR_FILE).exists():
        return f"failed: {(target / ERROR_FILE).read_text()}"
    return "not downloaded"


def load(name: str) -> Images:
    """The dataset's arrays, read from the cache (each file checked against its MD5 first) or, where the cache
    does not hold them, from a system package's folder (each file checked by its decompressed content)."""
    target, installed = folder(_known(name)), IMAGE_SETS[name].installed
    if installed and installed.present() and not downloaded(name):
        for filename, sha256 in installed.content_sha256.items():
            path = installed.folder / filename
            if _content_sha256_of(path, path.stat().st_size, path.stat().st_mtime_ns) != sha256:
                raise DataError(f"{path} does not hold the official {name} file (the SHA-256 of its decompressed "
                                f"bytes is not {sha256}): reinstall {installed.package}, or run `python -m "
                                f"sslengine download {name}`")
        return _read(name, installed.folder)
    for remote in IMAGE_SETS[name].files:
        path = target / remote.filename
        if not path.exists():
            package = f", install Debian's {installed.package} (apt-get install {installed.package})" \
                if installed else ""
            raise DataError(f"{name} is not downloaded ({path} is missing): run `python -m sslengine download "
                            f"{name}`{package} or press Download under Image sets in the sidebar")
        if _md5_of(path, path.stat().st_size, path.stat().st_mtime_ns) != remote.md5:
            raise DataError(f"{path} is corrupt (its MD5 is not {remote.md5}): delete it and download {name} "
                            "again")
    return _read(name, target)


@functools.lru_cache(maxsize=2)  # a few hundred MB each: the last two datasets read stay in memory
def _read(name: str, target: Path) -> Images:
    try:
        return IMAGE_SETS[name].read(target)
    except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError, tarfile.TarError) as error:
        raise DataError(f"{target} holds files that match their checksums but cannot be read as {name}: "
                        f"{error!r}") from error


@functools.lru_cache(maxsize=64)
def _md5_of(path: Path, size: int, mtime_ns: int) -> str:
    """MD5 of a file, computed again only when its size or modification time changes."""
    return md5sum(path)


@functools.lru_cache(maxsize=64)
def _content_sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    """SHA-256 of a gzip file's decompressed bytes, computed again only when the file changes."""
    digest = hashlib.sha256()
    with gzip.open(path) as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _known(name: str) -> str:
    if name not in IMAGE_SETS:
        raise DataError(f"{name!r} is not a downloadable image set; known: {', '.join(IMAGE_SETS)}")
    return name


def _fetch(url: str, path: Path, md5: str, progress: bool):
    """Stream to a .part file with a progress bar; keep it only if its checksum matches."""
    partial = path.with_name(path.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as file:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    file.write(block)
                    bar.update(len(block))
        if md5sum(partial) != md5:
            raise OSError(f"checksum mismatch (expected MD5 {md5}); the download was corrupt")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)  # a half-written file is never taken for a download in progress


# Readers, one per official format. Pickles are only opened after their archive matched its published MD5.

def _read_cifar(archive: str, train: tuple[str, ...], test: str, label_key: bytes) -> Callable[[Path], Images]:
    """CIFAR's python version: a tar.gz of pickled dicts with b"data" (N, 3072) rows and a list of labels."""
    def read(target: Path) -> Images:
        with tarfile.open(target / archive) as bundle:
            def batch(member: str):
                entry = pickle.load(bundle.extractfile(member), encoding="bytes")
                return (np.asarray(entry[b"data"], np.uint8).reshape(-1, 3, 32, 32),
                        np.asarray(entry[label_key], np.int64))
            parts = [batch(member) for member in train]
            x_test, y_test = batch(test)
        return Images(np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]), x_test, y_test)
    return read


def _read_svhn(target: Path) -> Images:
    """SVHN's cropped digits: MATLAB files with X (32, 32, 3, N) and y (N, 1) where the digit 0 is labelled 10."""
    from scipy.io import loadmat

    def split(filename: str):
        mat = loadmat(target / filename)
        return (np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1), dtype=np.uint8),
                mat["y"].reshape(-1).astype(np.int64) % 10)
    return Images(*split("train_32x32.mat"), *split("test_32x32.mat"))


STL_SIDE = 96


def _read_stl10(target: Path) -> Images:
    """STL-10's binary version: column-major 96x96x3 images, labels 1-10, and 100 000 unlabeled images."""
    with tarfile.open(target / "stl10_binary.tar.gz") as bundle:
        def member(name: str) -> np.ndarray:
            return np.frombuffer(bundle.extractfile(f"stl10_binary/{name}").read(), np.uint8)

        def images(name: str) -> np.ndarray:
            return np.ascontiguousarray(member(name).reshape(-1, 3, STL_SIDE, STL_SIDE).transpose(0, 1, 3, 2))

        return Images(images("train_X.bin"), member("train_y.bin").astype(np.int64) - 1,
                      images("test_X.bin"), member("test_y.bin").astype(np.int64) - 1,
                      x_unlabeled=images("unlabeled_X.bin"))


def read_idx(path: Path) -> np.ndarray:
    """The IDX format of MNIST: a big-endian header (0, 0, type 0x08 = uint8, dimensions) and the values."""
    with gzip.open(path) as file:
        data = file.read()
    zero, kind, dims = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or kind != 0x08:
        raise ValueError(f"{path.name} is not an IDX file of unsigned bytes")
    shape = np.frombuffer(data[4:4 + 4 * dims], ">u4").astype(int)
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * dims)
    if values.size != np.prod(shape):
        raise ValueError(f"{path.name} holds {values.size} values, its header says {tuple(shape)}")
    return values.reshape(shape)


def _read_mnist(target: Path) -> Images:
    def split(prefix: str):
        return (read_idx(target / f"{prefix}-images-idx3-ubyte.gz")[:, None],
                read_idx(target / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
    return Images(*split("train"), *split("t10k"))


MNIST_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")


def _mnist_files(mirrors: tuple[str, ...], md5s: tuple[str, str, str, str]) -> tuple[Remote, ...]:
    return tuple(Remote(name, md5, tuple(mirror + name for mirror in mirrors)) for name, md5 in zip(MNIST_NAMES, md5s))


IMAGE_SETS: dict[str, ImageSet] = {
    "cifar10": ImageSet(
        (Remote("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)),),
        _read_cifar("cifar-10-python.tar.gz", tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
                    "cifar-10-batches-py/test_batch", b"labels"), 10, mirror=True,
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
    "cifar100": ImageSet(
        (Remote("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",)),),
        _read_cifar("cifar-100-python.tar.gz", ("cifar-100-python/train",), "cifar-100-python/test",
                    b"fine_labels"), 100, mirror=True),
    "svhn": ImageSet(
        (Remote("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373",
                ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",)),
         Remote("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3",
                ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",))),
        _read_svhn, 10),
    "stl10": ImageSet(
        (Remote("stl10_binary.tar.gz", "91f7769df0f17e558f3565bffb0c7dfb",
                ("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",)),),
        _read_stl10, 10, mirror=True,
        classes=("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")),
    "mnist": ImageSet(
        _mnist_files(("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
                     ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                      "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
        _read_mnist, 10),
    "fashion-mnist": ImageSet(
        _mnist_files(("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
                     ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                      "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
        _read_mnist, 10,
        classes=("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"),
        # The official IDX content: 60 000 + 10 000 images, 6 000 of each class in training.
        installed=Installed("dataset-fashion-mnist", Path("/usr/share/datasets/fashion-mnist"), dict(zip(MNIST_NAMES, (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"))))),
}


def class_names(dataset: str, num_classes: int) -> list[str]:
    """Each class's name as its authors give it, else its number (digits, MNIST, SVHN, CIFAR-100)."""
    names = IMAGE_SETS[dataset].classes if dataset in IMAGE_SETS else ()
    return list(names) if len(names) >= num_classes else [str(c) for c in range(num_classes)]
