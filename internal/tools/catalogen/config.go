package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nftsync/nftsync/jobs"
)

// configRows returns the configuration table: cmd/nftsync's envVars, the
// catalogue's variables (jobs.ConfigVars: queue sizes and default refresh
// intervals), then subgraphEnvVars. package main cannot be imported, so the
// two tables are read from the source: composite literals of three string
// literals each.
func configRows(dir string) (string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dir, err)
	}
	tables := map[string][][3]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", e.Name(), err)
		}
		{
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec) //nolint:forcetypeassert // a var declaration's specs are ValueSpecs
					for i, name := range vs.Names {
						if (name.Name != "envVars" && name.Name != "subgraphEnvVars") || i >= len(vs.Values) {
							continue
						}
						rows, err := stringTriples(fset, vs.Values[i])
						if err != nil {
							return "", fmt.Errorf("%s: %w", name.Name, err)
						}
						tables[name.Name] = rows
					}
				}
			}
		}
	}
	if tables["envVars"] == nil {
		return "", fmt.Errorf("%s: no envVars table", dir)
	}
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n| --- | --- | --- |\n")
	row := func(name, def, meaning string) {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", name, def, cell(meaning))
	}
	for _, r := range tables["envVars"] {
		row(r[0], r[1], r[2])
	}
	for _, v := range jobs.ConfigVars() {
		row(v.Name, v.Default, v.Meaning)
	}
	for _, r := range tables["subgraphEnvVars"] {
		row(r[0], r[1], r[2])
	}
	return b.String(), nil
}

// stringTriples reads []T{{"a", "b", "c"}, ...}.
func stringTriples(fset *token.FileSet, e ast.Expr) ([][3]string, error) {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil, fmt.Errorf("%s: not a composite literal", fset.Position(e.Pos()))
	}
	var out [][3]string
	for _, el := range lit.Elts {
		row, ok := el.(*ast.CompositeLit)
		if !ok || len(row.Elts) != 3 {
			return nil, fmt.Errorf("%s: want {name, default, meaning}", fset.Position(el.Pos()))
		}
		var r [3]string
		for i, x := range row.Elts {
			bl, ok := x.(*ast.BasicLit)
			if !ok || bl.Kind != token.STRING {
				return nil, fmt.Errorf("%s: want a string literal", fset.Position(x.Pos()))
			}
			s, err := strconv.Unquote(bl.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fset.Position(x.Pos()), err)
			}
			r[i] = s
		}
		out = append(out, r)
	}
	return out, nil
}
