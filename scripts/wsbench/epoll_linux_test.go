//go:build linux

package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// serverFrame is an unmasked frame as the gateway writes it.
func serverFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		for i := 7; i >= 0; i-- {
			b = append(b, byte(uint64(n)>>(8*i)))
		}
	}
	return append(b, payload...)
}

// TestConsumeFramesCutAnywhere feeds a stream of frames of every length
// encoding, cut into reads at random places, and checks that every delta is
// counted once and the snapshot seen, whatever the cuts.
func TestConsumeFramesCutAnywhere(t *testing.T) {
	var stream []byte
	snapshot := `{"type":"snapshot","channel":"wall","seq":"1-0","data":[` + strings.Repeat(`{"id":"x"},`, 20000) + `{}]}`
	stream = append(stream, serverFrame(1, []byte(snapshot))...) // 64-bit length
	deltas := 0
	for i := range 300 {
		pad := strings.Repeat("路", i*7) // short, 16-bit and longer payloads
		m := fmt.Sprintf(`{"type":"delta","channel":"wall","seq":"%d-0","kind":"incident","data":{"title":"%s"}}`, 1000+i, pad)
		stream = append(stream, serverFrame(1, []byte(m))...)
		deltas++
		if i%50 == 0 {
			stream = append(stream, serverFrame(9, []byte("ping"))...)
			stream = append(stream, serverFrame(1, []byte(`{"type":"stats","channel":"wall","data":{}}`))...)
		}
	}
	for trial := range 50 {
		r := rand.New(rand.NewPCG(uint64(trial), 1))
		c := &bclient{snapshot: make(chan struct{})}
		rc := &rawConn{c: c, fd: -1}
		h := new(hist)
		rest := stream
		for len(rest) > 0 {
			n := 1 + r.IntN(min(len(rest), []int{3, 200, 70000}[trial%3]))
			if err := rc.consume(bytes.Clone(rest[:n]), 5000, h); err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
			rest = rest[n:]
		}
		if got := h.count(); got != int64(deltas) {
			t.Fatalf("trial %d: %d deltas counted, want %d", trial, got, deltas)
		}
		if !rc.snapped {
			t.Fatalf("trial %d: snapshot not seen", trial)
		}
		if len(rc.carry) != 0 || rc.skip != 0 {
			t.Fatalf("trial %d: %d bytes carried, %d to skip at the end", trial, len(rc.carry), rc.skip)
		}
	}
}

func TestConsumeEndsOnClose(t *testing.T) {
	c := &bclient{snapshot: make(chan struct{})}
	rc := &rawConn{c: c, fd: -1}
	err := rc.consume(serverFrame(8, append([]byte{0x03, 0xf0}, "too slow"...)), 0, new(hist))
	if err == nil || !strings.Contains(err.Error(), "1008") {
		t.Fatalf("got %v, want a close error with 1008", err)
	}
}
