//go:build js && wasm

package main

import (
	"encoding/binary"
	"math"
)

// float32frombits reads one little-endian float32 (the layout of a JS Float32Array on every
// platform browsers run on).
func float32frombits(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
