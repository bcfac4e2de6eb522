// Package metrics exposes nftsync's Prometheus metrics and the workers'
// health endpoints: a registry with the series workers and the API record,
// a River hook and middleware that count and time jobs, collectors that
// read queue backlog and data age from PostgreSQL at scrape time, and a
// small HTTP server for /metrics, /healthz and /readyz.
package metrics
