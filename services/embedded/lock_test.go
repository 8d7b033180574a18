//go:build unix

package embedded

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// One process at a time on a data directory: a second is refused with the
// first one's pid, and once the first lets go the directory can be taken.
func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockDataDir(dir); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("in use by another citybrain process (pid %d)", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	again, err := LockDataDir(dir)
	if err != nil {
		t.Fatalf("after the first let go: %v", err)
	}
	again()
}
