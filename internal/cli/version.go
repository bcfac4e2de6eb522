package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version prints version (set at build time; empty: the module version, or
// "devel" for a plain `go build`), the VCS revision when the build recorded
// one, and the Go version.
func Version(stdout io.Writer, version string) error {
	v, rev := version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	_, err := fmt.Fprintf(stdout, "nftsync %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
