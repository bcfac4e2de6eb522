package jobs_test

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/jobs"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// internalKinds are the periodic jobs only the elected leader enqueues; every
// other job kind is part of the contract in jobargs.
var internalKinds = map[string]river.JobArgs{
	"plan_refresh":     jobs.PlanRefreshArgs{},
	"maintain_history": jobs.MaintainHistoryArgs{},
}

// definedKinds returns the job kinds whose args types are declared in the
// Go files of dir (a Kind method returning a string literal).
func definedKinds(t *testing.T, dir string) []string {
	t.Helper()
	pkgs, err := parser.ParseDir(gotoken.NewFileSet(), dir, func(fi os.FileInfo) bool { //nolint:staticcheck // one directory without build tags: ParseDir is enough
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	require.NoError(t, err)
	var kinds []string
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv == nil || fn.Name.Name != "Kind" || fn.Body == nil || len(fn.Body.List) != 1 {
					continue
				}
				ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
				if !ok || len(ret.Results) != 1 {
					continue
				}
				if lit, ok := ret.Results[0].(*ast.BasicLit); ok && lit.Kind == gotoken.STRING {
					k, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					kinds = append(kinds, k)
				}
			}
		}
	}
	return kinds
}

// jsonFields lists the JSON names of a struct's fields, embedded structs
// flattened.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestJobContractComplete: every job kind a worker runs is either in
// jobargs (insert-only, for other services) or one of the internal
// periodic jobs, and the catalogue's JobSpecs (the docs' job table) lists
// every one of them with its JSON fields (internal ones marked so).
func TestJobContractComplete(t *testing.T) {
	t.Parallel()
	contract := map[string]river.JobArgs{}
	for _, a := range jobargs.All() {
		require.NotContains(t, contract, a.Kind(), "listed twice")
		contract[a.Kind()] = a
	}
	require.ElementsMatch(t, definedKinds(t, "jobargs"), func() []string {
		var ks []string
		for k := range contract {
			ks = append(ks, k)
		}
		return ks
	}(), "jobargs.All lists every args type jobargs declares")
	for _, k := range definedKinds(t, ".") {
		require.Contains(t, internalKinds, k, "job kind %s is declared in jobs: move its args type to jobargs (or list it as internal)", k)
	}

	// The docs' job table is generated from jobs.JobSpecs (make generate
	// fails verify when it drifts); JobSpecs must cover every job kind and
	// its example every JSON field.
	specs := map[string]jobs.JobSpec{}
	for _, j := range jobs.JobSpecs() {
		specs[j.Args.Kind()] = j
	}
	require.Len(t, specs, len(contract)+len(internalKinds), "one JobSpecs row per job kind")
	check := func(kind string, a river.JobArgs, internal bool) {
		spec, ok := specs[kind]
		require.True(t, ok, "JobSpecs has no row for %s", kind)
		for _, f := range jsonFields(reflect.TypeOf(a)) {
			require.Contains(t, spec.Example, `"`+f+`"`, "%s: JSON field %s", kind, f)
		}
		require.Equal(t, internal, strings.Contains(spec.Meaning, "internal"), "%s: internal jobs say so, others do not", kind)
	}
	for k, a := range contract {
		check(k, a, false)
	}
	for k, a := range internalKinds {
		check(k, a, true)
	}
}
