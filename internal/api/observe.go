package api

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// requestInfo is what the request metrics are labelled with, filled in as
// the request is handled.
type requestInfo struct {
	mu sync.Mutex
	// operation is the operation type and its root fields ("query
	// collection,tokens"); "invalid" until the document parsed and
	// validated, "none" for a request refused before GraphQL ran.
	operation string
	// status is "ok" or the first error's extensions.code.
	status string
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

func (ri *requestInfo) setOperation(op string) {
	if ri == nil {
		return
	}
	ri.mu.Lock()
	ri.operation = op
	ri.mu.Unlock()
}

// setError records code as the status unless an earlier error did.
func (ri *requestInfo) setError(code string) {
	if ri == nil {
		return
	}
	ri.mu.Lock()
	if ri.status == "" {
		ri.status = code
	}
	ri.mu.Unlock()
}

func (ri *requestInfo) labels() (operation, status string) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	operation, status = ri.operation, ri.status
	if operation == "" {
		operation = "invalid"
	}
	if status == "" {
		status = "ok"
	}
	return operation, status
}

// errorCode is the extensions.code of a presented error ("ERROR" without
// one).
func errorCode(e *gqlerror.Error) string {
	if c, ok := e.Extensions["code"].(string); ok && c != "" {
		return c
	}
	return "ERROR"
}

// maxLabelFields bounds how many root fields an operation label names.
const maxLabelFields = 4

// operationLabel names a validated operation for metrics by its type and
// root field names (sorted, aliases ignored): names from the schema, never
// client text, so the label set stays bounded.
type operationLabel struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = operationLabel{}

func (operationLabel) ExtensionName() string                   { return "OperationLabel" }
func (operationLabel) Validate(graphql.ExecutableSchema) error { return nil }

func (operationLabel) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	seen := map[string]bool{}
	rootFields(oc.Operation.SelectionSet, seen, 0)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > maxLabelFields {
		names = append(names[:maxLabelFields], "…")
	}
	requestInfoFrom(ctx).setOperation(string(oc.Operation.Operation) + " " + strings.Join(names, ","))
	return nil
}

// rootFields collects the field names of set, following fragments (depth
// bounds a fragment cycle, which validation refuses anyway).
func rootFields(set ast.SelectionSet, into map[string]bool, depth int) {
	if depth > 10 {
		return
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			into[s.Name] = true
		case *ast.InlineFragment:
			rootFields(s.SelectionSet, into, depth+1)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				rootFields(s.Definition.SelectionSet, into, depth+1)
			}
		}
	}
}
