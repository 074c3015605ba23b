//go:build js && wasm

// Command wasmprobe is the smallest Go wasm program that proves the server's headers let
// a Go wasm app start: it marks a global the browser test reads.
package main

import "syscall/js"

func main() {
	js.Global().Set("probeResult", "go-wasm-ran")
}
