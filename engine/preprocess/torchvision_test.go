package preprocess

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/internal/testenv"
)

// Debian's interpreter, the one with torch; the python3 first on PATH may lack it.
const python = "/usr/bin/python3"

// torchvisionRefs runs testdata/torchvision_ref.py (real PIL + torchvision) into a temporary
// folder and returns its manifest rows, or skips when python, torchvision or the photos are
// missing (scripts/install-test-deps.sh installs them).
func torchvisionRefs(t *testing.T) (dir string, rows [][]string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(testenv.PhotosDir, "chelsea.png")); err != nil {
		t.Skipf("skimage photos not installed (%v): apt-get install python3-skimage", err)
	}
	if err := exec.Command(python, "-c", "import torchvision, PIL.features as f; assert f.check('webp')").Run(); err != nil {
		t.Skipf("%s with torchvision and PIL WebP support not available (%v): apt-get install python3-torchvision python3-pil", python, err)
	}
	dir = t.TempDir()
	out, err := exec.Command(python, "testdata/torchvision_ref.py", testenv.PhotosDir, dir).CombinedOutput()
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
			// Every format decodes to PIL's pixels (JPEG through engine/preprocess/jpeg, lossy
			// WebP through libwebp's upsampling), and the resize and normalization are PIL's
			// and torch's operations: the tensors must be identical.
			if nDiff != 0 || worst != 0 {
				t.Errorf("%s: want a bit-exact match with torchvision", filepath.Base(path))
			}
			if filepath.Ext(path) == ".jpg" {
				checkStdlibJPEG(t, data, crop, want)
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

// checkStdlibJPEG covers the fallback for JPEGs engine/preprocess/jpeg refuses: Go's
// image/jpeg, then libjpeg's upsampling and colour conversion (jpegYCbCrToRGB). Go's IDCT
// rounds differently from libjpeg's, each of Y, Cb, Cr by at most one level, which the
// colour matrix can turn into three; on flat-block images (all IDCTs exact) the rest of the
// pipeline must match PIL bit for bit.
func checkStdlibJPEG(t *testing.T, data []byte, crop int, want []float32) {
	t.Helper()
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/jpeg: %v", err)
	}
	if _, ok := m.(*image.YCbCr); !ok {
		return
	}
	x := Tensor(ToRGB(m), crop)
	if o := jpegOrientation(data); o != 1 {
		x = Tensor(orient(ToRGB(m), o), crop)
	}
	plane := crop * crop
	worst := 0.0
	for i, w := range want {
		c := i / plane
		err := math.Abs(float64(x.Data[i])-float64(w)) * 255 * float64(Std[c]) // in grey levels
		worst = math.Max(worst, err)
	}
	limit := 3.0001
	if strings.HasPrefix(filepath.Base(t.Name()), "flat") || strings.Contains(t.Name(), "/flat") {
		limit = 0.0001
	}
	t.Logf("fallback image/jpeg path: max error %.2f grey levels", worst)
	if worst > limit {
		t.Errorf("fallback image/jpeg path: max error %.2f grey levels, limit %.0f", worst, limit)
	}
}
