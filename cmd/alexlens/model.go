package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

// modelFlags are the flags every command that runs the network shares.
type modelFlags struct {
	arch, weights, precision string
	threads                  int
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.arch, "arch", "", "architecture: "+strings.Join(engine.ArchNames(), ", ")+" (inferred from the weights when omitted)")
	fs.StringVar(&m.weights, "weights", "", `weights: a .pth, .onnx or .alxw file, or "fixture[:SEED]" for untrained weights`)
	fs.StringVar(&m.precision, "precision", "f32", "weight precision: f32 or int8")
	fs.IntVar(&m.threads, "threads", 0, "CPU threads (0: all cores)")
}

// load reads the model the flags name and warns on stderr when its weights are untrained.
func (m *modelFlags) load(stderr io.Writer) (*engine.Model, error) {
	if m.weights == "" {
		return nil, usagef("--weights is required (a .pth/.onnx/.alxw file, or \"fixture\" for untrained weights)")
	}
	prec := engine.Precision(m.precision)
	if prec != engine.F32 && prec != engine.Int8 {
		return nil, usagef("--precision must be f32 or int8, not %q", m.precision)
	}
	var model *engine.Model
	if seedText, ok := strings.CutPrefix(m.weights, "fixture"); ok && (seedText == "" || seedText[0] == ':') {
		if m.arch == "" {
			return nil, usagef("--arch is required with fixture weights")
		}
		a, err := engine.LookupArch(m.arch)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		seed := int64(1)
		if seedText != "" {
			if seed, err = strconv.ParseInt(seedText[1:], 10, 64); err != nil {
				return nil, usagef("bad fixture seed %q", seedText[1:])
			}
		}
		model = weights.Fixture(a, seed)
	} else {
		var err error
		if model, err = weights.Load(m.weights, m.arch); err != nil {
			return nil, err
		}
		if m.arch != "" && model.Arch.Name != m.arch {
			return nil, fmt.Errorf("%s holds %s weights, not %s", m.weights, model.Arch.Name, m.arch)
		}
	}
	if model.Fixture {
		fmt.Fprintf(stderr, "warning: %s uses UNTRAINED fixture weights: its outputs are meaningless. Run `alexlens weights fetch %s` for the real ones.\n",
			model.Arch.Name, fetchName(model.Arch.Name))
	}
	return model.WithPrecision(prec), nil
}

func (m *modelFlags) backend() engine.Backend {
	return engine.FastCPU{Threads: m.threads}
}

// fetchName is the name `weights fetch` knows an architecture's official weights by.
func fetchName(arch string) string {
	if arch == engine.AlexNetBVLC.Name {
		return engine.AlexNet.Name
	}
	return arch
}

// parseShape reads "1,3,224,224".
func parseShape(s string) ([]int, error) {
	var shape []int
	for _, f := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d < 1 {
			return nil, usagef("bad shape %q: want positive integers separated by commas", s)
		}
		shape = append(shape, d)
	}
	return shape, nil
}
