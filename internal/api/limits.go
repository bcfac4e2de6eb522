package api

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit refuses operations nested deeper than max fields (fragments
// are followed; introspection counts like any other query).
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	depth := selectionDepth(oc.Operation.SelectionSet, oc.Doc.Fragments, 0)
	if depth > d.max {
		return publicError(codeTooDeep, fmt.Sprintf("the query is %d levels deep; the limit is %d", depth, d.max))
	}
	return nil
}

// selectionDepth is the deepest field nesting of set; seen guards against
// fragment cycles (which validation also rejects) by bounding recursion.
func selectionDepth(set ast.SelectionSet, frags ast.FragmentDefinitionList, level int) int {
	if level > 100 {
		return level
	}
	deepest := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = level + 1
			} else {
				d = selectionDepth(s.SelectionSet, frags, level+1)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, frags, level)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				d = selectionDepth(f.SelectionSet, frags, level)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// setComplexity makes each page cost its page size times its items, so a
// query asking for 50 collections with 100 tokens each adds up to what it
// would really cost.
func setComplexity(c *ComplexityRoot) {
	page := func(child int, first *int, def int) int {
		n := def
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + child*n
	}
	c.Query.Collections = func(child int, _ *CollectionFilter, _ *CollectionOrder, first *int, _ *string) int {
		return page(child, first, 20)
	}
	c.Query.Tokens = func(child int, _ string, _ *TokenOrder, _ *TokenWhere, first *int, _ *string) int {
		return page(child, first, 50)
	}
	c.Query.Jobs = func(child int, _ *string, _ *JobState, _ *string, first *int, _ *string) int {
		return page(child, first, 50)
	}
	c.Collection.QualityEvents = func(child int, first *int) int { return page(child, first, 20) }
	// A collection's trait distribution and each token's traits are lists
	// of unknown length: count them as ten items.
	c.Collection.TraitDistribution = func(child int) int { return 1 + 10*child }
	c.Token.Traits = func(child int) int { return 1 + 10*child }
}
