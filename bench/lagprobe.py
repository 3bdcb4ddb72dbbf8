#!/usr/bin/env python3
"""lagprobe.py SRC DST N TOOL REP: the loads of bench/lag.sh.

Writes into SRC/TOOL-REP (SRC: a container's merged view) and polls DST/TOOL-REP
(the copy on the other host) until each write shows there whole. Prints
CSV rows "lag,TOOL,LOAD,REP,METRIC,VALUE" on stdout; exits non-zero,
saying why on stderr, if a write is not replicated within 30 s.

TOOL disk-floor runs no tool: in DST/disk-floor-REP, on beta's disk, it
times what any durable copy must do there at least, for the single, append
and burst loads (a reference, not a peer).
"""
import os
import sys
import time

TIMEOUT = 30.0
POLL = 0.0002


def now():
    return time.monotonic()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError):
        return None


def put(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def arrived(path, want):
    return read(path) == want


def percentiles(name, load, rep, ms):
    ms = sorted(ms)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
    for metric, v in (("p50_ms", pick(0.5)), ("p99_ms", pick(0.99)),
                      ("max_ms", ms[-1])):
        print("lag,%s,%s,%s,%s,%.1f" % (name, load, rep, metric, v))


def single(src, dst, n):
    """One 100-byte file at a time, 20 ms apart: the lag of each."""
    lags = []
    for i in range(n):
        name = "one%d" % i
        payload = (b"%d " % i) + b"y" * 90 + b"\n"
        put(os.path.join(src, name), payload)
        t0 = now()
        while not arrived(os.path.join(dst, name), payload):
            if now() - t0 > TIMEOUT:
                sys.exit("single: %s not replicated after %d s" % (name, TIMEOUT))
            time.sleep(POLL)
        lags.append((now() - t0) * 1000)
        time.sleep(0.02)
    return lags


def small(src, dst, n):
    """A file every 5 ms, a 4 MiB one after every 50th; lag per small file."""
    pending = {}        # name -> (payload, written at)
    lags = []
    big = os.urandom(4 << 20)
    nxt = now()
    i = 0
    deadline = None
    while i < n or pending:
        t = now()
        if i < n and t >= nxt:
            name = "lag%d" % i
            payload = (b"%d " % i) + b"x" * 90 + b"\n"
            put(os.path.join(src, name), payload)
            pending[name] = (payload, now())
            i += 1
            if i % 50 == 0:
                put(os.path.join(src, "big%d" % i), big)
            nxt += 0.005
            deadline = now() + TIMEOUT
        for name in list(pending):
            payload, t0 = pending[name]
            if arrived(os.path.join(dst, name), payload):
                lags.append((now() - t0) * 1000)
                del pending[name]
        if deadline is not None and now() > deadline:
            sys.exit("small: %d files not replicated after %d s"
                     % (len(pending), TIMEOUT))
        time.sleep(POLL)
    return lags


def append(src, dst, n):
    """1 MiB appended to a 24 MB file, n times, one at a time, in turn to
    four files, so that each stays near 24 MB (24 + n/4 MiB at the end)."""
    sizes = []
    for k in range(4):
        put(os.path.join(src, "grow%d" % k), os.urandom(24 << 20))
        sizes.append(24 << 20)
    for k in range(4):
        wait_size(os.path.join(dst, "grow%d" % k), sizes[k], None)
    lags = []
    for i in range(n):
        k = i % 4
        chunk = os.urandom(1 << 20)
        put(os.path.join(src, "grow%d" % k), chunk, "ab")
        t0 = now()
        sizes[k] += len(chunk)
        wait_size(os.path.join(dst, "grow%d" % k), sizes[k], chunk)
        lags.append((now() - t0) * 1000)
    return lags


def wait_size(path, size, tail):
    end = now() + TIMEOUT
    while now() < end:
        try:
            if os.stat(path).st_size == size:
                if tail is None:
                    return
                with open(path, "rb") as f:
                    f.seek(size - len(tail))
                    if f.read() == tail:
                        return
        except FileNotFoundError:
            pass
        time.sleep(POLL)
    sys.exit("append: %s did not reach %d bytes in %d s" % (path, size, TIMEOUT))


def burst(src, dst):
    """500 files of 1 KiB at once; from the first write to all on dst,
    and how long the writes alone took (the floor: nothing can have
    them all on dst before they are all written)."""
    os.mkdir(os.path.join(src, "burst"))
    payloads = [(b"%d " % i) + os.urandom(1000) for i in range(500)]
    t0 = now()
    for i, p in enumerate(payloads):
        put(os.path.join(src, "burst", "f%d" % i), p)
    written = now()
    # Checked in order, each pass stopping at the first file not there
    # yet: all 500 must arrive, and re-reading the ones behind it on
    # every pass would take a core from the tool being timed.
    pending = list(range(500))
    end = now() + TIMEOUT
    while pending:
        while pending and arrived(os.path.join(dst, "burst", "f%d" % pending[0]),
                                  payloads[pending[0]]):
            pending.pop(0)
        if now() > end:
            sys.exit("burst: %d files not replicated in %d s" % (len(pending), TIMEOUT))
        if pending:
            time.sleep(POLL)
    return (now() - t0) * 1000, (written - t0) * 1000


def floor_single(dst, n):
    """The least a durable copy of a small file costs on this disk: written
    and fdatasync'd under a temporary name, renamed into place, its
    directory fsync'd; one at a time, 20 ms apart, as in single()."""
    lags = []
    dfd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(n):
            payload = (b"%d " % i) + b"y" * 90 + b"\n"
            tmp, name = os.path.join(dst, ".one%d" % i), os.path.join(dst, "one%d" % i)
            t0 = now()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, payload)
            os.fdatasync(fd)
            os.close(fd)
            os.rename(tmp, name)
            os.fsync(dfd)
            lags.append((now() - t0) * 1000)
            time.sleep(0.02)
    finally:
        os.close(dfd)
    return lags


def floor_append(dst, n):
    """The least a durable 1 MiB append to a 24 MB file costs on this
    disk: the bytes written at the end and fdatasync'd, one at a time."""
    path = os.path.join(dst, "grow")
    put(path, os.urandom(24 << 20))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.fsync(fd)
    lags = []
    try:
        for _ in range(n):
            chunk = os.urandom(1 << 20)
            t0 = now()
            os.write(fd, chunk)
            os.fdatasync(fd)
            lags.append((now() - t0) * 1000)
    finally:
        os.close(fd)
    return lags


def floor_burst(dst):
    """The least a durable, all-or-nothing copy of the burst costs on
    this disk, no transfer: 500 files of 1 KiB written into a stage
    directory, one syncfs, each renamed into place, the directory
    fsync'd; from the first write to the last flush."""
    import ctypes
    syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    stage, into = os.path.join(dst, "stage"), os.path.join(dst, "burst")
    os.mkdir(stage)
    os.mkdir(into)
    payloads = [(b"%d " % i) + os.urandom(1000) for i in range(500)]
    t0 = now()
    for i, p in enumerate(payloads):
        put(os.path.join(stage, "%08d" % i), p)
    sfd = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)
    dfd = os.open(into, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(sfd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs")
        for i in range(500):
            os.rename(os.path.join(stage, "%08d" % i), os.path.join(into, "f%d" % i))
        os.fsync(dfd)
    finally:
        os.close(sfd)
        os.close(dfd)
    return (now() - t0) * 1000


def main():
    src, dst, n, tool, rep = sys.argv[1:6]
    n = int(n)
    if tool == "disk-floor":    # a reference on beta's disk, no tool: SRC unused
        dst = os.path.join(dst, "%s-%s" % (tool, rep))
        os.mkdir(dst)
        percentiles(tool, "single", rep, floor_single(dst, max(10, n // 2)))
        percentiles(tool, "append", rep, floor_append(dst, max(4, n // 4)))
        print("lag,%s,burst,%s,ms,%.1f" % (tool, rep, floor_burst(dst)))
        return
    # a directory of its own per tool and run: nothing the other tool
    # left behind can look replicated already
    sub = "%s-%s" % (tool, rep)
    os.mkdir(os.path.join(src, sub))
    src, dst = os.path.join(src, sub), os.path.join(dst, sub)
    percentiles(tool, "single", rep, single(src, dst, max(10, n // 2)))
    percentiles(tool, "stream", rep, small(src, dst, n))
    percentiles(tool, "append", rep, append(src, dst, max(4, n // 4)))
    total, writes = burst(src, dst)
    print("lag,%s,burst,%s,ms,%.1f" % (tool, rep, total))
    print("lag,%s,burst,%s,write_ms,%.1f" % (tool, rep, writes))


if __name__ == "__main__":
    main()
