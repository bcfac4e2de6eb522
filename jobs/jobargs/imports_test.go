package jobargs_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
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
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			name := filepath.Join(dir, e.Name())
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
			require.NoError(t, err)
			{
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
