#!/usr/bin/env python3
"""Enqueue an nftsync refresh from Python with psycopg 3 (Debian: python3-psycopg).

    DATABASE_URL=postgres://... python3 enqueue.py SLUG [KIND]

The SQL function enqueues one job per source routed for the kind, skips a
job whose previous one has not finished, exactly like River's own unique
insert, and wakes the workers at commit.
"""
import os
import sys

import psycopg


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    slug = sys.argv[1]
    kind = sys.argv[2] if len(sys.argv) > 2 else "all"
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:  # commits on success
        rows = conn.execute(
            "SELECT job_id, job_kind, job_queue, inserted, job_source FROM nftsync_enqueue_refresh(%s, %s)",
            (slug, kind),
        ).fetchall()
    for job_id, job_kind, queue, inserted, source in rows:
        print(f"job {job_id} {job_kind} queue={queue} duplicate={str(not inserted).lower()} source={source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
