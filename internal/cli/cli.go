// Package cli is what the nftsync commands do: the dev stack, worker
// replicas, migrations, the API server, the simulator, backfills and the
// operator commands (collections, jobs). The command in cmd/nftsync reads
// the environment once into a validated Config and calls one of these
// functions with it; nothing here reads the environment.
package cli

import (
	"errors"
	"strings"
)

// ErrUsage marks a command-line mistake; the command prints its usage with
// it.
var ErrUsage = errors.New("usage")

// SplitList splits a comma-separated list (a flag or a variable), trimming
// spaces and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
