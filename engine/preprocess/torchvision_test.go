package preprocess

import (
	"bufio"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The photos shipped by Debian's python3-skimage: real camera images, one of them a JPEG and
// one grayscale.
const photoDir = "/usr/lib/python3/dist-packages/skimage/data"

// Debian's interpreter, the one with torch; the python3 first on PATH may lack it.
const python = "/usr/bin/python3"

// torchvisionRefs runs testdata/torchvision_ref.py (real PIL + torchvision) into a temporary
// folder and returns its manifest rows, or skips when python, torchvision or the photos are
// missing (scripts/install-test-deps.sh installs them).
func torchvisionRefs(t *testing.T) (dir string, rows [][]string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(photoDir, "chelsea.png")); err != nil {
		t.Skipf("skimage photos not installed (%v): apt-get install python3-skimage", err)
	}
	if err := exec.Command(python, "-c", "import torchvision, PIL.features as f; assert f.check('webp')").Run(); err != nil {
		t.Skipf("%s with torchvision and PIL WebP support not available (%v): apt-get install python3-torchvision python3-pil", python, err)
	}
	dir = t.TempDir()
	out, err := exec.Command(python, "testdata/torchvision_ref.py", photoDir, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("torchvision reference failed: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rows = append(rows, strings.Split(sc.Text(), "\t"))
	}
	if len(rows) < 30 {
		t.Fatalf("reference produced only %d images", len(rows))
	}
	return dir, rows
}

// lossless reports whether a file's pixels are fully determined by the format, so that our
// decode must equal PIL's exactly; lossy decoders (JPEG's IDCT) may differ by a grey level.
func lossless(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".png" || ext == ".gif" || ext == ".bmp" || ext == ".tiff" || strings.HasPrefix(filepath.Base(name), "lossless") ||
		strings.HasPrefix(filepath.Base(name), "flat")
}

func TestMatchesTorchvision(t *testing.T) {
	dir, rows := torchvisionRefs(t)
	for _, r := range rows {
		path, crop := r[0], atoi(t, r[1])
		rw, rh := atoi(t, r[2]), atoi(t, r[3])
		t.Run(filepath.Base(path)+"/"+r[1], func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			img, err := Decode(data, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			rgb := img.(*RGB)
			gw, gh := ResizedSize(rgb.W, rgb.H, ResizeTo)
			if gw != rw || gh != rh {
				t.Fatalf("resized size %dx%d, torchvision %dx%d", gw, gh, rw, rh)
			}
			small, err := ResizeRGB(rgb.Pix, rgb.W, rgb.H, rw, rh)
			if err != nil {
				t.Fatal(err)
			}
			wantSmall, err := os.ReadFile(filepath.Join(dir, r[4]))
			if err != nil {
				t.Fatal(err)
			}
			maxPix, nDiff := 0, 0
			for i := range wantSmall {
				d := int(small[i]) - int(wantSmall[i])
				if d < 0 {
					d = -d
				}
				if d > 0 {
					nDiff++
				}
				maxPix = max(maxPix, d)
			}

			got := Tensor(img, crop)
			want := readF32(t, filepath.Join(dir, r[5]))
			if len(got.Data) != len(want) || got.Shape[2] != crop || got.Shape[3] != crop {
				t.Fatalf("tensor shape %v, want 1x3x%dx%d", got.Shape, crop, crop)
			}
			plane := crop * crop
			var maxErr [3]float64
			for i, w := range want {
				c := i / plane
				maxErr[c] = math.Max(maxErr[c], math.Abs(float64(got.Data[i])-float64(w)))
			}
			worst := math.Max(maxErr[0], math.Max(maxErr[1], maxErr[2]))
			t.Logf("after resize: %d of %d uint8 values differ, max %d; tensor max abs error %.3g (R %.3g G %.3g B %.3g)",
				nDiff, len(wantSmall), maxPix, worst, maxErr[0], maxErr[1], maxErr[2])
			if lossless(path) {
				if nDiff != 0 || worst != 0 {
					t.Errorf("lossless %s: want a bit-exact match with torchvision", filepath.Base(path))
				}
				return
			}
			// Lossy formats: the colour pipeline is exact (the flat-block JPEGs above prove
			// it), but Go's image/jpeg rounds its IDCT differently from libjpeg-turbo: Y, Cb
			// and Cr each off by at most one level in a few percent of pixels, which the YCbCr
			// to RGB matrix can turn into three levels. Bound that, and require nearly all
			// resized values to be identical.
			for c := 0; c < 3; c++ {
				if lim := 3/(255*float64(Std[c])) + 1e-6; maxErr[c] > lim {
					t.Errorf("channel %d: max abs error %.4g exceeds three grey levels %.4g", c, maxErr[c], lim)
				}
			}
			if frac := float64(nDiff) / float64(len(wantSmall)); frac > 0.05 {
				t.Errorf("%.1f%% of resized values differ from PIL's, want under 5%%", 100*frac)
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
