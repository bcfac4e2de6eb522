package indexersim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Running is a simulator listening on a TCP address.
type Running struct {
	// URL is the base URL of the bound address, e.g. "http://127.0.0.1:41234";
	// point an OpenSea client's base URL at it.
	URL string
	// Server is the simulator, for Stats, Slugs and Collection.
	Server *Server

	http *http.Server
	done chan struct{} // closed when Serve returned
	stop func() bool   // detaches the ctx watcher
}

// Start creates a Server from cfg, listens on addr (e.g. "127.0.0.1:0" for a
// free port) and serves it in the background. Cancelling ctx closes the
// simulator as Close does; so does calling Shutdown or Close.
func Start(ctx context.Context, addr string, cfg Config, logger *slog.Logger) (*Running, error) {
	srv, err := New(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("start simulator: listen on %s: %w", addr, err)
	}
	r := &Running{
		URL:    "http://" + ln.Addr().String(),
		Server: srv,
		http:   &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second},
		done:   make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		if err := r.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srv.logger.ErrorContext(ctx, "indexersim: serve", slog.String("error", err.Error()))
		}
	}()
	r.stop = context.AfterFunc(ctx, func() { _ = r.close() })
	srv.logger.InfoContext(ctx, "indexersim: listening", slog.String("url", r.URL),
		slog.Int("collections", len(srv.collections)), slog.Int64("seed", srv.cfg.Seed))
	return r, nil
}

// Shutdown stops accepting connections, releases requests hanging in a
// timeout fault and waits for the others to finish until ctx is done.
func (r *Running) Shutdown(ctx context.Context) error {
	r.stop()
	r.Server.Close()
	if err := r.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down simulator: %w", err)
	}
	<-r.done
	return nil
}

// Close stops the simulator at once, closing all connections.
func (r *Running) Close() error {
	r.stop()
	return r.close()
}

func (r *Running) close() error {
	r.Server.Close()
	if err := r.http.Close(); err != nil {
		return fmt.Errorf("close simulator: %w", err)
	}
	<-r.done
	return nil
}
