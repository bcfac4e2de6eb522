package tokenuri

import (
	"fmt"
	"net/netip"
	"syscall"
)

// specialPurpose are the IANA special-purpose address blocks (RFC 6890 and
// its updates) that are not globally reachable, besides what netip.Addr's
// own predicates cover (loopback, RFC 1918 and fc00::/7 private, link-local,
// multicast, unspecified). A metadata URL has no business reaching any of
// them: they are where internal services, cloud metadata endpoints
// (169.254.169.254) and carrier NAT live.
var specialPurpose = func() []netip.Prefix { //nolint:gochecknoglobals // read-only table, built once
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // shared address space (carrier-grade NAT)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // deprecated 6to4 relay anycast
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
		"64:ff9b::/96",    // NAT64: reaches any IPv4 address, private ones included
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHIDv2, …)
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: embeds an IPv4 address
		"3fff::/20",       // documentation
		"5f00::/16",       // segment routing SIDs
		"fec0::/10",       // deprecated site-local
		"::ffff:0:0:0/96", // IPv4-translated (SIIT)
		"::/96",           // deprecated IPv4-compatible
		"169.254.0.0/16",  // link-local (also caught by IsLinkLocalUnicast)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// GuardError is the error of a connection the address guard refused: the
// target resolved to an address that is not publicly routable and no
// Options.AllowNets entry allows it.
type GuardError struct {
	Addr netip.Addr
}

func (e *GuardError) Error() string {
	return fmt.Sprintf("address guard: %s is not a public address (allow it with the allowed networks setting)", e.Addr)
}

// guard decides which resolved addresses may be dialled.
type guard struct {
	allow []netip.Prefix
}

// permitted reports whether a connection to addr may be made: a public
// address, or one inside an allowed prefix. IPv4-mapped IPv6 addresses
// (::ffff:10.0.0.1) are judged as the IPv4 address they carry.
func (g guard) permitted(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsUnspecified() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() ||
		addr.IsMulticast() {
		return false
	}
	for _, p := range specialPurpose {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// control is a net.Dialer Control function: it runs for every connection
// attempt after name resolution, with the IP address about to be dialled,
// so neither DNS rebinding (a name that resolves to a public address at one
// look-up and a private one at the next) nor a redirect can reach an address
// the guard refuses.
func (g guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("address guard: cannot parse dial address %q: %w", address, err)
	}
	if !g.permitted(ap.Addr()) {
		return &GuardError{Addr: ap.Addr().Unmap().WithZone("")}
	}
	return nil
}
