package pth

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/alexlens/alexlens/engine"
)

// seedFiles are small files written by real torch.save (testdata/torchgen.py seeds: every
// tensor layout, pickle protocols 2 and 4, a nested checkpoint, the legacy format), made at
// test time, plus one written by Write. Without PyTorch only Write's file seeds the corpus.
func seedFiles(f *testing.F) [][]byte {
	var out [][]byte
	if dir, err := torchSeeds(); err != nil {
		f.Logf("fuzzing without torch.save seeds: %v", err)
	} else {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.pth"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	ts, order := writeSample()
	var buf bytes.Buffer
	if err := Write(&buf, ts, order); err != nil {
		f.Fatal(err)
	}
	return append(out, buf.Bytes())
}

// torchSeeds makes the torch.save seed files once per test binary and returns their folder.
var torchSeeds = sync.OnceValues(func() (string, error) {
	if err := torchCheck(); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "pth-seeds-")
	if err != nil {
		return "", err
	}
	if out, err := exec.Command(torchPython, filepath.Join("testdata", "torchgen.py"), "seeds", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("torchgen.py seeds: %v\n%s", err, out)
	}
	return dir, nil
})

// checkResult holds Read to its promises on any input it accepts: consistent tensors, and
// no more memory than the file's size justifies.
func checkResult(t *testing.T, got map[string]*engine.Tensor, fileSize int) {
	total := 0
	for name, ts := range got {
		n := 1
		for _, d := range ts.Shape {
			if d < 0 {
				t.Fatalf("%s: negative dimension in %v", name, ts.Shape)
			}
			n *= d
		}
		if n != len(ts.Data) {
			t.Fatalf("%s: shape %v but %d values", name, ts.Shape, len(ts.Data))
		}
		total += 4 * n
	}
	if limit := 4*maxDeflateRatio*fileSize + 1<<20; total > limit {
		t.Fatalf("%d bytes of tensors from a %d-byte file", total, fileSize)
	}
}

// FuzzRead feeds whole files: zip structure, sizes, offsets and CRCs.
func FuzzRead(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Read(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			checkResult(t, got, len(data))
		}
	})
}

// fuzzStorages are the storages FuzzReadPickle's archives hold: data/0 to data/31, 4 KiB
// each, enough for the seed pickles' tensors.
var fuzzStorages = func() []zipEntry {
	var s []zipEntry
	for i := range 32 {
		s = append(s, zipEntry{name: strconv.Itoa(i), data: floats(1024)})
	}
	return s
}()

// FuzzReadPickle feeds pickles inside a well-formed archive, so that mutations reach the
// unpickler instead of failing the zip's CRC check.
func FuzzReadPickle(f *testing.F) {
	for _, b := range seedFiles(f) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			continue // the legacy seed: FuzzRead reaches its pickles, there is no CRC in the way
		}
		for _, e := range zr.File {
			if filepath.Base(e.Name) == "data.pkl" {
				rc, err := e.Open()
				if err != nil {
					f.Fatal(err)
				}
				var pkl bytes.Buffer
				pkl.ReadFrom(rc)
				rc.Close()
				f.Add(pkl.Bytes())
			}
		}
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		file := pickleZip(t, pkl, fuzzStorages...)
		got, err := Read(bytes.NewReader(file), int64(len(file)))
		if err == nil {
			checkResult(t, got, len(file))
		}
	})
}
