//go:build js && wasm

package main

import "unsafe"

// float32Bytes views float32 values as their bytes without copying: wasm is little-endian,
// as is a JS Float32Array on every platform browsers run on.
func float32Bytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}
