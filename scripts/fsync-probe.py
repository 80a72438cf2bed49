#!/usr/bin/env python3
"""fsync-probe.py -- what one durable commit costs on this disk.

Times fdatasync after the writes of one group commit, in PROCS processes
at once (three nodes of a local cluster share one disk):

  pages:  PAGES random 4 KiB pages of a 300 MB file, as an LMDB commit of a
          group of PUTs to scattered keys writes them (one leaf each);
  append: one BYTES-long append to a log file, as a commit log would write
          the same group's records;
  inplace: the same BYTES written at the same offsets of a log file filled
          with zeros and flushed beforehand: the file's size never changes,
          so the flush has no inode to write (a preallocated log).

  scripts/fsync-probe.py [--procs 3] [--pages 35] [--bytes 6144]
                         [--commits 300] [--dir DIR]

Prints the median and 90th percentile per process and mode. docs/
benchmarks.md, "What a commit costs on this disk", has a run.
"""
import argparse
import os
import random
import statistics
import sys
import tempfile
import time

PAGE = 4096
FILE_PAGES = 76800  # 300 MB


def probe(path, mode, args, seed):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        page = b"x" * PAGE
        rec = b"x" * args.bytes
        if mode == "pages":
            os.ftruncate(fd, FILE_PAGES * PAGE)
        if mode == "inplace":
            zeros = b"\0" * args.bytes
            for i in range(args.commits):
                os.pwrite(fd, zeros, i * args.bytes)
            os.fsync(fd)
        rng = random.Random(seed)
        off = 0
        lat = []
        for _ in range(args.commits):
            if mode == "pages":
                for _ in range(args.pages):
                    os.pwrite(fd, page, rng.randrange(FILE_PAGES) * PAGE)
            else:
                os.pwrite(fd, rec, off)
                off += len(rec)
            t = time.perf_counter()
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
        lat.sort()
        return statistics.median(lat), lat[len(lat) * 9 // 10]
    finally:
        os.close(fd)
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--pages", type=int, default=35)
    ap.add_argument("--bytes", type=int, default=6144)
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="fsync-probe-", dir=args.dir)
    for mode in ("pages", "append", "inplace"):
        pids = []
        for p in range(args.procs):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                p50, p90 = probe(os.path.join(d, "f%d" % p), mode, args, p)
                os.write(w, ("%s proc %d: fdatasync p50 %.3f ms, p90 %.3f ms\n"
                             % (mode, p, p50 * 1e3, p90 * 1e3)).encode())
                os._exit(0)
            os.close(w)
            pids.append((pid, r))
        for pid, r in pids:
            os.waitpid(pid, 0)
            sys.stdout.write(os.read(r, 4096).decode())
            os.close(r)
    os.rmdir(d)


if __name__ == "__main__":
    main()
