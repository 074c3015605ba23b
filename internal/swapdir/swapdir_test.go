package swapdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func writeTree(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"index.html", "manifest.json"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplaceUnderReaders swaps builds 200 times while readers keep opening files in the
// published folder: no read may fail, and each sees one whole build.
func TestReplaceUnderReaders(t *testing.T) {
	base := t.TempDir()
	current := filepath.Join(base, "web")
	writeTree(t, filepath.Join(base, "first"), "build 0")
	if err := Replace(filepath.Join(base, "first"), current); err != nil { // nothing there yet: a rename
		t.Fatal(err)
	}
	var stop atomic.Bool
	var failures, reads atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, err := os.ReadFile(filepath.Join(current, "index.html"))
				if err != nil || len(b) < len("build 0") {
					failures.Add(1)
				}
				reads.Add(1)
			}
		}()
	}
	for i := 1; i <= 200; i++ {
		next := filepath.Join(base, fmt.Sprintf("next-%d", i))
		writeTree(t, next, fmt.Sprintf("build %d", i))
		err := Replace(next, current)
		if errors.Is(err, ErrUnsupported) {
			stop.Store(true)
			wg.Wait()
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(next, "index.html")); string(b) != fmt.Sprintf("build %d", i-1) {
			t.Fatalf("after swap %d the old folder holds %q", i, b)
		}
		os.RemoveAll(next)
	}
	stop.Store(true)
	wg.Wait()
	if b, _ := os.ReadFile(filepath.Join(current, "index.html")); string(b) != "build 200" {
		t.Errorf("published folder holds %q, want build 200", b)
	}
	if failures.Load() != 0 {
		t.Errorf("%d of %d reads failed during 200 swaps", failures.Load(), reads.Load())
	}
	t.Logf("%d reads during 200 swaps, %d failed", reads.Load(), failures.Load())
}
