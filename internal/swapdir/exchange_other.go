//go:build !linux

package swapdir

func exchange(a, b string) error { return ErrUnsupported }
