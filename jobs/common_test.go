package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
)

// A malformed page naming a long non-ASCII token identifier: the event's
// message is cut to its bound, and a byte cut through a three-byte character
// used to make the insert fail (invalid UTF-8), losing the event and
// aborting the job's transaction. One of the three paddings puts the bound
// inside a character.
func TestDataQualityEventNonASCIIIdentifier(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("トークン", 200) // 2400 bytes
	for pad := range 3 {
		t.Run(fmt.Sprintf("Pad%d", pad), func(t *testing.T) {
			t.Parallel()
			src := &pagedSource{err: map[string]error{"": &indexer.Error{
				Class: indexer.ClassMalformed, Op: "tokens scripted",
				Err: fmt.Errorf("nfts[0] (identifier %q%s): field contract: required", id, strings.Repeat("x", pad)),
			}}}
			b, run := setupScripted(t, src)
			_, err := run()
			require.ErrorContains(t, err, "field contract: required", "a malformed page is retried")
			events, err := db.New(b.tx).DataQualityEventList(context.Background(), pgtypeInt8(b.coll.ID))
			require.NoError(t, err)
			require.Len(t, events, 1)
			msg := events[0].Message
			require.Equal(t, "malformed_payload", events[0].Kind)
			require.True(t, utf8.ValidString(msg))
			require.LessOrEqual(t, len(msg), 2000)
			require.True(t, strings.HasSuffix(msg, "…"))
		})
	}
}
