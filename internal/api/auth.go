package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
)

// role is what a request's token allows.
type role int

const (
	roleNone   role = iota // no token sent
	roleReader             // a read token
	roleAdmin              // an admin token
	roleWrong              // a token that is neither
)

// tokenSet holds SHA-256 digests of the configured tokens. Checking a token
// compares its digest with every configured one in constant time (no early
// exit), so timing reveals neither a token nor how many bytes matched.
type tokenSet [][sha256.Size]byte

func newTokenSet(tokens []string) tokenSet {
	s := make(tokenSet, 0, len(tokens))
	for _, t := range tokens {
		s = append(s, sha256.Sum256([]byte(t)))
	}
	return s
}

func (s tokenSet) contains(token string) bool {
	d := sha256.Sum256([]byte(token))
	found := 0
	for i := range s {
		found |= subtle.ConstantTimeCompare(d[:], s[i][:])
	}
	return found == 1
}

// authState is the request's role and, for admins, the actor name written to
// audit rows ("api:" and the first 12 hex digits of the token's SHA-256,
// never the token).
type authState struct {
	role  role
	actor string
}

type authKey struct{}

func authFrom(ctx context.Context) authState {
	a, _ := ctx.Value(authKey{}).(authState)
	return a
}

// bearer returns the token of an "Authorization: Bearer <token>" header, or
// the password of HTTP basic auth (so a browser can open /riverui/ with its
// login prompt; the user name is ignored).
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if after, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(after)
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	return ""
}

func (s *Server) authenticate(r *http.Request) authState {
	return s.authenticateToken(bearer(r))
}

// authenticateToken is the role of tok ("" is no token).
func (s *Server) authenticateToken(tok string) authState {
	switch {
	case tok == "":
		return authState{role: roleNone}
	case s.admins.contains(tok):
		d := sha256.Sum256([]byte(tok))
		return authState{role: roleAdmin, actor: "api:" + hex.EncodeToString(d[:6])}
	case s.readers.contains(tok):
		return authState{role: roleReader}
	}
	return authState{role: roleWrong}
}

// adminDirective guards @admin fields: UNAUTHENTICATED without a token,
// FORBIDDEN with a token that is not an admin's. The HTTP status follows
// (401/403) when the guarded field is refused.
func adminDirective(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	switch authFrom(ctx).role {
	case roleAdmin:
		return next(ctx)
	case roleNone:
		setStatus(ctx, http.StatusUnauthorized)
		return nil, publicError(codeUnauthenticated, "this field needs an admin token: send Authorization: Bearer <token>")
	default:
		setStatus(ctx, http.StatusForbidden)
		return nil, publicError(codeForbidden, "this field needs an admin token; the token sent is not one")
	}
}
