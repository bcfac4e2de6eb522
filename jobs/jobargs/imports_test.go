package jobargs_test

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImportsNothingElseOfNftsync keeps the package's promise: importing
// the job contract costs River and pgx, and nothing else of nftsync but its
// own generated queries.
func TestImportsNothingElseOfNftsync(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{".", "internal/jobargsdb"} {
		pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ImportsOnly)
		require.NoError(t, err)
		for _, p := range pkgs {
			for name, f := range p.Files {
				for _, imp := range f.Imports {
					path, err := strconv.Unquote(imp.Path.Value)
					require.NoError(t, err)
					if strings.HasPrefix(path, "github.com/nftsync/nftsync") {
						require.Equal(t, "github.com/nftsync/nftsync/jobs/jobargs/internal/jobargsdb", path, "%s imports %s", name, path)
					}
				}
			}
		}
	}
}
