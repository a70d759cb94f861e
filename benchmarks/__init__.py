"""`make bench`: measures what users wait for, against the limits that bind it, and writes BENCHMARKS.md."""
