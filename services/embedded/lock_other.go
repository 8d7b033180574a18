//go:build !unix

package embedded

// LockDataDir does nothing where flock is not available.
func LockDataDir(string) (func(), error) { return func() {}, nil }
