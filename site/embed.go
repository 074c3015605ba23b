package site

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/ui/static"

	"github.com/alexlens/alexlens/weights/manifest"
)

var (
	wasmExecName       = regexp.MustCompile(`^wasm_exec\.[0-9a-f]{12}\.js$`)
	engineName         = regexp.MustCompile(`^engine\.[0-9a-f]{12}\.wasm$`)
	portableEngineName = regexp.MustCompile(`^engine-portable\.[0-9a-f]{12}\.wasm$`)
)

// addEmbed adds the embed page and its scripts (docs/EMBED.md): embed.html and the
// snippet embed.js keep stable names (other sites link to them); the rest is hashed. The
// embed engine runs the app's own engine.wasm.
func (x *exporter) addEmbed() error {
	wasmExec, engine, portable := x.find(wasmExecName), x.find(engineName), x.find(portableEngineName)
	if wasmExec == "" || engine == "" || portable == "" {
		return fmt.Errorf("the web app has no wasm_exec.<hash>.js, engine.<hash>.wasm or engine-portable.<hash>.wasm (is it a build of scripts/build-web.sh?)")
	}
	read := func(name string) []byte { return mustRead(static.Embed, "embed/"+name) }
	fill := func(b []byte, kv ...string) ([]byte, error) {
		for i := 0; i+1 < len(kv); i += 2 {
			b = bytes.ReplaceAll(b, []byte(kv[i]), []byte(kv[i+1]))
		}
		if m := regexp.MustCompile(`@[A-Z_]+@`).Find(b); m != nil {
			return nil, fmt.Errorf("embed template placeholder %s not filled", m)
		}
		return b, nil
	}
	engineJS, err := fill(read("engine.js"), "@WASM_EXEC_JS@", wasmExec, "@ENGINE_WASM@", engine, "@ENGINE_PORTABLE_WASM@", portable)
	if err != nil {
		return err
	}
	engineName, err := x.addHashed("embed-engine.js", engineJS)
	if err != nil {
		return err
	}
	css, err := x.addHashed("embed.css", read("embed.css"))
	if err != nil {
		return err
	}
	view, err := x.addHashed("embed-view.js", read("view.js"))
	if err != nil {
		return err
	}
	page, err := fill(read("embed.html"), "@EMBED_ENGINE_JS@", engineName, "@EMBED_CSS@", css, "@EMBED_VIEW_JS@", view)
	if err != nil {
		return err
	}
	if err := x.write("embed.html", page); err != nil {
		return err
	}
	if err := x.write("embed.js", read("embed.js")); err != nil {
		return err
	}
	// The live preview shows snippets relative to wherever the site is published, on
	// networks the site has.
	kernelArch, arch := demoArchs(x.weights)
	demo, err := fill(read("demo.html"), "@EMBED_CSS@", css, "@ORIGIN@", "https://YOUR-ALEXLENS-SITE/", "@ORIGIN_NOSLASH@", "https://YOUR-ALEXLENS-SITE",
		"@KERNEL_ARCH@", kernelArch, "@ARCH@", arch)
	if err != nil {
		return err
	}
	return x.write("embed-demo.html", demo)
}

// demoArchs picks the networks the embed demo shows: the original AlexNet's first layer
// for the kernel view when the site has it (the paper's Figure 3), and for the views that
// run the network the smallest whole network, trained before fixture. With no weights the
// demo names the networks `make weights` publishes.
func demoArchs(ws []manifest.Entry) (kernelArch, arch string) {
	kernelArch, arch = engine.AlexNetBVLC.Name, engine.SqueezeNet11.Name
	var best *manifest.Entry
	for i, e := range ws {
		if e.Partial != "" {
			continue
		}
		if best == nil || better(e, *best) {
			best = &ws[i]
		}
	}
	if best != nil {
		arch = best.Arch
	}
	if len(ws) > 0 && !slices.ContainsFunc(ws, func(e manifest.Entry) bool { return e.Arch == engine.AlexNetBVLC.Name }) {
		kernelArch = arch
	}
	return kernelArch, arch
}

// better ranks weights for the demo: trained before fixture, then the smaller download.
func better(a, b manifest.Entry) bool {
	if ta, tb := a.Kind == "trained", b.Kind == "trained"; ta != tb {
		return ta
	}
	return a.Bytes < b.Bytes
}

// find returns the one written file whose name matches re ("" if none).
func (x *exporter) find(re *regexp.Regexp) string {
	var names []string
	for n := range x.hashes {
		if re.MatchString(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) != 1 {
		return ""
	}
	return names[0]
}
