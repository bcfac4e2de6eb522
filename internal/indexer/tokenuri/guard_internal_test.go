package tokenuri

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGuardPermitted(t *testing.T) {
	t.Parallel()
	g := guard{}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"93.184.215.14", true},
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata endpoint
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fd00:ec2::254", false}, // AWS IMDS over IPv6 (unique local)
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"100.64.0.1", false},
		{"100.128.0.1", true},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"203.0.113.7", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},    // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},     // IPv4-mapped private
		{"::ffff:8.8.8.8", true},       // IPv4-mapped public
		{"64:ff9b::a00:1", false},      // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false},       // 6to4 of 10.0.0.1
		{"2001:0:4136:e378::1", false}, // Teredo
		{"2001:db8::1", false},
		{"::127.0.0.1", false}, // IPv4-compatible
	} {
		addr := netip.MustParseAddr(tc.addr)
		require.Equal(t, tc.ok, g.permitted(addr), tc.addr)
	}

	allow := guard{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.9.0.0/16")}}
	require.True(t, allow.permitted(netip.MustParseAddr("127.0.0.1")))
	require.True(t, allow.permitted(netip.MustParseAddr("::ffff:127.0.0.1")))
	require.True(t, allow.permitted(netip.MustParseAddr("10.9.8.7")))
	require.False(t, allow.permitted(netip.MustParseAddr("10.8.0.1")))
	require.False(t, allow.permitted(netip.MustParseAddr("::1")), "IPv6 loopback is not in 127.0.0.0/8")
}

func TestGuardControl(t *testing.T) {
	t.Parallel()
	g := guard{}
	require.NoError(t, g.control("tcp4", "93.184.215.14:443", nil))
	var ge *GuardError
	require.ErrorAs(t, g.control("tcp4", "10.0.0.1:80", nil), &ge)
	require.Equal(t, "10.0.0.1", ge.Addr.String())
	require.ErrorAs(t, g.control("tcp6", "[::ffff:192.168.0.1]:80", nil), &ge)
	require.Equal(t, "192.168.0.1", ge.Addr.String())
	require.ErrorContains(t, g.control("tcp", "nonsense", nil), "cannot parse")
}
