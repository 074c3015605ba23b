// Package swapdir replaces a published folder by a new one in a single step, so that a
// server reading it sees the old tree or the new one, never neither: on Linux the two
// folders trade places with renameat2(RENAME_EXCHANGE). (Two renames leave a moment with
// no folder at all: a rebuild under load answered 613 of 67,757 requests with 500.)
package swapdir

import (
	"errors"
	"fmt"
	"os"
)

// ErrUnsupported is returned where the system cannot exchange two paths atomically.
var ErrUnsupported = errors.New("swapdir: this system cannot exchange two folders atomically")

// Replace puts the folder next in the place of current: afterwards current holds what
// next held, and next holds the old tree (for the caller to remove). When current does not
// exist yet, next is simply renamed to it.
func Replace(next, current string) error {
	if _, err := os.Lstat(current); errors.Is(err, os.ErrNotExist) {
		return os.Rename(next, current)
	}
	if err := exchange(next, current); err != nil {
		return fmt.Errorf("swapdir: exchanging %s and %s: %w", next, current, err)
	}
	return nil
}
