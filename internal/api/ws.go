package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// codeUnavailable: the server cannot serve the request right now.
const codeUnavailable = "UNAVAILABLE"

// wsConn is one websocket connection's state: its auth, its subscription
// count, and the connection slot it holds for its token.
type wsConn struct {
	subs     atomic.Int32
	maxSubs  int32
	release  func()
	released sync.Once
}

type wsConnKey struct{}

// wsPeerKey carries the client's address into the websocket handshake (the
// connection limit of clients without a token is per address).
type wsPeerKey struct{}

// takeSubscriptionSlot counts a subscription against its connection's
// limit; release gives the slot back.
func takeSubscriptionSlot(ctx context.Context) (func(), error) {
	c, ok := ctx.Value(wsConnKey{}).(*wsConn)
	if !ok {
		return func() {}, nil
	}
	if n := c.subs.Add(1); n > c.maxSubs {
		c.subs.Add(-1)
		return nil, publicError(codeTooLarge, fmt.Sprintf("too many subscriptions on this connection (the limit is %d): end one first", c.maxSubs))
	}
	var once sync.Once
	return func() { once.Do(func() { c.subs.Add(-1) }) }, nil
}

// connLimiter counts open websocket connections per token (per client
// address for clients without one).
type connLimiter struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func (l *connLimiter) take(key string) (func(), bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return nil, false
	}
	l.n[key]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.n[key]--; l.n[key] <= 0 {
			delete(l.n, key)
		}
	}, true
}

// initToken is the token of a connection_init payload: an "Authorization"
// value ("Bearer <token>"), or a "token" or "authToken" value.
func initToken(p transport.InitPayload) string {
	for _, k := range []string{"Authorization", "authorization"} {
		if v := p.GetString(k); v != "" {
			if after, ok := strings.CutPrefix(v, "Bearer "); ok {
				return strings.TrimSpace(after)
			}
			return strings.TrimSpace(v)
		}
	}
	for _, k := range []string{"token", "authToken"} {
		if v := p.GetString(k); v != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// websocketTransport serves subscriptions over graphql-transport-ws (and the
// older subscriptions-transport-ws). Auth comes in connection_init, checked
// as for queries; the connection then counts against its token's limit.
func (s *Server) websocketTransport(limits *connLimiter) transport.Websocket {
	return transport.Websocket{
		InitTimeout:           s.cfg.WebsocketInitTimeout,
		KeepAlivePingInterval: s.cfg.WebsocketKeepAlive,
		PingPongInterval:      s.cfg.WebsocketKeepAlive,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			tok := initToken(p)
			a := s.authenticateToken(tok)
			switch {
			case a.role == roleWrong:
				return ctx, nil, errors.New("FORBIDDEN: the token sent is not valid")
			case a.role == roleNone && len(s.readers) > 0:
				return ctx, nil, errors.New(`UNAUTHENTICATED: this API needs a token: send {"Authorization": "Bearer <token>"} in connection_init`)
			}
			key := "addr:" + peerHost(ctx)
			if tok != "" {
				d := sha256.Sum256([]byte(tok))
				key = "token:" + string(d[:])
			}
			release, ok := limits.take(key)
			if !ok {
				return ctx, nil, fmt.Errorf("TOO_MANY_CONNECTIONS: this token has %d connections open, the limit", limits.max)
			}
			c := &wsConn{maxSubs: int32(s.cfg.MaxSubscriptionsPerConnection), release: release}
			ctx = context.WithValue(ctx, authKey{}, a)
			ctx = context.WithValue(ctx, wsConnKey{}, c)
			return ctx, nil, nil
		},
		CloseFunc: func(ctx context.Context, _ int) {
			if c, ok := ctx.Value(wsConnKey{}).(*wsConn); ok {
				c.released.Do(c.release)
			}
		},
	}
}

func peerHost(ctx context.Context) string {
	addr, _ := ctx.Value(wsPeerKey{}).(string)
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return addr[:i]
	}
	return addr
}

// isWebsocket reports whether r asks to upgrade to a websocket.
func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
