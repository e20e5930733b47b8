#!/usr/bin/env python3
"""libvips in-process (pyvips), the reference for IIIF `full/max` of a JPEG: each request
decodes one of FILES and encodes it again as a JPEG at QUALITY, CONC processes at once for
SECONDS, every process walking the files from its own starting point (libvips' operation cache
off, so every decode is real). Prints "requests/s p50 p99 peak-RSS-MB" like benches/compare's
wrk rows.

Usage: pyvips_max.py SECONDS CONC QUALITY FILE...
"""
import multiprocessing
import resource
import sys
import time


def worker(args):
    seconds, quality, files, start, barrier = args
    import pyvips

    pyvips.cache_set_max(0)
    barrier.wait()
    times, i = [], start
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        image = pyvips.Image.new_from_file(files[i % len(files)], access="sequential")
        image.jpegsave_buffer(Q=quality)
        times.append(time.monotonic() - t)
        i += 1
    return times, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    seconds, conc, quality = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    files = sys.argv[4:]
    with multiprocessing.Manager() as manager:
        barrier = manager.Barrier(conc)
        jobs = [(seconds, quality, files, n * len(files) // conc, barrier) for n in range(conc)]
        with multiprocessing.Pool(conc) as pool:
            results = pool.map(worker, jobs)
    times = sorted(t for r in results for t in r[0])
    at = lambda q: times[max(0, int(len(times) * q) - 1)] * 1000
    rss_mb = sum(r[1] for r in results) // 1024
    print(f"{len(times) / seconds:.2f} {at(0.5):.2f}ms {at(0.99):.2f}ms {rss_mb}")


if __name__ == "__main__":
    main()
