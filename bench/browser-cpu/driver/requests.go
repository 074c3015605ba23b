package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/alexlens/alexlens/ui/state"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/session"
	"github.com/alexlens/alexlens/weights/manifest"
)

// appRequests answers /requests?net=N&precision=P&threads=T with what the app's page would
// send its engine worker when opened at ?arch=N&precision=P&backend=cpu&threads=T: the
// worker's script, the load request and the classify request (with the activation maps the
// page shows first). ui/state builds both, as it does for the page; the classify request
// needs the loaded model's layers, which the driver gets by loading the same file natively.
type appRequests struct {
	worker     string // the worker script's URL
	weightsDir string
	manifest   *manifest.Manifest

	mu     sync.Mutex
	models map[string]*protocol.ModelInfo // by weights file
}

func newAppRequests(web, weightsDir, base string) (*appRequests, error) {
	workers, err := filepath.Glob(filepath.Join(web, "worker.*.js"))
	if err != nil || len(workers) != 1 {
		return nil, fmt.Errorf("%s: want one worker.<hash>.js, found %d", web, len(workers))
	}
	m, err := manifest.Read(filepath.Join(weightsDir, manifest.Name))
	if err != nil {
		return nil, err
	}
	return &appRequests{worker: base + filepath.Base(workers[0]), weightsDir: weightsDir, manifest: m, models: map[string]*protocol.ModelInfo{}}, nil
}

func (a *appRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	params := state.ParseParams(fmt.Sprintf("arch=%s&precision=%s&backend=cpu&threads=%s", q.Get("net"), q.Get("precision"), q.Get("threads")))
	app := state.NewApp(params)
	choice, err := state.ChooseWeights(a.manifest, params, "weights")
	if err == nil {
		var info *protocol.ModelInfo
		if info, err = a.model(choice); err == nil {
			app.Loaded(protocol.Response{Model: info})
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"worker": a.worker, "load": app.LoadRequest(choice), "classify": app.ClassifyRequest()})
}

// model loads the chosen file natively once, for the layers the page's maps come from.
func (a *appRequests) model(c state.Choice) (*protocol.ModelInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	name := path.Base(c.URL)
	if info := a.models[name]; info != nil {
		return info, nil
	}
	data, err := os.ReadFile(filepath.Join(a.weightsDir, name))
	if err != nil {
		return nil, err
	}
	info, err := session.New(session.DefaultCodecs(), nil).Load(data, session.LoadOptions{Want: c.SHA256, Precision: c.Entry.Precision})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	a.models[name] = info
	return info, nil
}
