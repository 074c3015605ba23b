package weights

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/alexlens/alexlens/engine"
)

// paramHash hashes a model's float32 parameters in architecture order.
func paramHash(m *engine.Model) string {
	sum := sha256.New()
	var b [4]byte
	for _, p := range m.Arch.Params() {
		for _, v := range m.Params[p.Name].F32 {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
			sum.Write(b[:])
		}
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// The golden hashes catch any drift in the generator (a platform's rounding, a changed
// constant) and in the file layout. They were computed once with this code on linux/amd64,
// the parameter hash confirmed by an independent Python implementation of the generator;
// change them only for an intended change, and say so in the commit.
const (
	goldenSqueezeNetSeed1Params = "4cb38f21fdfa128191ef722304f95ac6ee3f43801f9e0f12bfc83e337afc854b"
	goldenSqueezeNetSeed1File   = "b5ec27255341e693dca2340ca10028568c7975e7bf06a9a76f2c2b4b86003c1c"
)

func TestFixtureGolden(t *testing.T) {
	m := Fixture(engine.SqueezeNet11, 1)
	if got := paramHash(m); got != goldenSqueezeNetSeed1Params {
		t.Errorf("SqueezeNet fixture seed 1 parameters hash to %s, want %s", got, goldenSqueezeNetSeed1Params)
	}
	if got := FileHash(encodeBytes(t, m, FixtureSource(1))); got != goldenSqueezeNetSeed1File {
		t.Errorf("SqueezeNet fixture seed 1 .alxw file hashes to %s, want %s", got, goldenSqueezeNetSeed1File)
	}
}

func TestFixtureDeterministic(t *testing.T) {
	a, b, c := Fixture(engine.SqueezeNet11, 42), Fixture(engine.SqueezeNet11, 42), Fixture(engine.SqueezeNet11, 43)
	if !a.Fixture || a.Partial != "" {
		t.Fatalf("fixture flag %v, partial %q", a.Fixture, a.Partial)
	}
	if paramHash(a) != paramHash(b) {
		t.Error("the same seed gave different weights")
	}
	if paramHash(a) == paramHash(c) {
		t.Error("seeds 42 and 43 gave the same weights")
	}
	if _, err := engine.NewModel(engine.SqueezeNet11, tensorsOf(a)); err != nil {
		t.Errorf("fixture is not a valid model: %v", err)
	}
	// The weights follow their stated distribution: uniform in ±sqrt(6/fan_in), so the
	// standard deviation is sqrt(2/fan_in); biases within ±0.01.
	w := a.Params["features.0.weight"].F32 // fan_in 27
	bound := math.Sqrt(6.0 / 27)
	var sum, sq float64
	for _, v := range w {
		if math.Abs(float64(v)) > bound {
			t.Fatalf("conv1 weight %v outside ±%v", v, bound)
		}
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(w))
	if mean, std := sum/n, math.Sqrt(sq/n); math.Abs(mean) > 0.02 || math.Abs(std-math.Sqrt(2.0/27)) > 0.01 {
		t.Errorf("conv1 weights: mean %.4f std %.4f, want 0 and %.4f", mean, std, math.Sqrt(2.0/27))
	}
	for _, v := range a.Params["classifier.1.bias"].F32 {
		if math.Abs(float64(v)) > 0.01 {
			t.Fatalf("bias %v outside ±0.01", v)
		}
	}
}

func tensorsOf(m *engine.Model) map[string]*engine.Tensor {
	ts := map[string]*engine.Tensor{}
	for k, w := range m.Params {
		ts[k] = &engine.Tensor{Shape: w.Shape, Data: w.F32}
	}
	return ts
}

// TestFixtureActivationScale runs each network on a unit-variance input: the RMS of every
// named activation must stay within a factor of 30 of the input's, neither vanishing nor
// exploding, so that views of fixture models show structure and tests exercise real ranges.
func TestFixtureActivationScale(t *testing.T) {
	archs := []*engine.Arch{engine.SqueezeNet11, engine.AlexNet, engine.AlexNetBVLC}
	if testing.Short() {
		archs = archs[:1]
	}
	for _, a := range archs {
		m := Fixture(a, 1)
		x := testInput(1, a.InputSize)
		res, err := m.Forward(x, engine.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		in := rms(x.Data)
		for _, name := range res.Order {
			r := rms(res.Activations[name].Data) / in
			if !(r > 1.0/30 && r < 30) {
				t.Errorf("%s %s: activation RMS is %.3g times the input's", a.Name, name, r)
			}
		}
		if engine.HasNaN(res.Logits.Data) {
			t.Errorf("%s: logits hold NaN", a.Name)
		}
	}
}

func rms(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

func TestSplitMix64Reference(t *testing.T) {
	// First outputs for seed 0 from the published SplittableRandom/splitmix64 definition.
	r := splitMix64{}
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := r.next(); got != want {
			t.Fatalf("output %d = %#x, want %#x", i, got, want)
		}
	}
}
