"""Image-set loaders on small files written here in each official format, served from file:// addresses, so
that download, checksum and reading run end to end with nothing fetched from the network."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from sslengine import image_sets
from sslengine.image_sets import DataError, Images, Remote, md5sum


def _tar(path: Path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))


def _images(rng, n: int, channels: int, side: int) -> np.ndarray:
    return rng.integers(0, 256, (n, channels, side, side), dtype=np.uint8)


def _cifar(folder: Path, rng, hundred: bool) -> Images:
    key = b"fine_labels" if hundred else b"labels"
    classes = 100 if hundred else 10
    batches = {}
    train_x, train_y = [], []
    names = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    for name in names + ["test"]:
        x, y = _images(rng, 6, 3, 32), rng.integers(0, classes, 6)
        batches[name] = pickle.dumps({b"data": x.reshape(6, -1), key: [int(v) for v in y]})
        if name != "test":
            train_x.append(x), train_y.append(y)
    top = "cifar-100-python" if hundred else "cifar-10-batches-py"
    members = {f"{top}/{'test' if hundred else 'test_batch'}" if name == "test" else f"{top}/{name}": data
               for name, data in batches.items()}
    _tar(folder / ("cifar-100-python.tar.gz" if hundred else "cifar-10-python.tar.gz"), members)
    test = pickle.loads(batches["test"])
    return Images(np.concatenate(train_x), np.concatenate(train_y),
                  test[b"data"].reshape(-1, 3, 32, 32), np.array(test[key]))


def _svhn(folder: Path, rng) -> Images:
    parts = []
    for name in ("train", "test"):
        x, digit = _images(rng, 5, 3, 32), np.array([0, 1, 9, 0, 3])
        savemat(folder / f"{name}_32x32.mat", {"X": x.transpose(2, 3, 1, 0),  # (32, 32, 3, N): rows, cols, rgb
                                               "y": np.where(digit == 0, 10, digit)[:, None].astype(np.uint8)})
        parts += [x, digit]
    return Images(*parts)


def _stl10(folder: Path, rng) -> Images:
    side = image_sets.STL_SIDE
    column_major = lambda x: x.transpose(0, 1, 3, 2).tobytes()  # as the official files store each channel
    train, test, unlabeled = _images(rng, 3, 3, side), _images(rng, 2, 3, side), _images(rng, 4, 3, side)
    y_train, y_test = np.array([1, 10, 5], np.uint8), np.array([2, 3], np.uint8)
    _tar(folder / "stl10_binary.tar.gz", {
        "stl10_binary/train_X.bin": column_major(train), "stl10_binary/train_y.bin": y_train.tobytes(),
        "stl10_binary/test_X.bin": column_major(test), "stl10_binary/test_y.bin": y_test.tobytes(),
        "stl10_binary/unlabeled_X.bin": column_major(unlabeled)})
    return Images(train, y_train - 1, test, y_test - 1, unlabeled)


def _idx(values: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, values.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in values.shape)
    return gzip.compress(header + values.astype(np.uint8).tobytes())


def _mnist(folder: Path, rng) -> Images:
    parts = []
    for prefix in ("train", "t10k"):
        x, y = _images(rng, 7, 1, 28), rng.integers(0, 10, 7)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(x[:, 0]))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(y))
        parts += [x, y]
    return Images(*parts)


WRITERS = {"cifar10": lambda f, r: _cifar(f, r, hundred=False), "cifar100": lambda f, r: _cifar(f, r, hundred=True),
           "svhn": _svhn, "stl10": _stl10, "mnist": _mnist, "fashion-mnist": _mnist}


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Write a dataset's files into a 'server' folder and point its Remotes there with their real MD5s."""
    monkeypatch.setenv(image_sets.DATA_ENV, str(tmp_path / "cache"))

    def serve(name: str, extra_urls: tuple[str, ...] = ()) -> Images:
        server = tmp_path / "server" / name
        server.mkdir(parents=True)
        written = WRITERS[name](server, np.random.default_rng(0))
        files = tuple(Remote(remote.filename, md5sum(server / remote.filename),
                             extra_urls + ((server / remote.filename).as_uri(),))
                      for remote in image_sets.IMAGE_SETS[name].files)
        monkeypatch.setitem(image_sets.IMAGE_SETS, name,
                            dataclasses.replace(image_sets.IMAGE_SETS[name], files=files))
        return written

    return serve


@pytest.mark.parametrize("name", list(WRITERS))
def test_download_then_load_reads_every_pixel_and_label_where_the_official_format_puts_it(served, name):
    written = served(name)
    target = image_sets.download(name, progress=False)
    assert target == image_sets.folder(name)
    loaded = image_sets.load(name)
    for field in ("x_train", "y_train", "x_test", "y_test", "x_unlabeled"):
        expected, got = getattr(written, field), getattr(loaded, field)
        if expected is None:
            assert got is None
            continue
        assert got.dtype == (np.uint8 if field.startswith("x") else np.int64), field
        np.testing.assert_array_equal(got, expected, err_msg=field)
    assert loaded.y_train.max() < image_sets.IMAGE_SETS[name].num_classes and loaded.y_train.min() >= 0


def test_every_image_set_has_an_official_address_and_md5():
    assert set(image_sets.IMAGE_SETS) == set(WRITERS)
    for image_set in image_sets.IMAGE_SETS.values():
        for remote in image_set.files:
            assert len(remote.md5) == 32 and int(remote.md5, 16) >= 0
            assert remote.urls and all(url.startswith(("http://", "https://")) for url in remote.urls)


def test_a_dataset_not_downloaded_says_how_to_get_it(served, tmp_path):
    served("cifar10")
    with pytest.raises(DataError, match=r"dataset: cifar10 is not downloaded .*python -m sslengine download cifar10"):
        image_sets.load("cifar10")


def test_a_corrupt_file_in_the_cache_is_named_and_not_read(served):
    served("mnist")
    target = image_sets.download("mnist", progress=False)
    damaged = target / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:-3])  # cut short, as an interrupted copy
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is corrupt .*download mnist again"):
        image_sets.load("mnist")
    image_sets.download("mnist", progress=False)  # fetches the damaged file again
    assert image_sets.load("mnist").y_test.shape == (7,)


def test_a_download_that_does_not_match_its_checksum_is_refused_and_not_kept(served, monkeypatch):
    served("svhn")
    image_set = image_sets.IMAGE_SETS["svhn"]
    wrong = (dataclasses.replace(image_set.files[0], md5="0" * 32),) + image_set.files[1:]
    monkeypatch.setitem(image_sets.IMAGE_SETS, "svhn", dataclasses.replace(image_set, files=wrong))
    with pytest.raises(DataError, match=r"train_32x32.mat.*checksum mismatch \(expected MD5 0{32}\)"):
        image_sets.download("svhn", progress=False)
    assert not list(image_sets.folder("svhn").glob("train_32x32.mat*"))


def test_offline_tries_each_mirror_then_says_what_to_do(served, monkeypatch):
    from bench.browser import free_port
    closed = f"http://127.0.0.1:{free_port()}/"  # nothing listens there: refused as when offline
    served("fashion-mnist")
    image_set = image_sets.IMAGE_SETS["fashion-mnist"]
    only_closed = tuple(dataclasses.replace(r, urls=(closed + r.filename,)) for r in image_set.files)
    monkeypatch.setitem(image_sets.IMAGE_SETS, "fashion-mnist", dataclasses.replace(image_set, files=only_closed))
    with pytest.raises(DataError, match=r"could not download fashion-mnist's .*Offline\? Copy the file"):
        image_sets.download("fashion-mnist", progress=False)


def test_a_mirror_is_tried_when_the_first_address_fails(served):
    from bench.browser import free_port
    served("mnist", extra_urls=(f"http://127.0.0.1:{free_port()}/gone",))
    image_sets.download("mnist", progress=False)
    assert image_sets.load("mnist").x_train.shape == (7, 1, 28, 28)


def test_files_with_matching_checksums_but_the_wrong_content_are_reported_unreadable(served, monkeypatch):
    served("stl10")
    target = image_sets.download("stl10", progress=False)
    _tar(target / "stl10_binary.tar.gz", {"stl10_binary/readme.txt": b"not the images"})
    image_set = image_sets.IMAGE_SETS["stl10"]
    rewritten = (dataclasses.replace(image_set.files[0], md5=md5sum(target / "stl10_binary.tar.gz")),)
    monkeypatch.setitem(image_sets.IMAGE_SETS, "stl10", dataclasses.replace(image_set, files=rewritten))
    with pytest.raises(DataError, match="cannot be read as stl10"):
        image_sets.load("stl10")


def test_an_unknown_image_set_is_named():
    with pytest.raises(DataError, match="'imagenet' is not a downloadable image set; known: cifar10"):
        image_sets.download("imagenet")


@pytest.fixture
def fake_stl(monkeypatch):
    """A small image set shaped like STL-10 (labeled train, test, images without labels), as `load` returns it."""
    rng = np.random.default_rng(0)
    images = Images(_images(rng, 40, 3, 32), np.repeat(np.arange(10), 4), _images(rng, 20, 3, 32),
                    np.repeat(np.arange(10), 2), x_unlabeled=_images(rng, 15, 3, 32))
    monkeypatch.setattr(image_sets, "load", lambda name: images)
    return images


def test_an_image_set_keeps_its_own_test_split_and_stays_uint8(fake_stl):
    from sslengine.config import RunConfig
    from sslengine.splits import load_split
    split = load_split(RunConfig(dataset="stl10", labels_per_class=3, seed=1))
    assert split.x_labeled.dtype == np.uint8 and split.kind == "image" and split.num_classes == 10
    assert np.bincount(split.y_labeled).tolist() == [3] * 10
    np.testing.assert_array_equal(split.x_test, fake_stl.x_test)
    # The 10 labeled-train images left over come first, then the 15 published without labels, as -1.
    assert split.y_unlabeled[:10].min() >= 0 and (split.y_unlabeled[10:] == -1).all()
    np.testing.assert_array_equal(split.x_unlabeled[10:], fake_stl.x_unlabeled)
    rows = lambda x: {row.tobytes() for row in x.reshape(len(x), -1)}
    assert rows(split.x_labeled) | rows(split.x_unlabeled[:10]) == rows(fake_stl.x_train)


def test_more_labels_per_class_than_an_image_set_has_is_refused(fake_stl):
    from sslengine.config import ConfigError, RunConfig
    from sslengine.splits import load_split
    with pytest.raises(ConfigError, match="labels_per_class: must be at most 3 for stl10"):
        load_split(RunConfig(dataset="stl10", labels_per_class=4))


@pytest.mark.parametrize("algorithm", ["fixmatch", "simclr"])
def test_a_run_trains_on_a_uint8_image_set_whose_unlabeled_part_has_unknown_labels(fake_stl, store, algorithm):
    from sslengine.config import RunConfig
    from sslengine.runner import Runner
    runner = Runner(store)
    run_id = runner.start(RunConfig(algorithm=algorithm, dataset="stl10", labels_per_class=2, steps=4,
                                    batch_size=8, mu=2, log_every=2, max_snapshots=2, probe_size=10,
                                    model="small-cnn"))
    runner.wait(run_id)
    run = store.get_run(run_id)
    assert run.status == "finished", run.error
    final = store.final_scalars(run_id)
    assert 0.0 <= final["test_acc"] <= 1.0
    if algorithm == "fixmatch":  # its batches draw images without labels: they count in the mask rate only
        assert 0.0 <= final["mask_rate"] <= 1.0
    assert (store.arrays(run_id, 0)["target"] >= 0).all()  # the probe set has known labels


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_background_download_leaves_its_state_in_the_cache_folder(served, monkeypatch):
    served("mnist")
    assert image_sets.state("mnist") == "not downloaded"
    image_sets.download_in_background("mnist").join(30)
    assert image_sets.state("mnist") == f"downloaded: into {image_sets.folder('mnist')}"
    served("cifar10")
    image_set = image_sets.IMAGE_SETS["cifar10"]
    wrong = (dataclasses.replace(image_set.files[0], md5="0" * 32),)
    monkeypatch.setitem(image_sets.IMAGE_SETS, "cifar10", dataclasses.replace(image_set, files=wrong))
    image_sets.download_in_background("cifar10").join(30)
    assert image_sets.state("cifar10").startswith("failed: dataset: could not download cifar10's")
    assert not list(image_sets.folder("cifar10").glob("*.part"))


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Fashion-MNIST's four files written as a system package would install them, recompressed (gzip level 1,
    so no archive matches the official MD5s), with the SHA-256s of their decompressed bytes allowed."""
    monkeypatch.setenv(image_sets.DATA_ENV, str(tmp_path / "cache"))
    package = tmp_path / "usr-share-datasets"
    package.mkdir()
    written = _mnist(package, np.random.default_rng(3))
    for path in package.iterdir():
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    content = {name: hashlib.sha256(gzip.decompress((package / name).read_bytes())).hexdigest()
               for name in image_sets.MNIST_NAMES}
    image_set = image_sets.IMAGE_SETS["fashion-mnist"]
    monkeypatch.setitem(image_sets.IMAGE_SETS, "fashion-mnist", dataclasses.replace(
        image_set, installed=image_sets.Installed("dataset-fashion-mnist", package, content)))
    return package, written


def test_a_set_a_package_installed_is_read_from_its_folder_and_the_panel_says_so(installed):
    package, written = installed
    assert image_sets.state("fashion-mnist") == f"installed: by Debian's dataset-fashion-mnist package, in {package}"
    loaded = image_sets.load("fashion-mnist")
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(written, field), err_msg=field)
    assert not image_sets.folder("fashion-mnist").exists()  # nothing was copied into the cache


def test_an_installed_file_whose_content_is_not_the_official_one_is_named_and_not_read(installed):
    package, _ = installed
    labels = package / "t10k-labels-idx1-ubyte.gz"
    values = bytearray(gzip.decompress(labels.read_bytes()))
    values[-1] = (values[-1] + 1) % 10  # one test label changed: the archive is still valid gzip
    labels.write_bytes(gzip.compress(bytes(values)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz does not hold the official fashion-mnist file "
                                        r"\(the SHA-256 of its decompressed bytes is not [0-9a-f]{64}\): reinstall "
                                        r"dataset-fashion-mnist"):
        image_sets.load("fashion-mnist")


def test_a_downloaded_copy_in_the_cache_comes_before_the_installed_one(installed, served):
    written = served("fashion-mnist")
    image_sets.download("fashion-mnist", progress=False)
    assert image_sets.state("fashion-mnist").startswith("downloaded")
    np.testing.assert_array_equal(image_sets.load("fashion-mnist").y_test, written.y_test)


def test_a_set_neither_downloaded_nor_installed_names_the_package_to_install(installed):
    package, _ = installed
    for path in package.iterdir():
        path.unlink()
    with pytest.raises(DataError, match=r"fashion-mnist is not downloaded .*apt-get install dataset-fashion-mnist"):
        image_sets.load("fashion-mnist")


DEBIAN = image_sets.IMAGE_SETS["fashion-mnist"].installed


@pytest.mark.skipif(not DEBIAN.present(), reason=f"Debian's {DEBIAN.package} is not installed ({DEBIAN.folder}); "
                                                   ".ci/run installs it")
def test_debians_fashion_mnist_holds_the_official_content():
    images = image_sets.load("fashion-mnist")
    assert images.x_train.shape == (60_000, 1, 28, 28) and images.x_test.shape == (10_000, 1, 28, 28)
    assert np.bincount(images.y_train).tolist() == [6_000] * 10
    assert np.bincount(images.y_test).tolist() == [1_000] * 10


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN.present(), reason=f"Debian's {DEBIAN.package} is not installed ({DEBIAN.folder}); "
                                                   ".ci/run installs it")
def test_a_fixmatch_run_trains_on_debians_fashion_mnist_from_the_command_line(tmp_path):
    import json
    import subprocess
    import sys
    from bench.browser import ROOT
    out = subprocess.run([sys.executable, "-m", "sslengine", "run", "fixmatch", "--dataset", "fashion-mnist",
                          "--labels-per-class", "4", "--steps", "4", "--batch-size", "8", "--mu", "2",
                          "--log-every", "2", "--probe-size", "50", "--store", str(tmp_path / "runs.db"), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished" and 0.0 <= result["metrics"]["test_acc"] <= 1.0
