package jpeg

import (
	"bufio"
	"bytes"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// python is Debian's interpreter, the one with PIL and numpy (another python3 may come
// first on PATH).
const python = "/usr/bin/python3"

// pilCase is one JPEG written by testdata/make_cases.py with PIL's decoding of it.
type pilCase struct {
	name, mode, how string
	w, h            int
	jpeg, raw       []byte
}

var (
	casesOnce sync.Once
	casesDir  string
	casesErr  string
	cases     []pilCase
)

// pilCases runs the generator once per test binary, in a temporary folder.
func pilCases(t *testing.T) []pilCase {
	t.Helper()
	casesOnce.Do(func() {
		if _, err := os.Stat(python); err != nil {
			casesErr = "needs " + python + " with PIL and numpy (scripts/install-test-deps.sh)"
			return
		}
		if err := exec.Command(python, "-c", "import PIL, numpy").Run(); err != nil {
			casesErr = python + " lacks PIL or numpy (scripts/install-test-deps.sh installs python3-pil)"
			return
		}
		// Reading the script makes go test's cache notice when it changes.
		if _, err := os.ReadFile("testdata/make_cases.py"); err != nil {
			casesErr = "FAIL: " + err.Error()
			return
		}
		dir, err := os.MkdirTemp("", "jpeg-pil-cases-")
		if err != nil {
			casesErr = err.Error()
			return
		}
		casesDir = dir
		out, err := exec.Command(python, "testdata/make_cases.py", dir).CombinedOutput()
		if err != nil {
			casesErr = "FAIL: make_cases.py: " + err.Error() + "\n" + string(out)
			return
		}
		tsv, err := os.ReadFile(filepath.Join(dir, "cases.tsv"))
		if err != nil {
			casesErr = "FAIL: " + err.Error()
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(tsv))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			c := pilCase{name: f[0], mode: f[1], how: f[4]}
			c.w, _ = strconv.Atoi(f[2])
			c.h, _ = strconv.Atoi(f[3])
			if c.jpeg, err = os.ReadFile(filepath.Join(dir, c.name+".jpg")); err == nil {
				c.raw, err = os.ReadFile(filepath.Join(dir, c.name+".raw"))
			}
			if err != nil {
				casesErr = "FAIL: " + err.Error()
				return
			}
			cases = append(cases, c)
		}
	})
	if strings.HasPrefix(casesErr, "FAIL") {
		t.Fatal(casesErr)
	}
	if casesErr != "" {
		t.Skip(casesErr)
	}
	return cases
}

func TestMain(m *testing.M) {
	code := m.Run()
	if casesDir != "" {
		os.RemoveAll(casesDir)
	}
	os.Exit(code)
}

// packed returns the decoded pixels in PIL's layout for the mode: 1, 3 or 4 bytes each.
func packed(t *testing.T, img image.Image) (mode string, pix []byte) {
	t.Helper()
	switch m := img.(type) {
	case *image.Gray:
		return "L", m.Pix
	case *image.NRGBA:
		pix = make([]byte, 0, len(m.Pix)/4*3)
		for i := 0; i < len(m.Pix); i += 4 {
			if m.Pix[i+3] != 255 {
				t.Fatalf("alpha %d at byte %d, want opaque", m.Pix[i+3], i)
			}
			pix = append(pix, m.Pix[i:i+3]...)
		}
		return "RGB", pix
	case *image.CMYK:
		return "CMYK", m.Pix
	}
	t.Fatalf("Decode returned %T", img)
	return "", nil
}

// TestMatchesPIL decodes every generated case and requires PIL's pixels exactly.
func TestMatchesPIL(t *testing.T) {
	for _, c := range pilCases(t) {
		t.Run(c.name, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(c.jpeg))
			if err != nil {
				t.Fatalf("%s (%s): %v", c.name, c.how, err)
			}
			cfg, err := DecodeConfig(bytes.NewReader(c.jpeg))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h || cfg.Width != c.w || cfg.Height != c.h {
				t.Fatalf("size %v, config %dx%d, PIL %dx%d", b, cfg.Width, cfg.Height, c.w, c.h)
			}
			if cfg.ColorModel != img.ColorModel() {
				t.Errorf("DecodeConfig colour model differs from the image's")
			}
			mode, pix := packed(t, img)
			if mode != c.mode {
				t.Fatalf("mode %s, PIL %s", mode, c.mode)
			}
			if len(pix) != len(c.raw) {
				t.Fatalf("%d bytes, PIL %d", len(pix), len(c.raw))
			}
			diff, maxDiff, first := 0, 0, -1
			for i := range pix {
				if d := absDiff(pix[i], c.raw[i]); d > 0 {
					if first < 0 {
						first = i
					}
					diff++
					maxDiff = max(maxDiff, d)
				}
			}
			if diff > 0 {
				ch := len(pix) / (c.w * c.h)
				p := first / ch
				t.Errorf("%s (%s): %d of %d values differ from PIL, max by %d; first at x=%d y=%d channel %d: got %d, PIL %d",
					c.name, c.how, diff, len(pix), maxDiff, p%c.w, p/c.w, first%ch, pix[first], c.raw[first])
			}
		})
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}
