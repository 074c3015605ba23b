package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestModuleRoot(t *testing.T) {
	r, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(r, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "module github.com/alexlens/alexlens\n"; len(b) < len(want) || string(b[:len(want)]) != want {
		t.Errorf("%s/go.mod starts %q, not this module", r, b[:min(len(b), 40)])
	}
}

func TestSharedWeightsDir(t *testing.T) {
	t.Setenv("ALEXLENS_SHARED", "/some/where")
	if got := SharedWeightsDir(); got != "/some/where/weights" {
		t.Errorf("with ALEXLENS_SHARED: %q", got)
	}
	t.Setenv("ALEXLENS_SHARED", "")
	r, _ := ModuleRoot()
	if got, want := SharedWeightsDir(), filepath.Join(filepath.Dir(r), "shared", "weights"); got != want {
		t.Errorf("without ALEXLENS_SHARED: %q, want %q", got, want)
	}
}

// TestSkips: a missing file skips the test rather than failing it.
func TestSkips(t *testing.T) {
	t.Setenv("ALEXLENS_SHARED", t.TempDir())
	for name, f := range map[string]func(testing.TB){
		"weights": func(t testing.TB) { SharedWeight(t, "no-such.pth") },
		"photo":   func(t testing.TB) { Photo(t, "no-such.png") },
	} {
		skipped := false
		t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			f(t)
		})
		if !skipped {
			t.Errorf("%s: a missing file did not skip", name)
		}
	}
}

// TestPhotoFound: an installed photo is returned, not skipped.
func TestPhotoFound(t *testing.T) {
	if _, err := os.Stat(filepath.Join(PhotosDir, "chelsea.png")); err != nil {
		t.Skipf("python3-skimage not installed: %v", err)
	}
	if got := Photo(t, "chelsea.png"); got != filepath.Join(PhotosDir, "chelsea.png") {
		t.Errorf("Photo = %q", got)
	}
}

// TestProcessCPUTime: spinning for a while adds CPU time.
func TestProcessCPUTime(t *testing.T) {
	before := ProcessCPUTime()
	if before == 0 {
		t.Skip("no process CPU time on this system")
	}
	x := 1.0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x = x*1.0000001 + 1e-9
	}
	if d := ProcessCPUTime() - before; d < 10*time.Millisecond {
		t.Errorf("50 ms of spinning added %v of CPU time (x=%g)", d, x)
	}
}
