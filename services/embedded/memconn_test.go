package embedded

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestMemConnBuffersLikeASocket(t *testing.T) {
	a, b := memConnPair(memAddr("a"), memAddr("b"))
	defer func() { _ = a.Close(); _ = b.Close() }()

	// Writes return once buffered: two requests before any read.
	for _, s := range []string{"first ", "second"} {
		if n, err := a.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("write %q: %d, %v", s, n, err)
		}
	}
	got := make([]byte, 64)
	n, err := b.Read(got)
	if err != nil || string(got[:n]) != "first second" {
		t.Fatalf("read %q, %v", got[:n], err)
	}

	// A read with nothing buffered waits for its deadline.
	_ = b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := b.Read(got); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v", err)
	}
	_ = b.SetReadDeadline(time.Time{})

	// More than the buffer holds goes through while the other end reads.
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*memConnBuffer/16)
	go func() { _, _ = a.Write(big) }()
	var rx bytes.Buffer
	if _, err := io.CopyN(&rx, b, int64(len(big))); err != nil || !bytes.Equal(rx.Bytes(), big) {
		t.Fatalf("%d of %d bytes, %v", rx.Len(), len(big), err)
	}

	// A full buffer and a reader that does not read: the write deadline ends the wait.
	_ = a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err = a.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n != memConnBuffer {
		t.Fatalf("write into a full buffer: %d, %v", n, err)
	}
	_ = a.SetWriteDeadline(time.Time{})

	// Close: the other end reads what was written before, then EOF; its writes fail.
	_ = a.Close()
	if _, err := io.CopyN(io.Discard, b, memConnBuffer); err != nil {
		t.Fatalf("draining after close: %v", err)
	}
	if _, err := b.Read(got); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
	if _, err := b.Write([]byte("x")); err == nil {
		t.Fatal("write to a closed peer succeeded")
	}
	if _, err := a.Read(got); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on the closed end: %v", err)
	}
}

func TestMemConnCloseWakesABlockedRead(t *testing.T) {
	a, b := memConnPair(memAddr("a"), memAddr("b"))
	done := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = a.Close()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Fatalf("blocked read ended with %v, want EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a read blocked on a connection whose peer closed")
	}
	_ = b.Close()
}
