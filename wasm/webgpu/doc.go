// Package webgpu runs the AlexLens networks on the GPU through the browser's WebGPU API,
// driven from Go with syscall/js: every operator of the three networks is a WGSL compute
// kernel, weights are uploaded once (int8 stays int8), activations stay on the GPU between
// layers and only what the caller asks for is read back. Runner falls back to the CPU path
// whenever WebGPU is missing or fails. DESIGN.md explains the kernels and their costs.
//
// The kernels' text and the plans (which dispatch runs with which sizes) build on every
// platform and are tested natively; the device code builds for js/wasm only.
package webgpu
