//go:build !wasm

package engine

func maxF32(a, b float32) float32 { return max(a, b) }
