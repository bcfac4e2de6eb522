package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// Routes returns the effective sources of every refresh kind for the
// collection (its own route, else the default), in jobs.ScheduleKinds order.
func (s *Service) Routes(ctx context.Context, slug string) (db.Collection, []jobs.Route, error) {
	var routes []jobs.Route
	c, err := s.withCollection(ctx, slug, func(tx pgx.Tx, _ *db.Queries, c *db.Collection) error {
		var err error
		routes, err = jobs.CollectionRoutes(ctx, tx, c.ID)
		return err
	})
	return c, routes, err
}

// SetRoute makes sources the ones that serve kind for the collection (nil
// sources: back to the default), with an audit row, and returns the
// collection's routes after the change. A route jobs.SetRoute refuses (an
// unknown kind or source, a source that does not serve the kind, more than
// one source for metadata or tokens) is a BAD_USER_INPUT error that says
// why; nothing is changed then.
func (s *Service) SetRoute(ctx context.Context, actor, slug, kind string, sources []string) (db.Collection, []jobs.Route, error) {
	var routes []jobs.Route
	c, err := s.withCollection(ctx, slug, func(tx pgx.Tx, q *db.Queries, c *db.Collection) error {
		if err := jobs.SetRoute(ctx, tx, c.ID, kind, sources); err != nil {
			if errors.Is(err, jobs.ErrBadRoute) {
				return newError(CodeBadInput, "route %s of %s: %s", kind, slug, err.Error())
			}
			return fmt.Errorf("route %s of %s: %w", kind, slug, err)
		}
		detail := map[string]any{"kind": kind, "sources": sources}
		if sources == nil {
			detail["sources"] = "default"
		}
		if err := s.audit(ctx, q, actor, "route", c, detail, nil); err != nil {
			return err
		}
		var err error
		routes, err = jobs.CollectionRoutes(ctx, tx, c.ID)
		return err
	})
	return c, routes, err
}
