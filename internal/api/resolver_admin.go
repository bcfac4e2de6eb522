package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/internal/admin"
)

// mutationResolver and the admin queries are thin: every operation is the
// admin package's, shared with the CLI.
type mutationResolver struct{ *resolver }

func (r mutationResolver) TrackCollection(ctx context.Context, slug string, chain, source *string, priority *int, intervals *RefreshIntervalsInput) (*Collection, error) {
	p := admin.TrackParams{Slug: slug, Chain: deref(chain), Source: deref(source), Intervals: intervalsOf(intervals)}
	if priority != nil {
		p.Priority = *priority
		if p.Priority == 0 {
			p.Priority = -1 // 0 is not "default" when given explicitly
		}
	}
	c, err := r.admin.Track(ctx, r.actorFor(ctx), p)
	if err != nil {
		return nil, err
	}
	return &Collection{Collection: c}, nil
}

func (r mutationResolver) UntrackCollection(ctx context.Context, slug string) (*UntrackResult, error) {
	c, err := r.admin.Untrack(ctx, r.actorFor(ctx), slug)
	if err != nil {
		return nil, err
	}
	return &UntrackResult{Slug: c.Slug, ID: strconv.FormatInt(c.ID, 10)}, nil
}

func (r mutationResolver) PauseCollection(ctx context.Context, slug string, reason *string) (*Collection, error) {
	c, err := r.admin.Pause(ctx, r.actorFor(ctx), slug, deref(reason))
	if err != nil {
		return nil, err
	}
	return &Collection{Collection: c}, nil
}

func (r mutationResolver) ResumeCollection(ctx context.Context, slug string) (*Collection, error) {
	c, err := r.admin.Resume(ctx, r.actorFor(ctx), slug)
	if err != nil {
		return nil, err
	}
	return &Collection{Collection: c}, nil
}

func (r mutationResolver) SetCollectionRoute(ctx context.Context, slug string, kind RefreshKind, sources []string) (*Collection, error) {
	c, _, err := r.admin.SetRoute(ctx, r.actorFor(ctx), slug, scheduleKind(kind), sources)
	if err != nil {
		return nil, err
	}
	return &Collection{Collection: c}, nil
}

func (r mutationResolver) SetRefreshIntervals(ctx context.Context, slug string, intervals RefreshIntervalsInput) (*Collection, error) {
	c, err := r.admin.SetIntervals(ctx, r.actorFor(ctx), slug, intervalsOf(&intervals))
	if err != nil {
		return nil, err
	}
	return &Collection{Collection: c}, nil
}

func (r mutationResolver) RefreshCollection(ctx context.Context, slug string, kinds []RefreshKind) (*RefreshResult, error) {
	ks := make([]string, 0, len(kinds))
	for _, k := range kinds {
		ks = append(ks, scheduleKind(k))
	}
	res, err := r.admin.Refresh(ctx, r.actorFor(ctx), slug, ks)
	if err != nil {
		return nil, err
	}
	out := &RefreshResult{Collection: &Collection{Collection: res.Collection}, RequestedAt: res.At, AuditID: strconv.FormatInt(res.AuditID, 10)}
	for _, j := range res.Jobs {
		out.Jobs = append(out.Jobs, &RefreshJob{Kind: RefreshKind(strings.ToUpper(j.Kind)), Source: j.Source, JobKind: j.JobKind,
			JobID: strconv.FormatInt(j.JobID, 10), AlreadyPending: j.Duplicate})
	}
	return out, nil
}

func parseJobID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, badInput(fmt.Sprintf("id %q: want a positive job id", id))
	}
	return n, nil
}

func (r mutationResolver) RetryJob(ctx context.Context, id string) (*Job, error) {
	n, err := parseJobID(id)
	if err != nil {
		return nil, err
	}
	j, err := r.admin.RetryJob(ctx, r.actorFor(ctx), n)
	if err != nil {
		return nil, err
	}
	return &Job{j}, nil
}

func (r mutationResolver) CancelJob(ctx context.Context, id string) (*Job, error) {
	n, err := parseJobID(id)
	if err != nil {
		return nil, err
	}
	j, err := r.admin.CancelJob(ctx, r.actorFor(ctx), n)
	if err != nil {
		return nil, err
	}
	return &Job{j}, nil
}

func (r queryResolver) Jobs(ctx context.Context, kind *string, state *JobState, queue *string, first *int, after *string) (*JobConnection, error) {
	n, err := r.pageSize(first, 50)
	if err != nil {
		return nil, err
	}
	f := admin.JobFilter{Kind: deref(kind), Queue: deref(queue), First: n, After: deref(after)}
	if state != nil {
		f.State = strings.ToLower(string(*state))
	}
	page, err := r.admin.Jobs(ctx, f)
	if err != nil {
		return nil, err
	}
	conn := &JobConnection{PageInfo: &PageInfo{HasNextPage: page.HasNextPage}, Nodes: []*Job{}}
	for _, j := range page.Jobs {
		conn.Nodes = append(conn.Nodes, &Job{j})
	}
	if page.EndCursor != "" {
		conn.PageInfo.EndCursor = &page.EndCursor
	}
	return conn, nil
}

func (r queryResolver) Job(ctx context.Context, id string) (*Job, error) {
	n, err := parseJobID(id)
	if err != nil {
		return nil, err
	}
	j, err := r.admin.Job(ctx, n)
	if err != nil {
		if ae := (*admin.Error)(nil); errors.As(err, &ae) && ae.Code == admin.CodeNotFound {
			return nil, nil
		}
		return nil, err
	}
	return &Job{j}, nil
}

func (r queryResolver) JobStats(ctx context.Context) (*JobStats, error) {
	st, err := r.admin.JobStats(ctx)
	if err != nil {
		return nil, err
	}
	out := &JobStats{ByState: []*JobStateCount{}, ByKind: []*JobKindCount{}, Queues: []*QueueStat{}}
	for _, s := range rivertype.JobStates() {
		out.ByState = append(out.ByState, &JobStateCount{State: JobState(strings.ToUpper(string(s))), Count: st.ByState[s]})
	}
	for _, k := range st.ByKind {
		out.ByKind = append(out.ByKind, &JobKindCount{Kind: k.Kind, State: JobState(strings.ToUpper(string(k.State))), Count: k.Count, AtLeast: k.AtLeast})
	}
	for _, q := range st.Queues {
		out.Queues = append(out.Queues, &QueueStat{Name: q.Name, Available: int(q.Available), Running: int(q.Running),
			Paused: q.Paused, OldestAvailableAgeSeconds: q.OldestAvailableAge.Seconds()})
	}
	return out, nil
}

type jobResolver struct{}

func (jobResolver) State(_ context.Context, obj *Job) (JobState, error) {
	return JobState(strings.ToUpper(string(obj.JobRow.State))), nil
}

func (jobResolver) Args(_ context.Context, obj *Job) (JSON, error) {
	return JSON(obj.EncodedArgs), nil
}

func (jobResolver) Errors(_ context.Context, obj *Job) ([]*JobError, error) {
	out := make([]*JobError, 0, len(obj.JobRow.Errors))
	for _, e := range obj.JobRow.Errors {
		out = append(out, &JobError{At: e.At, Attempt: e.Attempt, Error: e.Error})
	}
	return out, nil
}
