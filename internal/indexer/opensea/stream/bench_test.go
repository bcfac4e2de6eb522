package stream

import "testing"

// BenchmarkDecodeListedEvent measures what the reading goroutine and the
// consumer spend per item_listed frame: the frame, the message, and the
// typed listing.
func BenchmarkDecodeListedEvent(b *testing.B) {
	data := fixtureFrame(b, "item_listed.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := decodeFrame(data)
		if err != nil {
			b.Fatal(err)
		}
		ev, err := decodeEvent("example-apes", f)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ev.Listing(); err != nil {
			b.Fatal(err)
		}
	}
}
