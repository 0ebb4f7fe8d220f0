"""The baseline page-replacement policies (vmkit.policies): textbook numbers, an independent oracle, properties.

The fast implementations skip references they can prove are hits and count
write-backs afterwards; here every policy is also written the obvious way
(plain lists, one reference at a time) and the two must agree exactly.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmkit.policies import (
    POLICIES,
    PolicyResult,
    lru_fault_curve,
    lru_stack_distances,
    simulate,
    simulate_all,
)

# -- the independent, straightforward implementation ---------------------------------------------


def reference_sim(policy: str, pages: list[int], writes: list[bool] | None, frames: int, seed: int = 0):
    """(faults, hits, write_backs), one reference at a time, with plain lists.

    ``mem`` is the list of resident pages: in load order (FIFO), least recently
    used first (LRU), by frame number (CLOCK, RANDOM), in any order (OPT).
    """
    if writes is None:
        writes = [False] * len(pages)
    mem: list[int] = []
    bit: list[int] = []                 # CLOCK reference bits, by frame
    dirty: set[int] = set()
    last_use: dict[int, int] = {}
    hand = 0
    rng = np.random.default_rng(seed)
    faults = write_backs = 0
    for i, x in enumerate(pages):
        if x in mem:
            if policy == "lru":
                mem.remove(x)
                mem.append(x)
            elif policy == "clock":
                bit[mem.index(x)] = 1
        else:
            faults += 1
            if len(mem) < frames:       # a free frame
                mem.append(x)
                bit.append(1)
            else:
                if policy in ("fifo", "lru"):
                    slot = 0
                elif policy == "clock":
                    while bit[hand] == 1:
                        bit[hand] = 0
                        hand = (hand + 1) % frames
                    slot = hand
                    hand = (hand + 1) % frames
                elif policy == "opt":
                    def farthest(y, i=i):    # (next use, earlier last use): never used again is farthest
                        try:
                            nxt = pages.index(y, i + 1)
                        except ValueError:
                            nxt = float("inf")
                        return nxt, -last_use[y]
                    slot = max(range(frames), key=lambda s: farthest(mem[s]))
                else:                   # random
                    slot = min(int(rng.random() * frames), frames - 1)
                victim = mem[slot]
                if victim in dirty:
                    write_backs += 1
                    dirty.discard(victim)
                if policy in ("fifo", "lru"):
                    del mem[slot]
                    mem.append(x)
                else:
                    mem[slot] = x
                    bit[slot] = 1
        if writes[i]:
            dirty.add(x)
        last_use[x] = i
    return faults, len(pages) - faults, write_backs


def result_tuple(r: PolicyResult):
    return r.faults, r.hits, r.write_backs


# -- textbook examples ---------------------------------------------------------------------------

SGG = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
BELADY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("policy, faults", [("fifo", 15), ("opt", 9), ("lru", 12)])
def test_silberschatz_reference_string(policy, faults):
    """Silberschatz, Galvin & Gagne, *Operating System Concepts*, 9th ed. (Wiley 2013), section 9.4
    (Page Replacement): the reference string 7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,0,1,7,0,1 with three
    frames gives 15 faults under FIFO (9.4.2, Figure 9.12), 9 under OPT (9.4.3, Figure 9.14) and
    12 under LRU (9.4.4, Figure 9.15).  Faults include the first reference to each page, as in the book.
    """
    r = simulate(policy, SGG, frames=3)
    assert (r.faults, r.hits, r.references) == (faults, 20 - faults, 20)
    assert r.hit_ratio == pytest.approx((20 - faults) / 20)


@pytest.mark.parametrize("frames, faults", [(3, 9), (4, 10)])
def test_belady_anomaly_fifo(frames, faults):
    """Belady's anomaly (Belady, Nelson & Shedler, "An anomaly in space-time characteristics of
    certain programs running in a paging machine", CACM 12(6), 1969; and Silberschatz, Galvin &
    Gagne, 9th ed., section 9.4.2, Figure 9.13): FIFO on 1,2,3,4,1,2,5,1,2,3,4,5 faults 9 times
    with three frames and 10 times with four.
    """
    assert simulate("fifo", BELADY, frames=frames).faults == faults


def test_belady_string_under_stack_algorithms():
    """LRU and OPT are stack algorithms: more frames never cost faults on the anomaly string."""
    for policy in ("lru", "opt"):
        counts = [simulate(policy, BELADY, frames=k).faults for k in range(1, 7)]
        assert counts == sorted(counts, reverse=True), (policy, counts)
    assert [simulate("opt", BELADY, frames=k).faults for k in (3, 4)] == [7, 6]
    assert [simulate("lru", BELADY, frames=k).faults for k in (3, 4)] == [10, 8]


def test_reference_sim_agrees_on_the_textbook_strings():
    for policy, faults in [("fifo", 15), ("opt", 9), ("lru", 12)]:
        assert reference_sim(policy, SGG, None, 3)[0] == faults
    assert [reference_sim("fifo", BELADY, None, k)[0] for k in (3, 4)] == [9, 10]


def test_clock_second_chance_by_hand():
    """Frames 0,1,2 hold 1,2,3 (bits set on load); 1 is referenced again; loading 4 sweeps the
    hand from frame 0: every bit is 1, all are cleared, frame 0 (page 1) is replaced and the hand
    stops at frame 1.  Then 1 faults back into frame 1 (page 2's bit is 0); 3 is still resident."""
    r = simulate("clock", [1, 2, 3, 1, 4, 1, 3], frames=3)
    assert (r.faults, r.hits) == (5, 2)
    # With page 1 referenced twice before the fault, FIFO gives the same first victim (all bits set).
    assert simulate("fifo", [1, 2, 3, 1, 4, 1, 3], frames=3).faults == 5
    # Second chance: after 4 replaces 1 the bits of 2 and 3 are clear; 2 is referenced (bit set), so
    # loading 5 spares it (clears its bit) and replaces 3.  FIFO evicts 2, the oldest load, and faults on it.
    trace = [1, 2, 3, 4, 2, 5, 2]
    assert simulate("clock", trace, frames=3).faults == 5
    assert simulate("fifo", trace, frames=3).faults == 6


def test_write_backs_by_hand():
    """A write-back is the eviction of a page written since it was loaded; dirty pages left at the end
    are not counted."""
    pages = [1, 2, 3, 1, 4, 5]
    writes = [True, True, False, False, False, True]
    # FIFO, 2 frames: 1 2 | 3 evicts 1 (dirty) | 1 evicts 2 (dirty) | 4 evicts 3 | 5 evicts 1 (clean reload).
    r = simulate("fifo", pages, writes, frames=2)
    assert (r.faults, r.write_backs) == (6, 2)
    # Enough frames: nothing is evicted, nothing is written back.
    assert simulate("fifo", pages, writes, frames=5).write_backs == 0
    # A write on a hit dirties the page too.
    assert simulate("lru", [1, 1, 2, 3], [False, True, False, False], frames=1).write_backs == 1


# -- agreement with the straightforward implementation on random traces ---------------------------

@st.composite
def traces(draw, max_len=90):
    alphabet = draw(st.lists(st.sampled_from([0, 1, 2, 3, 5, 8, 13, 40, 99, 1000, 10**6, 2**40]),
                             min_size=1, max_size=12, unique=True)
                    | st.lists(st.integers(0, 30), min_size=1, max_size=15, unique=True))
    pages = draw(st.lists(st.sampled_from(alphabet), max_size=max_len))
    writes = draw(st.none() | st.lists(st.booleans(), min_size=len(pages), max_size=len(pages)))
    frames = draw(st.integers(1, 12))
    return pages, writes, frames


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("policy", POLICIES)
@SETTINGS
@given(trace=traces(), seed=st.integers(0, 2**32))
def test_agrees_with_straightforward_implementation(policy, trace, seed):
    pages, writes, frames = trace
    r = simulate(policy, pages, writes, frames=frames, seed=seed)
    assert result_tuple(r) == reference_sim(policy, pages, writes, frames, seed)
    assert (r.policy, r.frames, r.references) == (policy, frames, len(pages))


@SETTINGS
@given(trace=traces(), seed=st.integers(0, 2**32))
def test_simulate_all_is_simulate(trace, seed):
    pages, writes, frames = trace
    rs = simulate_all(pages, writes, frames, seed=seed)
    assert [r.policy for r in rs] == list(POLICIES)
    for r in rs:
        assert r == simulate(r.policy, np.array(pages, dtype=np.int64), writes, frames=frames, seed=seed)


@pytest.mark.parametrize("policy", POLICIES)
def test_agrees_on_a_longer_trace_with_more_frames(policy):
    """Long enough that the reuse-window shortcuts (windows longer than ``frames``) matter."""
    rng = np.random.default_rng(7)
    hot = rng.integers(0, 300, 40)
    pages = np.where(rng.random(2500) < 0.8, hot[rng.integers(0, 40, 2500)], rng.integers(0, 300, 2500))
    pages[1000:1600] = 500 + np.arange(600) % 45           # a loop that fits in 50 frames
    writes = rng.random(2500) < 0.3
    for frames in (1, 7, 50, 64):
        r = simulate(policy, pages, writes, frames=frames, seed=3)
        assert result_tuple(r) == reference_sim(policy, pages.tolist(), writes.tolist(), frames, 3)


# -- properties ----------------------------------------------------------------------------------

@SETTINGS
@given(trace=traces(), seed=st.integers(0, 2**32))
def test_opt_is_optimal_and_counts_add_up(trace, seed):
    pages, writes, frames = trace
    rs = {r.policy: r for r in simulate_all(pages, writes, frames, seed=seed)}
    distinct = len(set(pages))
    for r in rs.values():
        assert r.faults + r.hits == len(pages)
        assert distinct <= r.faults <= len(pages)
        assert rs["opt"].faults <= r.faults
        assert 0 <= r.write_backs <= r.faults
        if writes is None or not any(writes):
            assert r.write_backs == 0
        if frames >= distinct:
            assert r.faults == distinct and r.write_backs == 0


@SETTINGS
@given(trace=traces())
def test_lru_and_opt_never_fault_more_with_more_frames(trace):
    """The stack (inclusion) property of LRU and OPT (Mattson, Gecsei, Slutz & Traiger 1970)."""
    pages, _, _ = trace
    for policy in ("lru", "opt"):
        counts = [simulate(policy, pages, frames=k).faults for k in range(1, 14)]
        assert all(a >= b for a, b in pairwise(counts)), (policy, counts)


def test_fifo_belady_anomaly_is_found_on_random_traces():
    """FIFO is not a stack algorithm: some short random strings fault more with one more frame."""
    rng = np.random.default_rng(0)
    for _ in range(3000):
        pages = rng.integers(0, 6, 30)
        f = [simulate("fifo", pages, frames=k).faults for k in range(1, 7)]
        k = next((k for k in range(1, 6) if f[k] > f[k - 1]), None)     # f[k] is k + 1 frames
        if k is not None:
            break
    assert k is not None, "no anomaly in 3000 random strings"
    assert [reference_sim("fifo", pages.tolist(), None, m)[0] for m in (k, k + 1)] == [f[k - 1], f[k]]


def test_random_is_deterministic_per_seed_and_depends_on_it():
    rng = np.random.default_rng(1)
    pages = rng.integers(0, 50, 3000)
    writes = rng.random(3000) < 0.5
    a = simulate("random", pages, writes, frames=20, seed=5)
    assert a == simulate("random", pages.tolist(), writes.tolist(), frames=20, seed=5)
    results = {result_tuple(simulate("random", pages, writes, frames=20, seed=s)) for s in range(6)}
    assert len(results) > 1
    opt = simulate("opt", pages, frames=20).faults
    assert all(opt <= f <= 3000 for f, _, _ in results)


def test_random_uses_more_draws_than_one_batch():
    """More than 4096 evictions: the batched draws continue the same stream as one draw per eviction."""
    rng = np.random.default_rng(2)
    pages = rng.integers(0, 40, 6000)
    r = simulate("random", pages, frames=4, seed=11)
    assert r.faults > 4200
    assert result_tuple(r) == reference_sim("random", pages.tolist(), None, 4, 11)


def test_sparse_page_numbers_are_just_names():
    rng = np.random.default_rng(3)
    pages = rng.integers(0, 30, 500)
    writes = rng.random(500) < 0.4
    sparse = pages * (2**50 // 31) + 12345
    for policy in POLICIES:
        assert result_tuple(simulate(policy, sparse, writes, frames=6)) == \
            result_tuple(simulate(policy, pages, writes, frames=6))


def test_empty_trace_and_result_dict():
    r = simulate("lru", [], frames=4)
    assert (r.faults, r.hits, r.hit_ratio, r.write_backs, r.references) == (0, 0, 0.0, 0, 0)
    d = simulate("fifo", SGG, frames=3).as_dict()
    assert {"policy", "faults", "hits", "hit_ratio", "write_backs", "frames", "references"} <= set(d)
    assert d["policy"] == "fifo" and d["faults"] == 15 and d["hit_ratio"] == 0.25
    assert simulate("LRU", SGG, frames=3).policy == "lru"


@pytest.mark.parametrize("frames", [20, 21, 10**6, 10**30, np.int64(4), np.uint8(3)])
def test_any_number_of_frames(frames):
    for policy in POLICIES:
        r = simulate(policy, SGG, [True] * 20, frames=frames)
        expected = reference_sim(policy, SGG, [True] * 20, min(int(frames), 20))
        assert result_tuple(r) == expected and r.frames == frames


def test_input_types():
    as_list = simulate("opt", SGG, frames=3)
    for pages in (tuple(SGG), np.array(SGG, dtype=np.int32), np.array(SGG, dtype=np.uint16)):
        assert simulate("opt", pages, frames=3) == as_list
    w = [i % 3 == 0 for i in range(20)]
    a = simulate("lru", SGG, w, frames=3)
    assert simulate("lru", SGG, np.array(w, dtype=np.uint8), frames=3) == a
    assert simulate("lru", SGG, [int(x) for x in w], frames=3) == a
    assert simulate("lru", SGG, [False] * 20, frames=3) == simulate("lru", SGG, None, frames=3)


# -- LRU stack distances and the fault curve -----------------------------------------------------

def brute_stack_distances(pages):
    out = []
    for i, x in enumerate(pages):
        j = max((t for t in range(i) if pages[t] == x), default=-1)
        out.append(-1 if j < 0 else len(set(pages[j + 1:i])))
    return out


@SETTINGS
@given(trace=traces(max_len=150))
def test_stack_distances_and_fault_curve(trace):
    pages, _, _ = trace
    assert lru_stack_distances(pages).tolist() == brute_stack_distances(pages)
    curve = lru_fault_curve(pages, 14)
    assert len(curve) == 15 and curve[0] == len(pages)
    assert curve.tolist()[1:] == [simulate("lru", pages, frames=k).faults for k in range(1, 15)]


def test_fault_curve_on_a_longer_trace():
    rng = np.random.default_rng(4)
    pages = np.concatenate([rng.integers(0, 400, 3000), np.arange(5000) % 150, rng.zipf(1.3, 4000) % 1000])
    curve = lru_fault_curve(pages, 300)
    for k in (1, 2, 10, 149, 150, 151, 299, 300):
        assert curve[k] == simulate("lru", pages, frames=k).faults
    assert (np.diff(curve) <= 0).all()
    assert curve[0] == len(pages) and curve[-1] >= len(np.unique(pages))


def test_silberschatz_lru_curve():
    """LRU on the textbook string for 1..8 frames; 6 distinct pages, so 6 compulsory faults at the end."""
    curve = lru_fault_curve(SGG, 8).tolist()
    assert curve == [20, 20, 17, 12, 8, 7, 6, 6, 6]
    assert curve[1:] == [simulate("lru", SGG, frames=k).faults for k in range(1, 9)]


# -- input checking ------------------------------------------------------------------------------

def _raises(func, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as ei:
        func(*args, **kwargs)
    return str(ei.value)


@pytest.mark.parametrize("pages", [[1, -2, 3], [1.5, 2.0], ["a", "b"], [[1, 2], [3, 4]], [[1], [2, 3]], "123", 5, None,
                                   np.array([True, False]), np.array([0.0, 1.0]), np.array([1, -1]), [2**63]])
def test_bad_pages(pages):
    msg = _raises(simulate, "lru", pages, frames=3)
    assert msg.startswith("pages must be") and "between 0 and" in msg


@pytest.mark.parametrize("writes", [[True], [True] * 5, "TTT", [2, 0, 0], [0.5, 0.0, 1.0], 7])
def test_bad_writes(writes):
    msg = _raises(simulate, "fifo", [1, 2, 3], writes, frames=2)
    assert msg.startswith("writes must be")


@pytest.mark.parametrize("frames", [0, -1, 1.5, "3", True, None])
def test_bad_frames(frames):
    msg = _raises(simulate, "fifo", [1, 2, 3], frames=frames)
    assert msg.startswith("frames must be an integer >= 1")
    with pytest.raises(ValueError, match="^frames must be"):
        simulate_all([1, 2], None, frames)


@pytest.mark.parametrize("policy", ["xyz", "", None, 3, "lru "])
def test_bad_policy(policy):
    msg = _raises(simulate, policy, [1, 2, 3], frames=2)
    assert msg.startswith("policy must be one of fifo, lru, clock, opt, random")
    with pytest.raises(ValueError, match="^policy must be"):
        simulate_all([1, 2], None, 2, policies=["lru", policy])


def test_bad_seed_and_policies_and_max_frames():
    assert _raises(simulate, "random", [1, 2], frames=1, seed=-1).startswith("seed must be")
    assert _raises(simulate, "random", [1, 2], frames=1, seed=0.5).startswith("seed must be")
    assert _raises(simulate_all, [1, 2], None, 1, policies=5).startswith("policies must be")
    assert _raises(lru_fault_curve, [1, 2], 0).startswith("max_frames must be")
    assert _raises(lru_fault_curve, [1, -2], 3).startswith("pages must be")
    assert _raises(lru_stack_distances, [[1]]).startswith("pages must be")


@SETTINGS
@given(trace=traces(max_len=150), seed=st.integers(0, 2**32))
def test_fifo_chunked_replay_agrees(trace, seed):
    """FIFO replays chunks of ``frames`` references with numpy for many frames; force it for few."""
    import vmkit.policies as policies

    pages, writes, frames = trace
    saved = policies.FIFO_CHUNK_MIN
    policies.FIFO_CHUNK_MIN = 1
    try:
        r = simulate("fifo", pages, writes, frames=frames)
    finally:
        policies.FIFO_CHUNK_MIN = saved
    assert result_tuple(r) == reference_sim("fifo", pages, writes, frames)


@pytest.mark.parametrize("frames", [8, 50, 200])
def test_fifo_chunked_replay_through_phase_changes(frames):
    """Long all-hit loops (chunks grow), a sudden mix of old and new pages (a chunk too long for its
    fault bound is retried shorter), a burst of faults (every reference visited), a hot set again."""
    import vmkit.policies as policies

    rng = np.random.default_rng(frames)
    mix = np.where(rng.random(5000) < 0.7, np.arange(5000) % 50, rng.integers(3000, 3500, 5000))
    hot = np.where(rng.random(6000) < 0.95, rng.integers(100, 140, 6000), rng.integers(0, 2000, 6000))
    pages = np.concatenate([np.arange(20000) % 50, mix, np.arange(5000) % 30, rng.integers(0, 1000, 3000),
                            hot, np.arange(4000) % 70])
    writes = rng.random(len(pages)) < 0.3
    saved = policies.FIFO_CHUNK_MIN
    policies.FIFO_CHUNK_MIN = 1
    try:
        r = simulate("fifo", pages, writes, frames=frames)
    finally:
        policies.FIFO_CHUNK_MIN = saved
    assert result_tuple(r) == reference_sim("fifo", pages.tolist(), writes.tolist(), frames)
    assert result_tuple(r) == result_tuple(simulate("fifo", pages, writes, frames=frames))


@pytest.mark.parametrize("policy", POLICIES)
def test_agrees_through_phase_changes(policy):
    """Loops, a hot set, a burst of new pages, with many frames: every shortcut and its way back."""
    rng = np.random.default_rng(5)
    hot = np.where(rng.random(3000) < 0.9, rng.integers(100, 160, 3000), rng.integers(0, 2000, 3000))
    pages = np.concatenate([np.arange(3000) % 50, hot, rng.integers(0, 800, 1500), np.arange(2000) % 120])
    writes = rng.random(len(pages)) < 0.3
    for frames in (50, 130):
        r = simulate(policy, pages, writes, frames=frames, seed=9)
        assert result_tuple(r) == reference_sim(policy, pages.tolist(), writes.tolist(), frames, 9)
