// Package jobs holds nftsync's River jobs: one file per kind, each with its
// XxxArgs (a stable snake_case Kind()) beside its XxxWorker, plus Register,
// which wires them into a River client.
//
// Workers say how to retry through their return value: a wrapped error is
// retried with River's backoff, river.JobCancel stops a job that cannot
// succeed (unknown collection, rejected key), and river.JobSnooze waits out a
// rate limit without spending an attempt. Every job is idempotent: running it
// twice (River's rescuer does that after a crash) leaves the same rows.
package jobs
