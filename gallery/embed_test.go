package gallery

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// photo decodes a skimage photo the way the app does.
func photo(t testing.TB, name string) image.Image {
	t.Helper()
	data, err := os.ReadFile(testenv.Photo(t, name))
	if err != nil {
		t.Fatal(err)
	}
	img, err := preprocess.Decode(data, preprocess.DefaultLimits)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

var (
	squeezeOnce  sync.Once
	squeezeModel *engine.Model
	squeezeErr   error
)

func realSqueezeNet(t testing.TB) *engine.Model {
	p := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	squeezeOnce.Do(func() { squeezeModel, squeezeErr = weights.Load(p, "squeezenet1_1") })
	if squeezeErr != nil {
		t.Fatal(squeezeErr)
	}
	return squeezeModel
}

func embedImage(t testing.TB, m *engine.Model, h Header, img image.Image) []float32 {
	t.Helper()
	e, _, err := Embed(m, nil, preprocess.Tensor(img, m.Arch.InputSize), h, false)
	if err != nil {
		t.Fatal(err)
	}
	return e[0]
}

// Near duplicates made at test time with Go's image packages.
func flipped(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(b.Dx()-1-x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// cropped keeps the central 85% of each side, offset a little from the centre.
func cropped(img image.Image) image.Image {
	b := img.Bounds()
	w, h := b.Dx()*85/100, b.Dy()*85/100
	r := image.Rect(0, 0, w, h).Add(b.Min).Add(image.Pt((b.Dx()-w)/3, (b.Dy()-h)/2))
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

func reencoded(t testing.TB, img image.Image) image.Image {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 30}); err != nil {
		t.Fatal(err)
	}
	out, err := preprocess.Decode(buf.Bytes(), preprocess.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	queryPhotos     = []string{"chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"}
	unrelatedPhotos = []string{"camera.png", "horse.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "coins.png",
		"moon.png", "page.png", "grass.png", "brick.png", "color.png", "logo.png"}
)

// activations runs the model once per image and keeps the named layers' embeddings.
func activations(t *testing.T, m *engine.Model, layers []string, img image.Image) map[string][]float32 {
	t.Helper()
	res, err := m.Forward(preprocess.Tensor(img, m.Arch.InputSize), engine.ForwardOptions{
		Keep: func(n string) bool { return slices.Contains(layers, n) }, StopAfter: layers[len(layers)-1]})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, l := range layers {
		_, dim, err := EmbeddingShape(m.Arch, l)
		if err != nil {
			t.Fatal(err)
		}
		out[l] = pool(res.Activations[l].Data, dim)
	}
	return out
}

// nearDuplicates embeds every query photo and its flip, crop and JPEG re-encode, and the
// unrelated photos, at the given layers (in network order).
func nearDuplicates(t *testing.T, m *engine.Model, layers []string) (items []Item, embs, queries map[string][][]float32) {
	t.Helper()
	embs, queries = map[string][][]float32{}, map[string][][]float32{}
	add := func(name string, img image.Image, query bool) {
		for l, v := range activations(t, m, layers, img) {
			if query {
				queries[l] = append(queries[l], v)
			} else {
				embs[l] = append(embs[l], v)
			}
		}
		if !query {
			items = append(items, Item{Name: name, Class: -1})
		}
	}
	for _, q := range queryPhotos {
		img := photo(t, q)
		add(q, img, true)
		add(q+"/flip", flipped(img), false)
		add(q+"/crop", cropped(img), false)
		add(q+"/jpeg", reencoded(t, img), false)
	}
	for _, u := range unrelatedPhotos {
		add(u, photo(t, u), false)
	}
	return items, embs, queries
}

func buildGallery(t *testing.T, m *engine.Model, layer string, e Encoding, items []Item, embs [][]float32) *Gallery {
	t.Helper()
	h, err := HeaderFor(m, layer, e, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(h)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		if err := g.Add(it, embs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// checkNearDuplicates asserts that the variants named must of each query are nearer than
// every unrelated photo, and returns the smallest ratio (nearest unrelated distance / farthest
// such variant) over the queries.
func checkNearDuplicates(t *testing.T, g *Gallery, queries [][]float32, m Metric, must []string, strict bool) float64 {
	t.Helper()
	worst := math.Inf(1)
	for qi, q := range queryPhotos {
		res, err := g.Search([][]float32{queries[qi]}, SearchOptions{K: g.Len(), Metric: m})
		if err != nil {
			t.Fatal(err)
		}
		var far, near float32 = 0, float32(math.Inf(1))
		nearest := ""
		for _, n := range res[0] {
			name := g.Items[n.Index].Name
			variant, ok := strings.CutPrefix(name, q+"/")
			switch {
			case ok && slices.Contains(must, variant):
				far = max(far, n.Distance)
			case !ok && n.Distance < near:
				near, nearest = n.Distance, name
			}
		}
		if strict && far >= near {
			t.Errorf("%s %s: unrelated %s (%.4g) is nearer than a variant (%.4g)", m, q, nearest, near, far)
		}
		worst = min(worst, float64(near/far))
	}
	return worst
}

var allVariants = []string{"flip", "crop", "jpeg"}

// Flips, crops and re-encodes of a photo are its nearest neighbours among unrelated photos,
// with the real SqueezeNet weights. The mean-pooled fire9 default is compared with fire8 and
// with avgpool10 (the class scores).
func TestNearDuplicatesSqueezeNet(t *testing.T) {
	m := realSqueezeNet(t)
	layers := []string{"fire8", "fire9", "avgpool10"}
	items, embs, queries := nearDuplicates(t, m, layers)
	for _, layer := range layers {
		for _, e := range []Encoding{Int8, F16} {
			g := buildGallery(t, m, layer, e, items, embs[layer])
			encodingError(t, g, embs[layer], append(queries[layer], embs[layer]...))
			for _, metric := range []Metric{Cosine, Euclidean} {
				margin := checkNearDuplicates(t, g, queries[layer], metric, allVariants, layer == DefaultLayer(m.Arch))
				t.Logf("squeezenet1_1 %-9s (%4d-d, %-4s) %-9s: nearest unrelated / farthest variant >= %.3f", layer, g.Header.Dim, e, metric, margin)
			}
		}
	}
}

// The same with AlexNet fc7 on untrained fixture weights. Random filters are not mirror
// symmetric, so only crops and re-encodes must rank first; flips are reported.
func TestNearDuplicatesAlexNetFixture(t *testing.T) {
	m := weights.Fixture(engine.AlexNet, 1)
	items, embs, queries := nearDuplicates(t, m, []string{"fc7"})
	g := buildGallery(t, m, "fc7", Int8, items, embs["fc7"])
	for _, metric := range []Metric{Cosine, Euclidean} {
		margin := checkNearDuplicates(t, g, queries["fc7"], metric, []string{"crop", "jpeg"}, true)
		flips := checkNearDuplicates(t, g, queries["fc7"], metric, allVariants, false)
		t.Logf("alexnet fixture fc7 (int8) %-9s: nearest unrelated / farthest crop or re-encode >= %.3f (with flips: %.3f)", metric, margin, flips)
	}
}

// Embed gives exactly the engine's activation (mean-pooled when spatial), and the head
// classifier on fc7 gives exactly the network's own probabilities.
func TestEmbedAndHeadMatchForward(t *testing.T) {
	m := weights.Fixture(engine.AlexNet, 1)
	x := preprocess.Tensor(photo(t, "coffee.png"), m.Arch.InputSize)
	h, err := HeaderFor(m, "fc7", F16, 64, "fixture:1")
	if err != nil {
		t.Fatal(err)
	}
	emb, logits, err := Embed(m, nil, x, h, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Forward(x, engine.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equalF32(emb[0], res.Activations["fc7"].Data) || !equalF32(logits.Data, res.Logits.Data) {
		t.Fatal("Embed's fc7 or logits differ from Forward's")
	}
	head, err := HeadClassifier(m, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	probs, err := head(emb[0])
	if err != nil {
		t.Fatal(err)
	}
	if d := engine.RelL2(probs, engine.Probabilities(res.Logits).Data); d > 1e-6 {
		t.Fatalf("head probabilities differ from the network's by %.2g relative L2", d)
	}
	// A mean-pooled layer: the embedding is the activation averaged over positions.
	hc, err := HeaderFor(m, "conv5", Int8, 0, "fixture:1")
	if err != nil {
		t.Fatal(err)
	}
	if hc.Dim != 256 || hc.Pooling != PoolMean {
		t.Fatalf("conv5 header %+v", hc)
	}
	ec, _, err := Embed(m, nil, x, hc, false)
	if err != nil {
		t.Fatal(err)
	}
	c5 := res.Activations["conv5"]
	plane := c5.Shape[2] * c5.Shape[3]
	for c := 0; c < 256; c++ {
		var s float64
		for _, v := range c5.Data[c*plane : (c+1)*plane] {
			s += float64(v)
		}
		if math.Abs(s/float64(plane)-float64(ec[0][c])) > 1e-5*math.Max(1, math.Abs(s/float64(plane))) {
			t.Fatalf("conv5 channel %d: mean %v, embedding %v", c, s/float64(plane), ec[0][c])
		}
	}
	if _, err := HeadClassifier(m, nil, hc); err == nil || !strings.Contains(err.Error(), "needs positions") {
		t.Errorf("head after conv5: %v", err)
	}
	hs := h
	hs.Arch = "squeezenet1_1"
	if _, _, err := Embed(m, nil, x, hs, false); err == nil {
		t.Error("Embed of alexnet into a squeezenet gallery accepted")
	}
}

// On the real SqueezeNet, the head on the mean-pooled fire9 embedding (conv10 on the average
// instead of averaging after conv10's ReLU) keeps the network's top class for these photos.
func TestHeadOnPooledFire9(t *testing.T) {
	m := realSqueezeNet(t)
	h, err := HeaderFor(m, "fire9", Int8, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	head, err := HeadClassifier(m, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"coffee.png", "chelsea.png", "rocket.jpg"} {
		x := preprocess.Tensor(photo(t, name), m.Arch.InputSize)
		emb, logits, err := Embed(m, nil, x, h, true)
		if err != nil {
			t.Fatal(err)
		}
		probs, err := head(emb[0])
		if err != nil {
			t.Fatal(err)
		}
		got, want := engine.TopK(probs, 1)[0], engine.TopK(engine.Probabilities(logits).Data, 1)[0]
		t.Logf("%-12s network top-1 %s (%.2f), head on mean fire9 %s (%.2f)", name, imagenet.Label(want.Index), want.Prob, imagenet.Label(got.Index), got.Prob)
		if got.Index != want.Index {
			t.Errorf("%s: head top-1 %s, network %s", name, imagenet.Label(got.Index), imagenet.Label(want.Index))
		}
	}
}

// The fingerprint ignores how weights are stored (float32 or int8) but not what they are.
func TestFingerprint(t *testing.T) {
	a := weights.Fixture(engine.SqueezeNet11, 1)
	if Fingerprint(a) != Fingerprint(a.WithPrecision(engine.Int8)) {
		t.Error("float32 and int8 copies of the same weights have different fingerprints")
	}
	if Fingerprint(a) == Fingerprint(weights.Fixture(engine.SqueezeNet11, 2)) {
		t.Error("different weights share a fingerprint")
	}
}

// encodingError compares distances over the stored encoding with float32 ones on the exact
// embeddings: the largest absolute error (cosine; Euclidean as a fraction of the query's length),
// and how many of the float32 top-5 the encoded search also returns. Bounds: int8 cosine 2e-3 and
// Euclidean 3% of |query|, f16 2e-4 and 0.1%; top-5 agreement >= 90%.
func encodingError(t *testing.T, g *Gallery, exact [][]float32, queries [][]float32) {
	t.Helper()
	ref := &Gallery{Header: g.Header}
	ref.Header.Encoding = "f32"
	for _, m := range []Metric{Cosine, Euclidean} {
		worst, agree, total := 0.0, 0, 0
		got, err := g.Search(queries, SearchOptions{K: 5, Metric: m})
		if err != nil {
			t.Fatal(err)
		}
		for qi, q := range queries {
			var want []Neighbor
			for i, x := range exact {
				var dot, qq, xx, sq float64
				for j := range x {
					a, b := float64(q[j]), float64(x[j])
					dot, qq, xx, sq = dot+a*b, qq+a*a, xx+b*b, sq+(a-b)*(a-b)
				}
				d := math.Sqrt(sq)
				if m == Cosine {
					d = 1 - dot/math.Sqrt(qq*xx)
				}
				want = append(want, Neighbor{i, float32(d)})
			}
			slices.SortFunc(want, cmpNeighbor)
			for _, n := range got[qi] {
				for _, w := range want[:5] {
					if w.Index == n.Index {
						agree++
					}
				}
				total++
				d := float64(want[slices.IndexFunc(want, func(w Neighbor) bool { return w.Index == n.Index })].Distance)
				e := math.Abs(float64(n.Distance) - d)
				if m == Euclidean {
					e /= float64(norm(q)) // relative to the query's length: self-distances are ~0
				}
				worst = max(worst, e)
			}
		}
		what := "max |cosine distance error|"
		bound := map[Encoding]float64{Int8: 2e-3, F16: 2e-4}[g.Header.Encoding]
		if m == Euclidean {
			what, bound = "max Euclidean distance error / |query|", map[Encoding]float64{Int8: 0.03, F16: 1e-3}[g.Header.Encoding]
		}
		t.Logf("%s %s (%d items, %d queries): %s %.2g, top-5 agreement with float32 %d/%d", g.Header.Layer, g.Header.Encoding, len(exact), len(queries), what, worst, agree, total)
		if worst > bound || float64(agree) < 0.9*float64(total) {
			t.Errorf("%s %s %s: error %.3g (bound %g), top-5 agreement %d/%d", g.Header.Layer, g.Header.Encoding, m, worst, bound, agree, total)
		}
	}
}
