"""Real-program traces: the lackey reducer against a plain re-implementation, the LRU-exactness claim of
Safely Allowed Drop, the loader's errors, the text format, the shipped traces in data/, trace_info."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from vmkit.trace import (
    FORMAT_VERSION,
    LackeyReducer,
    PageCollapser,
    SafelyAllowedDrop,
    Trace,
    TraceWorkload,
    add_trace_commands,
    capture,
    cmd_trace_info,
    collapse_pages,
    load_trace,
    parse_lackey,
    reduce_lackey,
    safely_allowed_drop,
    save_trace,
    stack_distances,
    trace_info,
)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
SHIPPED = ["sort", "xz", "python3", "sqlite3", "awk"]
FRAMES_EXACT = (64, 65, 100, 128, 300)


# -- plain, obviously correct re-implementations -------------------------------------------------------

def plain_step1(text: str, page_size: int = 4096) -> tuple[list[list], int]:
    """Lackey text -> [[page, write, count], ...] (step 1), and the number of references."""
    recs: list[list] = []
    refs = 0
    for line in text.split("\n"):
        if line.startswith("I  "):
            write = False
        elif line[:3] in (" L ", " S ", " M "):
            write = line[1] in "SM"
        else:
            continue
        addr_text, size_text = line[3:].split(",")
        addr, size = int(addr_text, 16), int(size_text)
        refs += 1
        for page in range(addr // page_size, (addr + max(size, 1) - 1) // page_size + 1):
            if recs and recs[-1][0] == page:
                recs[-1][1] = recs[-1][1] or write
                recs[-1][2] += 1
            else:
                recs.append([page, write, 1])
    return recs, refs


def plain_sad(recs: list[list], k: int) -> list[tuple]:
    """Step 2: segments of at most k distinct pages; keep first reference, first write, last reference."""
    segments: list[list[int]] = []
    current: list[int] = []
    seen: set = set()
    for i, (page, _w, _c) in enumerate(recs):
        if page not in seen and len(seen) == k:
            segments.append(current)
            current, seen = [], set()
        seen.add(page)
        current.append(i)
    if current:
        segments.append(current)
    keep: set = set()
    for seg in segments:
        first: dict = {}
        first_write: dict = {}
        last: dict = {}
        for i in seg:
            page, write, _ = recs[i]
            first.setdefault(page, i)
            last[page] = i
            if write:
                first_write.setdefault(page, i)
        keep |= set(first.values()) | set(first_write.values()) | set(last.values())
    out, pending = [], 0
    for i, (page, write, count) in enumerate(recs):
        pending += count
        if i in keep:
            out.append((page, write, pending))
            pending = 0
    assert pending == 0
    return out


def lru(refs, frames: int) -> tuple[int, int]:
    """LRU with write-back: (faults, write-backs of dirty victims)."""
    mem: OrderedDict = OrderedDict()
    faults = writebacks = 0
    for page, write in refs:
        if page in mem:
            mem.move_to_end(page)
            if write:
                mem[page] = True
        else:
            faults += 1
            if len(mem) >= frames:
                _, dirty = mem.popitem(last=False)
                writebacks += dirty
            mem[page] = bool(write)
    return faults, writebacks


def synthetic_lackey(seed: int, nrefs: int = 60000) -> str:
    """A lackey log of a made-up program: code, heap and stack in phases, some page-crossing references."""
    rng = random.Random(seed)
    lines = ["==4242== Lackey, an example Valgrind tool", "==4242== Command: ./made-up", "==4242== "]
    code, heap, stack = 0x108000, 0x4a30000, 0x1ffefff000
    pc = code
    for _ in range(nrefs // 300):
        hot_heap = [heap + 4096 * rng.randrange(400) for _ in range(rng.randint(2, 90))]
        for _ in range(300 // 3):
            pc = code + 4096 * rng.randrange(40) + rng.randrange(4096) if rng.random() < 0.05 else pc + 3
            lines.append(f"I  {pc:08x},{rng.choice((1, 3, 5, 7, 15))}")
            r = rng.random()
            if r < 0.4:
                addr = stack - rng.randrange(3 * 4096)
            else:
                addr = rng.choice(hot_heap) + rng.randrange(4096)
            kind = rng.choice(" L  L  S  M".split("  "))
            lines.append(f"{kind} {addr:08x},{rng.choice((1, 2, 4, 8, 16, 32))}")
    lines.append("==4242== ")
    lines.append("==4242== Exit code:       0")
    return "\n".join(lines) + "\n"


def _arrays_of(recs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.array([r[0] for r in recs], np.int64), np.array([r[1] for r in recs], bool),
            np.array([r[2] for r in recs], np.int64))


# -- the reducer equals the plain re-implementation -------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2])
def test_parse_and_step1_match_plain(seed):
    text = synthetic_lackey(seed)
    recs, refs = plain_step1(text)
    pages, writes, stats = parse_lackey(text.encode())
    assert stats["references"] == refs and stats["malformed_lines"] == 0
    assert stats["crossing_references"] > 0          # the generator makes some
    p, w, c = collapse_pages(pages, writes)
    assert (p.tolist(), w.tolist(), c.tolist()) == tuple(list(x) for x in zip(*recs, strict=True))


@pytest.mark.parametrize("k", [1, 2, 8, 64])
def test_sad_matches_plain(k):
    recs, _ = plain_step1(synthetic_lackey(3))
    p, w, c = safely_allowed_drop(*_arrays_of(recs), k=k)
    assert list(zip(p.tolist(), w.tolist(), c.tolist(), strict=True)) == plain_sad(recs, k)


def test_streaming_in_small_pieces_equals_one_shot():
    """Chunk boundaries anywhere (mid-line, mid-run, mid-segment) change nothing."""
    text = synthetic_lackey(4).encode()
    recs, refs = plain_step1(text.decode())
    want = plain_sad(recs, 16)
    rng = random.Random(0)
    red = LackeyReducer(k=16, chunk_bytes=3000)
    pos = 0
    while pos < len(text):
        step = rng.randint(1, 5000)
        red.feed(text[pos:pos + step])
        pos += step
    tr = red.finish()
    got = list(zip(tr.real_pages.tolist(), tr.writes.tolist(), tr.counts.tolist(), strict=True))
    assert got == want
    assert tr.meta["raw_references"] == refs
    assert tr.meta["step1_records"] == len(recs)
    assert tr.meta["step2_records"] == len(want) == tr.n
    assert int(tr.counts.sum()) == sum(r[2] for r in recs) == tr.meta["page_touches"]


def test_stream_classes_in_chunks():
    recs, _ = plain_step1(synthetic_lackey(5))
    p, w, c = _arrays_of(recs)
    one = safely_allowed_drop(p, w, c, k=32)
    sad, col = SafelyAllowedDrop(32), PageCollapser()
    parts = []
    for a in range(0, len(p), 777):
        parts.append(sad.feed(*col.feed(p[a:a + 777], w[a:a + 777], c[a:a + 777])))
    parts.append(sad.feed(*col.finish()))
    parts.append(sad.finish())
    got = tuple(np.concatenate([x[i] for x in parts]) for i in range(3))
    for a, b in zip(one, got, strict=True):
        assert a.tolist() == b.tolist()
    assert col.records == len(recs)


def test_reducer_handles_odd_lines():
    text = ("==1== Lackey\nI  0400d7d4,3\n L 1ffefffe38,8\n S 1ffefffe30,8\n M 0421c0a8,4\n"
            "I  00000fff,2\n L 7f,1\n S 0421c0a8,1234\n L ffffffffff,1\nbogus line\n M 00001000,0\n")
    recs, refs = plain_step1(text)
    pages, writes, stats = parse_lackey(text.encode())
    p, w, c = collapse_pages(pages, writes)
    assert stats["references"] == refs == 9
    assert list(zip(p.tolist(), w.tolist(), c.tolist(), strict=True)) == [tuple(r) for r in recs]
    # no trailing newline: the last line still counts
    assert parse_lackey(b"I  0400d7d4,3\n L 1ffefffe38,8")[2]["references"] == 2


def _lru_claim(step1, reduced, k: int) -> None:
    full = list(zip(*step1[:2], strict=True))
    red = list(zip(*reduced[:2], strict=True))
    for frames in FRAMES_EXACT:
        if frames >= k:
            assert lru(full, frames) == lru(red, frames), frames


def test_lru_exact_at_k_frames_or_more_synthetic():
    recs, _ = plain_step1(synthetic_lackey(6, nrefs=90000))
    step1 = _arrays_of(recs)
    for k in (16, 64):
        reduced = safely_allowed_drop(*step1, k=k)
        assert len(reduced[0]) < len(step1[0])
        _lru_claim(step1, reduced, k)
        full, red = list(zip(*step1[:2], strict=True)), list(zip(*reduced[:2], strict=True))
        for frames in (k, k + 1, 2 * k):
            assert lru(full, frames) == lru(red, frames)


def test_lru_claim_fails_below_k():
    """The boundary of the claim: with fewer than K frames the reduced trace is not faithful."""
    recs, _ = plain_step1(synthetic_lackey(6, nrefs=90000))
    step1 = _arrays_of(recs)
    reduced = safely_allowed_drop(*step1, k=64)
    full, red = list(zip(*step1[:2], strict=True)), list(zip(*reduced[:2], strict=True))
    assert any(lru(full, f) != lru(red, f) for f in (4, 8, 16, 32))
    # and a tiny hand-made case: k = 3, 2 frames
    p = np.array([1, 2, 1, 3, 1, 2, 3])
    rp, rw, rc = safely_allowed_drop(p, np.zeros(7, bool), None, k=3)
    assert lru(zip(p, [0] * 7, strict=True), 2)[0] != lru(zip(rp, rw, strict=True), 2)[0]
    assert lru(zip(p, [0] * 7, strict=True), 3)[0] == lru(zip(rp, rw, strict=True), 3)[0]


needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")


# A fixed buffer and one thread: by default sort sizes its buffer from the memory free at the moment, and
# its references then differ from run to run (by about a hundred in a million on a busy machine).
SORT = ["sort", "-S", "1M", "--parallel=1", "-n", "in.txt"]


@pytest.fixture(scope="module")
def live_capture(tmp_path_factory):
    """A small real program captured at test time, and its lackey log kept for the plain re-implementation."""
    work = tmp_path_factory.mktemp("capture")
    (work / "in.txt").write_text("".join(f"{(i * 7919) % 1009} line {i}\n" for i in range(300)))
    tr = capture(SORT, k=64, out=work / "sort.npz", workdir=work)
    return work, tr


@needs_valgrind
def test_live_capture_matches_plain_reimplementation(live_capture, tmp_path):
    """Capture a real program; a second run logged to a file reduces the same way in plain Python."""
    import subprocess

    from vmkit.trace import CAPTURE_ENV, _default_signals
    work, tr = live_capture
    log = tmp_path / "lackey.log"
    env = [f"{a}={b}" for a, b in CAPTURE_ENV.items()]
    # Started as capture() starts it: sort installs handlers only for signals it finds not ignored, so a run
    # that inherits SIGHUP ignored (under nohup, say) makes fewer references.
    subprocess.run(["env", "-i", *env, "valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={log}",
                    *SORT], cwd=work, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, preexec_fn=_default_signals)  # noqa: PLW1509
    text = log.read_text()
    recs, refs = plain_step1(text)
    want = plain_sad(recs, 64)
    # The same environment gives the same trace: the live capture equals the logged run ...
    assert tr.meta["raw_references"] == refs
    assert tr.meta["step1_records"] == len(recs)
    got = list(zip(tr.real_pages.tolist(), tr.writes.tolist(), tr.counts.tolist(), strict=True))
    assert got == want
    # ... and the LRU claim holds on a real program.
    assert tr.distinct_pages > 128
    step1 = _arrays_of(recs)
    _lru_claim(step1, (tr.real_pages, tr.writes), 64)
    full, red = list(zip(*step1[:2], strict=True)), list(zip(tr.real_pages.tolist(), tr.writes.tolist(), strict=True))
    assert any(lru(full, f) != lru(red, f) for f in (8, 16, 32))
    m = tr.meta
    assert m["exit_status"] == 0 and m["k"] == 64 and m["argv"] == SORT
    assert m["program"] == "/usr/bin/sort" and m["command"].startswith("env -i PATH=/usr/bin:/bin LC_ALL=C")
    assert load_trace(work / "sort.npz").pages.tolist() == tr.pages.tolist()


@needs_valgrind
def test_capture_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        capture(["no-such-program-vmkit"], workdir=tmp_path)
    with pytest.raises(ValueError, match="give the program"):
        capture([], workdir=tmp_path)


# -- files ---------------------------------------------------------------------------------------------------

def _small_trace() -> Trace:
    return Trace.from_pages([0x108, 0x4000, 0x108, 0x1ffefff, 0x4000, 0x108], [0, 1, 0, 1, 1, 0],
                            [5, 1, 2, 3, 1, 9], {"program": "/bin/made-up", "k": 64})


def test_npz_round_trip(tmp_path):
    tr = _small_trace()
    path = save_trace(tr, tmp_path / "t.npz")
    back = load_trace(path)
    for a in ("pages", "writes", "counts", "page_table"):
        assert getattr(back, a).tolist() == getattr(tr, a).tolist()
    assert back.meta == tr.meta
    assert back.page_table.tolist() == [0x108, 0x4000, 0x1ffefff]


def test_text_round_trip(tmp_path):
    tr = _small_trace()
    save_trace(tr, tmp_path / "t.txt")
    back = load_trace(tmp_path / "t.txt")
    assert back.real_pages.tolist() == tr.real_pages.tolist()
    assert back.writes.tolist() == tr.writes.tolist()
    assert back.counts.tolist() == [1] * tr.n
    (tmp_path / "h.txt").write_text("# a comment\n\n12\n0x10 W   # hex, a write\n12 r\n7 w\n")
    h = load_trace(tmp_path / "h.txt")
    assert h.real_pages.tolist() == [12, 16, 12, 7]
    assert h.writes.tolist() == [False, True, False, True]
    assert h.pages.tolist() == [1, 2, 1, 0]


def _write_npz(path: Path, **override) -> Path:
    arrays = {"format": np.array("vmkit-trace"), "version": np.array(FORMAT_VERSION), "pages": np.array([0, 1, 0]),
              "writes": np.packbits([1, 0, 0]), "counts": np.array([1, 2, 3]), "page_table": np.array([5, 9]),
              "meta": np.array(json.dumps({"program": "x"}))}
    for k, v in override.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def test_handmade_npz_loads(tmp_path):
    tr = load_trace(_write_npz(tmp_path / "ok.npz"))
    assert tr.real_pages.tolist() == [5, 9, 5] and tr.writes.tolist() == [True, False, False]


@pytest.mark.parametrize("override, message", [
    ({"format": np.array("something-else")}, "not a vmkit trace"),
    ({"format": None}, "not a vmkit trace"),
    ({"version": np.array(99)}, "version"),
    ({"counts": None}, "missing array 'counts'"),
    ({"pages": np.array([0, -1, 0])}, "negative page id -1 at record 1"),
    ({"pages": np.array([0, 2, 0])}, "out of range"),
    ({"pages": np.array([0.0, 1.0, 0.0])}, "wrong dtype for 'pages': float64"),
    ({"counts": np.array(["a", "b", "c"])}, "wrong dtype for 'counts'"),
    ({"writes": np.array([1.0, 0.0, 0.0])}, "wrong dtype for 'writes'"),
    ({"counts": np.array([1, 2])}, "length mismatch"),
    ({"writes": np.array([True, False])}, "length mismatch"),
    ({"counts": np.array([1, 0, 3])}, "counts must be >= 1"),
    ({"page_table": np.array([9, 5])}, "strictly increasing"),
    ({"meta": np.array(3)}, "'meta' must be a JSON object"),
])
def test_loader_rejects_bad_npz(tmp_path, override, message):
    path = _write_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(ValueError, match=message) as exc:
        load_trace(path)
    assert str(path) in str(exc.value)


def test_loader_rejects_object_arrays(tmp_path):
    path = tmp_path / "obj.npz"
    _write_npz(path)
    with zipfile.ZipFile(path, "a") as z:       # replace 'pages' by a pickled object array
        import io
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array([0, "x", None], dtype=object), allow_pickle=True)
        z.writestr("pages2.npy", buf.getvalue())
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    entries["pages.npy"] = entries.pop("pages2.npy")
    with zipfile.ZipFile(path, "w") as z:
        for n, data in entries.items():
            z.writestr(n, data)
    with pytest.raises(ValueError, match="wrong dtype for 'pages': object"):
        load_trace(path)


def test_loader_rejects_truncated_and_foreign_files(tmp_path):
    good = save_trace(_small_trace(), tmp_path / "good.npz").read_bytes()
    for cut in (len(good) // 2, len(good) - 30, 10):
        (tmp_path / "cut.npz").write_bytes(good[:cut])
        with pytest.raises(ValueError, match="truncated or corrupt") as exc:
            load_trace(tmp_path / "cut.npz")
        assert "cut.npz" in str(exc.value)
    (tmp_path / "junk.npz").write_bytes(b"\x00\x01 not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a vmkit trace"):
        load_trace(tmp_path / "junk.npz")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a vmkit trace"):
        load_trace(tmp_path / "other.zip")
    (tmp_path / "bin.trace").write_bytes(b"12 R\n\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="bin.trace:2: not a text trace"):
        load_trace(tmp_path / "bin.trace")
    with pytest.raises(ValueError, match="cannot read"):
        load_trace(tmp_path / "missing.npz")


@pytest.mark.parametrize("content, message", [
    ("12\n13 X\n", r":2: bad line '13 X'"),
    ("12\nabc\n", r":2: bad line 'abc'"),
    ("1\n2\n-5 W\n", r":3: negative page -5"),
    ("12 W extra\n", r":1: bad line '12 W extra'"),
    ("1.5\n", r":1: bad line '1.5'"),
    ("# only a comment\n\n", "holds no references"),
])
def test_loader_rejects_bad_text(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as exc:
        load_trace(path)
    assert str(path) in str(exc.value)


# -- the shipped traces ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_traces_load_with_sane_meta(name):
    tr = load_trace(DATA / f"{name}.npz")
    m = tr.meta
    assert m["k"] == 64 and m["page_size"] == 4096
    assert m["raw_references"] > 10_000_000
    assert m["raw_references"] >= m["step1_records"] / 2 > 0
    assert m["page_touches"] == int(tr.counts.sum()) == m["raw_references"] + m["crossing_references"]
    assert m["step1_records"] > 10 * m["step2_records"]
    assert m["step2_records"] == tr.n
    assert m["exit_status"] == 0 and m["malformed_lines"] == 0
    assert Path(m["program"]).name.startswith(name) or name in m["program"]
    for key in ("argv", "command", "date", "valgrind", "cpu", "input"):
        assert m[key]
    assert tr.distinct_pages == len(tr.page_table) > 2 * 64
    assert 0.0 < tr.write_fraction < 1.0
    assert (np.diff(tr.page_table) > 0).all()
    # code, heap and stack stay visible: the stack sits far above the program's code
    assert tr.page_table[-1] > 1000 * tr.page_table[0]


def test_data_directory_is_small():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 20_000_000
    assert len(list(DATA.glob("*.npz"))) >= 4
    readme = (DATA / "README.md").read_text()
    for name in SHIPPED:
        assert f"{name}.npz" in readme
    assert "Safely Allowed Drop" in readme and "Kaplan" in readme


# -- analysis and replay --------------------------------------------------------------------------------------

def _brute_distances(pages) -> list[int]:
    out = []
    for t, p in enumerate(pages):
        prev = max((j for j in range(t) if pages[j] == p), default=None)
        out.append(-1 if prev is None else len(set(pages[prev + 1:t])))
    return out


def test_stack_distances_brute_force():
    rng = np.random.default_rng(0)
    for n, m in ((1, 1), (50, 3), (400, 40), (300, 300)):
        pages = rng.integers(0, m, n)
        assert stack_distances(pages).tolist() == _brute_distances(pages.tolist())


def test_trace_info_handmade():
    # pages a b a c b a : distances -1 -1 1 -1 2 2
    tr = Trace.from_pages([10, 20, 10, 30, 20, 10], [0, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 5], {"k": 2})
    assert stack_distances(tr.pages).tolist() == [-1, -1, 1, -1, 2, 2]
    info = trace_info(tr)
    assert info["records"] == 6 and info["distinct_pages"] == 3 and info["written_pages"] == 2
    assert info["write_fraction"] == pytest.approx(0.5)
    assert info["raw_references"] == 10
    r = info["reuse"]
    assert r["first_references"] == 3
    assert r["distance_percentiles"] == {"p50": 2, "p90": 2, "p99": 2, "max": 2}
    assert r["fraction_distance_below"]["64"] == pytest.approx(0.5)
    assert r["lru_faults"] == {"64": 3, "128": 3, "256": 3, "1024": 3}
    assert [g["pages"] for g in info["regions"]] == [3]


def test_trace_info_lru_faults_match_simulation():
    recs, _ = plain_step1(synthetic_lackey(7))
    step1 = _arrays_of(recs)
    reduced = safely_allowed_drop(*step1, k=64)
    tr = Trace.from_pages(*reduced, {"k": 64})
    faults = trace_info(tr)["reuse"]["lru_faults"]
    full = list(zip(*step1[:2], strict=True))
    for f in (64, 128, 256):
        assert faults[str(f)] == lru(full, f)[0]


def test_info_command(tmp_path, capsys):
    path = save_trace(_small_trace(), tmp_path / "t.npz")
    parser = argparse.ArgumentParser()
    add_trace_commands(parser.add_subparsers())
    args = parser.parse_args(["trace", "info", str(path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "distinct pages: 3" in out and "write fraction" in out and "reuse distance" in out
    args = parser.parse_args(["trace", "info", str(path), "--json"])
    assert cmd_trace_info(args) == 0
    assert json.loads(capsys.readouterr().out)["distinct_pages"] == 3
    args = parser.parse_args(["trace", "capture", "--k", "32", "--", "sort", "-n", "f"])
    assert args.k == 32 and args.argv[-3:] == ["sort", "-n", "f"]
    args = parser.parse_args(["trace", "capture", "--k", "0", "--", "true"])
    with pytest.raises(ValueError, match="--k must be"):
        args.func(args)


def test_trace_workload_replays_in_order(tmp_path):
    tr = _small_trace()
    wl = TraceWorkload(tr)
    assert wl.name == "trace" and wl.npages == 3 and wl.finite
    v, w = wl.references(100)
    assert v.tolist() == tr.pages.tolist() and w.tolist() == tr.writes.tolist()
    wl2 = TraceWorkload(save_trace(tr, tmp_path / "t.npz"), loop=True)
    assert not wl2.finite
    wl2.bind(np.random.default_rng(0))
    got, sizes = [], []
    while len(got) < 20:
        chunk = wl2.next_chunk(4)[0].tolist()
        got.extend(chunk)
        sizes.append(len(chunk))
    assert got == (tr.pages.tolist() * 4)[:len(got)]
    assert sizes == [4, 2, 4, 2, 4, 2, 4]        # a chunk never runs past the end of the trace
    assert wl2.passes == 3
    assert wl2.counts.tolist() == tr.counts.tolist()


def test_reduce_lackey_from_file(tmp_path):
    text = synthetic_lackey(8)
    (tmp_path / "log").write_text(text)
    a = reduce_lackey(tmp_path / "log", k=64)
    b = reduce_lackey(text.encode(), k=64)
    assert a.pages.tolist() == b.pages.tolist() and a.counts.tolist() == b.counts.tolist()
