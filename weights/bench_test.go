package weights

import (
	"bytes"
	"io"
	"testing"

	"github.com/alexlens/alexlens/engine"
)

// Decode and Encode speed for the files the app serves; SetBytes gives MB/s.
func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct {
		arch *engine.Arch
		prec engine.Precision
	}{{engine.SqueezeNet11, engine.F32}, {engine.SqueezeNet11, engine.Int8}, {engine.AlexNet, engine.Int8}} {
		data := encodeBytes(b, Fixture(c.arch, 1).WithPrecision(c.prec), "bench")
		for _, skip := range []bool{false, true} {
			name := c.arch.Name + "-" + string(c.prec)
			if skip {
				name += "-skiphashes"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := DecodeWith(data, DecodeOptions{SkipTensorHashes: skip}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m := Fixture(engine.SqueezeNet11, 1)
	n := int64(len(encodeBytes(b, m, "bench")))
	b.SetBytes(n)
	for b.Loop() {
		if err := Encode(io.Discard, m, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadHeader(b *testing.B) {
	data := encodeBytes(b, Fixture(engine.AlexNet, 1).WithPrecision(engine.Int8), "bench")
	for b.Loop() {
		if _, err := ReadHeader(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
