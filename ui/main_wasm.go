//go:build js && wasm

// Command ui is the AlexLens page: a Vugu app that keeps its state in ui/state and runs the
// network in the engine worker (wasm/worker).
//
//go:generate sh -c "GOOS=$(go env GOHOSTOS) GOARCH=$(go env GOHOSTARCH) go tool vugugen -s -skip-go-mod && { printf '//go:build js && wasm\\n\\n'; cat 0_components_gen.go; } > 0_components_gen.go.tmp && mv 0_components_gen.go.tmp 0_components_gen.go && gofmt -w 0_components_gen.go"
package main

import (
	"fmt"
	"net/url"
	"syscall/js"

	"github.com/vugu/vugu"
	"github.com/vugu/vugu/domrender"

	"github.com/alexlens/alexlens/ui/state"
	"github.com/alexlens/alexlens/wasm/jsutil"

	"github.com/alexlens/alexlens/weights/manifest"
)

// weightsBase is where the server serves the weights folder and its manifest.json.
const weightsBase = "weights"

func main() {
	renderer, err := domrender.New("#app")
	if err != nil {
		panic(err)
	}
	defer renderer.Release()
	buildEnv, err := vugu.NewBuildEnv(renderer.EventEnv())
	if err != nil {
		panic(err)
	}
	params := state.ParseParams(js.Global().Get("location").Get("search").String())
	root := &Root{App: state.NewApp(params), env: renderer.EventEnv(), stream: js.Undefined(), frame: js.Undefined(), previewSrc: js.Undefined(), video: js.Undefined(),
		editOp: "off", editValue: "0"}
	root.eng = StartEngine(workerScript())
	root.eng.OnRestart = root.engineRestarted
	root.listenForImages()
	go root.start()
	for ok := true; ok; ok = renderer.EventWait() {
		if err := renderer.Render(buildEnv.RunBuild(root)); err != nil {
			panic(err)
		}
	}
}

// workerScript is the engine worker's script, named by index.html's data-worker attribute
// (the build gives it a content-hashed name).
func workerScript() string {
	s := js.Global().Get("document").Get("documentElement").Call("getAttribute", "data-worker")
	if s.Type() == js.TypeString && s.String() != "" {
		return s.String()
	}
	return "worker.js"
}

// start picks the weights, then loads them.
func (c *Root) start() {
	manifest, merr := fetchManifest()
	memory := js.Global().Get("navigator").Get("deviceMemory")
	c.update(func() {
		if memory.Type() == js.TypeNumber {
			c.App.Params.DeviceMemoryGB = memory.Float()
		}
		c.App.Manifest = manifest
		choice, err := state.ChooseWeights(manifest, c.App.Params, weightsBase)
		if err != nil {
			if merr != nil && c.App.Params.Weights == "" {
				err = merr
			}
			c.App.Failed(err.Error())
			return
		}
		c.load(choice)
	})
}

func fetchManifest() (*manifest.Manifest, error) {
	data, err := jsutil.FetchBytes(weightsBase+"/"+manifest.Name, manifest.MaxBytes, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s/manifest.json (%v): no weights are served; run `alexlens weights fetch` (or `alexlens weights fixture`) and reload", weightsBase, err)
	}
	return manifest.Parse(data)
}

// setURLParams rewrites the query string (without reloading) so a reload or a shared link
// shows the same thing; "" removes a parameter.
func setURLParams(kv map[string]string) {
	editURL(func(q url.Values) {
		for k, v := range kv {
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
		}
	})
}

// editURL changes the page's query string in place (without reloading), keeping the view's
// #fragment.
func editURL(edit func(url.Values)) {
	loc := js.Global().Get("location")
	q, _ := url.ParseQuery(trimQ(loc.Get("search").String()))
	edit(q)
	u := loc.Get("pathname").String()
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	js.Global().Get("history").Call("replaceState", js.Null(), "", u+loc.Get("hash").String())
}

func trimQ(s string) string {
	if len(s) > 0 && s[0] == '?' {
		return s[1:]
	}
	return s
}
