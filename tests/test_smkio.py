"""Parquet through Arrow buffers: the files pyarrow's own conversion writes, read back exactly,
and no pandas import in the jobs that only move numpy columns."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shrinkstudy.store.smkio import DamagedFile, file_identity, read_columns, read_parquets, write_columns

COLUMNS = {
    "rep": np.array([0, 1, 2, 3, 4, 2**40], dtype=np.int64),
    "group": np.array([0, 1, 2, 0, 1, 2], dtype=np.int32),
    "y": np.array([0.1, -2.5, np.nan, np.inf, -0.0, 1e-300]),
    "failed": np.array([True, False, True, True, False, False]),
    "estimator": np.array(["raw", "blup", "", "hier_bayes", 'a "quoted", one', "é"], dtype=object),
}


def _byte_flips(good: bytes):
    """(i, x, the bytes with byte i XORed with x) for every byte and x in 0x01, 0x80, 0xFF."""
    for i in range(len(good)):
        for x in (0x01, 0x80, 0xFF):
            b = bytearray(good)
            b[i] ^= x
            yield i, x, bytes(b)


def test_round_trip_and_same_bytes_as_pyarrow(tmp_path):
    path = tmp_path / "a.parquet"
    write_columns(COLUMNS, path)
    back = read_columns(path)
    assert list(back) == list(COLUMNS)
    for name, values in COLUMNS.items():
        assert back[name].dtype == values.dtype, name
        np.testing.assert_array_equal(back[name], values)
    assert np.signbit(back["y"][4])  # -0.0 survives, bit for bit
    # the same bytes as pyarrow's own conversion, written with the same options and metadata
    meta = pq.ParquetFile(path).schema_arrow.metadata
    assert set(meta) == {b"shrinkstudy"}
    table = pa.table(COLUMNS).replace_schema_metadata(meta)
    pq.write_table(table, tmp_path / "b.parquet", compression="zstd", write_page_checksum=True)
    assert path.read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert not list(tmp_path.glob("*.tmp"))


def test_unicode_string_column(tmp_path):
    write_columns({"s": np.array(["x", "yy", "zzz"])}, tmp_path / "u.parquet")  # numpy 'U' dtype
    assert read_columns(tmp_path / "u.parquet")["s"].tolist() == ["x", "yy", "zzz"]


def test_several_chunks_and_offsets():
    from shrinkstudy.store.smkio import numpy_column

    whole = pa.table(COLUMNS)
    # columns of two chunks, the second starting inside its buffers (offset > 0)
    table = pa.concat_tables([whole.slice(0, 2), whole.slice(2)])
    assert table.column("failed").num_chunks == 2
    for name, values in COLUMNS.items():
        got = numpy_column(table.column(name))
        assert got.dtype == values.dtype
        np.testing.assert_array_equal(got, values)
    for start in range(1, 6):  # booleans are bit-packed: every offset within a byte
        np.testing.assert_array_equal(numpy_column(whole.slice(start).column("failed")), COLUMNS["failed"][start:])
        np.testing.assert_array_equal(numpy_column(whole.slice(start).column("y")), COLUMNS["y"][start:])


def test_concatenation_in_order(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_columns({"rep": np.arange(3), "v": np.ones(3)}, a)
    write_columns({"rep": np.arange(3, 5), "v": np.zeros(2)}, b)
    both = read_parquets([b, a])
    assert both["rep"].tolist() == [3, 4, 0, 1, 2]
    assert both["v"].tolist() == [0, 0, 1, 1, 1]
    write_columns({"rep": np.arange(2)}, tmp_path / "c.parquet")
    with pytest.raises(ValueError, match="columns"):
        read_parquets([a, tmp_path / "c.parquet"])
    assert read_parquets([]) == {}


def test_other_numeric_types_and_empty_columns(tmp_path):
    cols = {
        "u16": np.array([0, 65535], dtype=np.uint16),
        "i8": np.array([-128, 127], dtype=np.int8),
        "f32": np.array([0.5, -np.inf], dtype=np.float32),
        "big_endian": np.array([1.5, 2.5], dtype=">f8"),
    }
    write_columns(cols, tmp_path / "n.parquet")
    back = read_columns(tmp_path / "n.parquet")
    for name, values in cols.items():
        assert back[name].dtype == values.dtype.newbyteorder("<"), name
        np.testing.assert_array_equal(back[name], values)
        assert not back[name].flags.writeable  # views of Arrow's memory are not to be written
    empty = {"i": np.array([], dtype=np.int64), "s": np.array([], dtype=object), "b": np.array([], bool)}
    write_columns(empty, tmp_path / "e.parquet")
    back = read_columns(tmp_path / "e.parquet")
    assert {k: (v.dtype, v.size) for k, v in back.items()} == {
        "i": (np.dtype(np.int64), 0), "s": (np.dtype(object), 0), "b": (np.dtype(bool), 0)
    }
    from shrinkstudy.store.smkio import numpy_column

    no_chunks = pa.chunked_array([], type=pa.int32())
    assert numpy_column(no_chunks).dtype == np.int32


def test_bad_columns_are_refused(tmp_path):
    for bad in ([None, "a"], ["a", 1], ["a", np.nan]):
        with pytest.raises(TypeError, match="strings only"):
            write_columns({"s": np.array(bad, dtype=object)}, tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="1-D"):
        write_columns({"y": np.ones((2, 2))}, tmp_path / "x.parquet")
    with pytest.raises(TypeError, match="complex"):
        write_columns({"y": np.ones(2, complex)}, tmp_path / "x.parquet")
    pq.write_table(pa.table({"y": pa.array([1.0, None])}), tmp_path / "null.parquet")
    with pytest.raises(ValueError, match="missing values"):
        read_columns(tmp_path / "null.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_jobs_that_move_numpy_columns_do_not_import_pandas(tmp_path):
    """simulate and fit jobs stay free of pandas (its import is half a second a job)."""
    code = f"""
import sys
import numpy as np
from shrinkstudy.design.cells import Cell
from shrinkstudy.design.simulate import chunk_columns, suffstats_from_array
from shrinkstudy.methods.estimators import Truth, fit_estimators
from shrinkstudy.evaluate.losses import loss_columns, varcomp_columns
from shrinkstudy.store.smkio import DamagedFile, file_identity, read_columns, read_parquets, write_columns

cell = Cell(sizes=(3, 3, 3), sigma=1.0, tau=1.0)
reps = np.arange(4)
data, truth = chunk_columns(cell, reps, 1)
write_columns(data, r"{tmp_path}/d.parquet")
y = read_columns(r"{tmp_path}/d.parquet")["y"].reshape(4, 9)
fit = fit_estimators(suffstats_from_array(y, cell.sizes), ("raw", "blup"), truth=Truth(0.0, 1.0, 1.0))
means = truth["mean"].reshape(4, 3)
write_columns(loss_columns(fit, means, reps, cell), r"{tmp_path}/l.parquet")
write_columns(varcomp_columns(fit, reps), r"{tmp_path}/v.parquet")
assert len(read_parquets([r"{tmp_path}/l.parquet"])["rep"]) == 4 * 2  # replications x estimators
assert "pandas" not in sys.modules, "pandas was imported"
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_the_study_summary_reads_every_chunk_of_every_cell(tmp_path):
    """``tables.summarise_study``: chunk files grouped by their cell's folder, in any order, give
    the summary of the concatenated replications as summary.csv stores it; a damaged chunk or a
    cell without files stops it with one line naming the problem."""
    from shrinkstudy.design.cells import Cell
    from shrinkstudy.methods.estimators import Truth, fit_estimators
    from shrinkstudy.evaluate.losses import loss_columns, varcomp_columns
    from shrinkstudy.evaluate.measures import summarise_cell
    from shrinkstudy.design.simulate import simulate_reps, suffstats_from_array
    from shrinkstudy.report.tables import stored_summary, summarise_study

    cells = [Cell(sizes=(4,) * 5, sigma=1.0, tau=0.5), Cell(sizes=(2, 2, 9, 9), sigma=2.0, tau=1.0)]
    losses, varcomp, frames = [], [], []
    for cell in cells:
        whole_l, whole_v = [], []
        for start in (0, 10):
            reps = np.arange(start, start + 10)
            y, means = simulate_reps(cell, reps, 7)
            fit = fit_estimators(suffstats_from_array(y, cell.sizes), ("raw", "blup", "hier_bayes"),
                                 truth=Truth(0.0, cell.tau, cell.sigma))
            l, v = loss_columns(fit, means, reps, cell), varcomp_columns(fit, reps)
            folder = tmp_path / "fit" / cell.name
            for kind, cols, out in (("losses", l, losses), ("varcomp", v, varcomp)):
                path = folder / f"reps{start}-{start + 10}.{kind}.parquet"
                write_columns(cols, path, file_identity(kind, cell.name, start, start + 10))
                out.append(path)
            whole_l.append(l)
            whole_v.append(v)
        cat = lambda parts: {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}  # noqa: E731
        frames.append(summarise_cell(cat(whole_l), cat(whole_v), cell))
    summary, failures = summarise_study(cells, losses[::-1], varcomp, level=0.95)
    want = stored_summary(pd.concat(frames, ignore_index=True))
    pd.testing.assert_frame_equal(summary, want, check_exact=True)
    assert summary["reps"].max() == 20 and failures.columns.tolist() == ["cell", "rep", "estimator", "message"]
    # stored: the floats to 10 significant digits
    assert summary["mse"].iloc[0] == float("%.10g" % frames[0]["mse"].iloc[0])
    with pytest.raises(ValueError, match="no fit files among the inputs"):
        summarise_study(cells, losses[:2], varcomp[:2])
    damaged = losses[3]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(DamagedFile) as err:
        summarise_study(cells, losses, varcomp)
    assert str(err.value).startswith(str(damaged)) and "\n" not in str(err.value)


def test_text_columns_are_digested_from_arrow_buffers(tmp_path):
    """Reading digests text columns from Arrow's buffers: the same SHA-256 as the writer's
    value-by-value digest (sliced and multi-chunk columns, empty and non-ASCII strings)."""
    from shrinkstudy.store.smkio import _arrow_strings, _digest

    values = np.array(["", "blup", "n=100", "naïve", "", "a,b\nc"] * 3, dtype=object)
    whole = pa.chunked_array([pa.array(values[:7].tolist()), pa.array(values[7:].tolist())])
    sliced = pa.chunked_array([pa.array(["x"] + values.tolist())]).slice(1)
    for column in (whole, sliced, pa.chunked_array([pa.array(values.tolist(), pa.large_string())])):
        assert _digest({"s": values}, {"s": _arrow_strings(column)}) == _digest({"s": values})
    write_columns({"s": values, "k": np.arange(values.size)}, tmp_path / "t.parquet")
    assert read_columns(tmp_path / "t.parquet")["s"].tolist() == values.tolist()


# ---------------------------------------------------------------------------------------------
# damaged and foreign files: never a silent change, always one line naming the file
# ---------------------------------------------------------------------------------------------

CELL = "J3_n2_sigma3_tau1_mu0"


def _chunk(tmp_path, name="d.parquet", cell=CELL, start=0, stop=20, kind="data", seed=0):
    rng = np.random.default_rng(seed)
    reps = np.arange(start, stop)
    cols = {
        "rep": np.repeat(reps, 6),
        "group": np.tile(np.repeat(np.arange(3, dtype=np.int32), 2), len(reps)),
        "y": rng.normal(size=6 * len(reps)),
    }
    path = tmp_path / name
    write_columns(cols, path, file_identity(kind, cell, start, stop))
    return path, cols


def _one_line(exc, path):
    msg = str(exc)
    assert "\n" not in msg and msg.startswith(str(path)) and "delete it" in msg, msg


def test_identity_is_checked(tmp_path):
    path, cols = _chunk(tmp_path)
    back = read_columns(path, file_identity("data", CELL, 0, 20))
    for name in cols:
        np.testing.assert_array_equal(back[name], cols[name])
    for wrong in (
        file_identity("truth", CELL, 0, 20),
        file_identity("data", "J5_n2_sigma3_tau1_mu0", 0, 20),
        file_identity("data", CELL, 20, 40),
    ):
        with pytest.raises(DamagedFile) as err:
            read_columns(path, wrong)
        _one_line(err.value, path)
    # a file without the metadata (e.g. written by pyarrow directly) is not accepted as an input
    pq.write_table(pa.table(cols), tmp_path / "plain.parquet")
    with pytest.raises(DamagedFile, match="no metadata"):
        read_columns(tmp_path / "plain.parquet", file_identity("data", CELL, 0, 20))
    # each file of a concatenation against its own identity
    other, _ = _chunk(tmp_path, "e.parquet", start=20, stop=40, seed=1)
    ids = [file_identity("data", CELL, 0, 20), file_identity("data", CELL, 20, 40)]
    assert len(read_parquets([path, other], ids)["y"]) == 240
    with pytest.raises(DamagedFile) as err:
        read_parquets([other, path], ids)
    _one_line(err.value, other)


def test_foreign_cell_file_copied_over_is_refused(tmp_path):
    mine, _ = _chunk(tmp_path, "mine.parquet")
    theirs, _ = _chunk(tmp_path, "theirs.parquet", cell="J3_n2_sigma5_tau1_mu0", seed=3)
    mine.write_bytes(theirs.read_bytes())
    with pytest.raises(DamagedFile, match="J3_n2_sigma5_tau1_mu0") as err:
        read_columns(mine, file_identity("data", CELL, 0, 20))
    _one_line(err.value, mine)


def test_every_single_byte_flip_is_caught_or_harmless(tmp_path):
    """Each byte of a file XORed with 0x01, 0x80 and 0xFF (3 x the file's size of damaged
    files): every read either raises DamagedFile naming the file or returns the very values
    written. Page checksums alone let a few flips through (in page headers and the footer);
    the SHA-256 of the values in the metadata catches those."""
    path, cols = _chunk(tmp_path)
    good = path.read_bytes()
    expect = file_identity("data", CELL, 0, 20)
    bad = tmp_path / "bad.parquet"
    caught = harmless = 0
    for i, x, damaged in _byte_flips(good):
        bad.write_bytes(damaged)
        try:
            back = read_columns(bad, expect)
        except DamagedFile as exc:
            _one_line(exc, bad)
            caught += 1
            continue
        for name in cols:  # read back: then the values are those written, bit for bit
            assert back[name].tobytes() == cols[name].tobytes(), (i, x, name)
        harmless += 1
    print(f"{len(good)} bytes: {caught} damaged files caught, {harmless} read back unchanged")
    assert caught + harmless == 3 * len(good) and caught > harmless


@pytest.mark.parametrize("damage", ["truncated", "half", "zero bytes", "no magic", "not parquet"])
def test_truncated_empty_and_garbage_files_name_the_file(tmp_path, damage):
    path, _ = _chunk(tmp_path)
    good = path.read_bytes()
    path.write_bytes(
        {
            "truncated": good[:-1],
            "half": good[: len(good) // 2],
            "zero bytes": b"",
            "no magic": good[:-4] + b"XXXX",
            "not parquet": b"rep,group,y\n0,0,1.5\n",
        }[damage]
    )
    for expect in (file_identity("data", CELL, 0, 20), None):
        with pytest.raises(DamagedFile) as err:
            read_columns(path, expect)
        _one_line(err.value, path)
    with pytest.raises(DamagedFile) as err:
        read_columns(tmp_path / "absent.parquet")
    _one_line(err.value, tmp_path / "absent.parquet")


def test_logged_job_reports_a_damaged_file_in_one_line(tmp_path):
    """A job stopped by a damaged input writes one line on stderr: the file and what to do."""
    path, _ = _chunk(tmp_path)
    path.write_bytes(b"")
    code = f"""
from shrinkstudy.store.smkio import file_identity, logged, read_columns
with logged(r"{tmp_path}/job.log"):
    read_columns(r"{path}", file_identity("data", "{CELL}", 0, 20))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr == f"error: {path}: empty file (0 bytes); delete it and run the same command again\n"
    assert "Traceback" in (tmp_path / "job.log").read_text()


def test_chunk_identities_from_file_names():
    from shrinkstudy.store.smkio import chunk_identities

    paths = [f"results/fit/{CELL}/reps0-20.losses.parquet", f"results/fit/{CELL}/reps20-60.losses.parquet"]
    assert chunk_identities("losses", CELL, paths) == [
        file_identity("losses", CELL, 0, 20),
        file_identity("losses", CELL, 20, 60),
    ]
    with pytest.raises(ValueError, match="chunk file name"):
        chunk_identities("losses", CELL, ["results/fit/x/all.parquet"])


# --- text files with a checksum record (the tables, the seed example) -------------------------

# a few rows of a summary table, as aggregate writes it (about 0.4 kB)
TABLE = (
    "cell,block,J,design,sigma,tau,mu,estimator,groups,measure,value,mcse,reps\n"
    "J3_n2_sigma3_tau1_mu0,balanced,3,2,3,1,0,raw,all,mse,4.512345678,0.1234567891,40\n"
    "J3_n2_sigma3_tau1_mu0,balanced,3,2,3,1,0,blup,all,mse,1.023456789,0.0456789123,40\n"
    "J3_n2_sigma3_tau1_mu0,balanced,3,2,3,1,0,blup,all,rel_mse,0.2268109,0.01,40\n"
    "J5_n4_sigma3_tau1_mu0,balanced,5,4,3,1,0,oracle,all,coverage,0.95,0.0034,40\n"
)


def _sealed(tmp_path, name="summary.csv", text=TABLE):
    from shrinkstudy.store.smkio import write_sealed

    path = tmp_path / "tables" / name
    write_sealed(path, text)
    return path


def test_a_sealed_file_reads_back_its_bytes_and_records_them_as_sha256sum_does(tmp_path):
    import hashlib
    import shutil

    from shrinkstudy.store.smkio import checksum_path, read_checked

    path = _sealed(tmp_path)
    record = checksum_path(path)
    assert record == tmp_path / "tables" / ".checksums" / "summary.csv.sha256"
    assert path.read_bytes() == TABLE.encode()  # the file itself as given, nothing added
    assert record.read_text() == f"{hashlib.sha256(TABLE.encode()).hexdigest()}  summary.csv\n"
    assert read_checked(path) == TABLE.encode()
    assert not list(tmp_path.rglob("*.tmp"))
    if shutil.which("sha256sum"):  # the record checks with the usual tool, from the file's folder
        res = subprocess.run(["sha256sum", "-c", ".checksums/summary.csv.sha256"], cwd=path.parent,
                             capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout == "summary.csv: OK\n", res
    # UTF-8 text and bytes, written as given (no newline translation)
    other = _sealed(tmp_path, "headline.md", "é\r\nx\n")
    assert read_checked(other) == "é\r\nx\n".encode()
    assert read_checked(_sealed(tmp_path, "empty.csv", b"")) == b""


def test_every_byte_flip_of_a_sealed_file_or_its_record_stops_the_read(tmp_path):
    """Each byte of a table and of its record XORed with 0x01, 0x80 and 0xFF in turn: every read
    stops with the one line naming the table, or returns exactly the bytes written."""
    from shrinkstudy.store.smkio import checksum_path, read_checked

    path = _sealed(tmp_path)
    record = checksum_path(path)
    stored = {path: path.read_bytes(), record: record.read_bytes()}
    caught = 0
    for target, good in stored.items():
        for i, x, damaged in _byte_flips(good):
            target.write_bytes(damaged)
            try:
                back = read_checked(path)
            except DamagedFile as exc:
                _one_line(exc, path)
                caught += 1
            else:
                assert back == stored[path], (target.name, i, x)
            target.write_bytes(good)
    assert caught == 3 * (len(stored[path]) + len(stored[record]))  # SHA-256: none get through


@pytest.mark.parametrize(
    "damage", ["cut short", "one byte short", "zero bytes", "missing", "record missing", "record empty",
               "record of another file", "a hand edit"]
)
def test_damaged_sealed_files_name_the_file(tmp_path, damage):
    from shrinkstudy.store.smkio import checksum_path, read_checked

    path = _sealed(tmp_path)
    record = checksum_path(path)
    good = path.read_bytes()
    if damage == "cut short":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "one byte short":
        path.write_bytes(good[:-1])
    elif damage == "zero bytes":
        path.write_bytes(b"")
    elif damage == "missing":
        path.unlink()
    elif damage == "record missing":
        record.unlink()
    elif damage == "record empty":
        record.write_bytes(b"")
    elif damage == "record of another file":
        other = _sealed(tmp_path, "replication.csv", "cell,measure\nJ3,mse\n")
        record.write_bytes(checksum_path(other).read_bytes())
    else:
        path.write_text(TABLE.replace("0.2268109", "0.2168109"))
    with pytest.raises(DamagedFile) as err:
        read_checked(path)
    _one_line(err.value, path)
    reason = {"missing": "missing", "record missing": "summary.csv.sha256 is missing",
              "record empty": "is damaged", "record of another file": "is damaged",
              "zero bytes": "empty file"}.get(damage, "checksum mismatch")
    assert reason in str(err.value), str(err.value)
    # the job that reads it says so in one line on stderr
    code = f"""
from shrinkstudy.store.smkio import logged, read_checked
with logged(r"{tmp_path}/job.log"):
    read_checked(r"{path}")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 1 and res.stderr == f"error: {err.value}\n", res.stderr


def test_a_file_s_extra_record_round_trips_and_a_changed_one_is_named(tmp_path):
    """``write_columns(..., extra=)``: a record about the whole file, read back exactly from the
    footer by ``read_extras`` (None for a file without one); a record changed after writing
    (its checksum no longer matching) raises DamagedFile naming the file."""
    import json

    from shrinkstudy.store.smkio import META_KEY, read_extras

    extra = {"oracle_group_risks": [0.1, 1 / 3, float.fromhex("0x1.fffffffffffffp-2")]}
    with_extra, without = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_columns({"rep": np.arange(3)}, with_extra, file_identity("losses", "c", 0, 3), extra=extra)
    write_columns({"rep": np.arange(3)}, without, file_identity("losses", "c", 3, 6))
    assert read_extras([with_extra, without]) == [extra, None]
    assert read_extras([with_extra])[0]["oracle_group_risks"][1] == 1 / 3  # the same bits
    np.testing.assert_array_equal(read_columns(with_extra, file_identity("losses", "c", 0, 3))["rep"], np.arange(3))

    table = pq.read_table(with_extra)
    meta = json.loads(table.schema.metadata[META_KEY])
    meta["extra"]["oracle_group_risks"][0] = 0.2  # changed, checksum left as it was
    pq.write_table(table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()}), with_extra)
    with pytest.raises(DamagedFile) as err:
        read_extras([with_extra])
    assert str(err.value).startswith(str(with_extra)) and "checksum mismatch" in str(err.value)
