package handler

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/server"
	"github.com/alexlens/alexlens/server/httpsuite"
	"github.com/alexlens/alexlens/weights/manifest"
)

// TestSuite holds the handler to the Go server's conformance suite, natively: the staged
// fixture served through a DirStore.
func TestSuite(t *testing.T) {
	for _, iso := range []bool{false, true} {
		base := t.TempDir()
		fx, err := httpsuite.WriteFixture(base)
		if err != nil {
			t.Fatal(err)
		}
		fx.NotIsolated = !iso
		fx.StrictPrecompressed = true
		staged := filepath.Join(base, "staged")
		if _, err := Stage(fx.WebRoot, fx.WeightsDir, staged, 0); err != nil {
			t.Fatal(err)
		}
		store, err := OpenDir(staged)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(New(store, Config{NotIsolated: !iso}))
		t.Run(map[bool]string{false: "plain", true: "isolated"}[iso], func(t *testing.T) { httpsuite.Run(t, srv.URL, fx) })
		srv.Close()
	}
}

// TestJoinSplitHeaders: values split on commas (as github.com/syumai/workers delivers
// them) are joined back, so lists and dates survive.
func TestJoinSplitHeaders(t *testing.T) {
	var got http.Header
	h := JoinSplitHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header["If-None-Match"] = []string{`"a"`, ` "b"`}
	r.Header["If-Modified-Since"] = []string{"Wed", " 21 Oct 2015 07:28:00 GMT"}
	r.Header["Range"] = []string{"bytes=0-1", "4-5"}
	h.ServeHTTP(httptest.NewRecorder(), r)
	for k, want := range map[string]string{"If-None-Match": `"a", "b"`, "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT", "Range": "bytes=0-1, 4-5"} {
		if g := got.Get(k); g != want || len(got[k]) != 1 {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
}

func TestParseIndex(t *testing.T) {
	for _, bad := range []string{`[`, `{"etc/passwd":{}}`, `{"web/../x":{}}`, `{"web/a":{"size":-1}}`, `{"web//a":{}}`} {
		if _, err := ParseIndex([]byte(bad)); err == nil {
			t.Errorf("ParseIndex(%s) accepted", bad)
		}
	}
	idx, err := ParseIndex([]byte(`{"web":{"dir":true},"web/a.js":{"size":3,"etag":"\"x\""}}`))
	if err != nil || len(idx.Names()) != 1 {
		t.Errorf("ParseIndex = %v, %v", idx, err)
	}
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"web":{"dir":true},"web/a.js":{"size":3,"etag":"\"x\"","enc":["br"]}}`))
	f.Add([]byte(`{"weights/x":{"size":1e30}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ParseIndex(b)
		if err != nil {
			return
		}
		for name, e := range idx {
			if e.Size < 0 || strings.Contains(name, "..") && strings.Contains("/"+name+"/", "/../") {
				t.Fatalf("accepted %q %+v", name, e)
			}
		}
	})
}

// TestSameETagsAsServer: the Worker's staged tags and the Go server's hashed tags are the
// same function of the bytes, so a cache filled by one host validates against the other.
func TestSameETagsAsServer(t *testing.T) {
	base := t.TempDir()
	fx, err := httpsuite.WriteFixture(base)
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(base, "staged")
	if _, err := Stage(fx.WebRoot, fx.WeightsDir, staged, 0); err != nil {
		t.Fatal(err)
	}
	store, err := OpenDir(staged)
	if err != nil {
		t.Fatal(err)
	}
	goServer, err := server.New(server.Config{WebRoot: fx.WebRoot, WeightsDir: fx.WeightsDir})
	if err != nil {
		t.Fatal(err)
	}
	worker := New(store, Config{})
	for _, f := range fx.Files {
		// Identity bytes, and each precompressed sibling.
		for _, enc := range append([]string{"identity"}, f.Encodings...) {
			tags := map[string]string{}
			for name, h := range map[string]http.Handler{"server": goServer, "worker": worker} {
				req := httptest.NewRequest("GET", f.URL, nil)
				req.Header.Set("Accept-Encoding", enc)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s GET %s (%s): %d", name, f.URL, enc, rec.Code)
				}
				tags[name] = rec.Header().Get("ETag")
			}
			if tags["server"] == "" || tags["server"] != tags["worker"] {
				t.Errorf("GET %s (%s): server ETag %q, worker ETag %q", f.URL, enc, tags["server"], tags["worker"])
			}
		}
	}
}

// TestStageKeepsTheSitesPromises: what the Go server refuses at each request, staging
// refuses once (uploaded assets never change): a file whose name promises a content hash
// its bytes do not have, and weights that are not what their manifest lists.
func TestStageKeepsTheSitesPromises(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		spoil      func(t *testing.T, fx httpsuite.Files)
	}{
		{"a hashed name, other bytes", "its name promises content hash", func(t *testing.T, fx httpsuite.Files) {
			p := filepath.Join(fx.WebRoot, "app.51c8ba7dda5a.wasm")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[0] ^= 1
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"a manifest of another file", "is not the file the weights manifest lists", func(t *testing.T, fx httpsuite.Files) {
			writeWeights(t, fx.WeightsDir, "net-f32.alxw", []byte("the bytes"), manifest.Entry{Bytes: 9, SHA256: strings.Repeat("ab", 32)})
		}},
		{"a manifest of a missing file", "which is not in the weights folder", func(t *testing.T, fx httpsuite.Files) {
			writeWeights(t, fx.WeightsDir, "", nil, manifest.Entry{File: "gone-f32-bbbbbbbbbbbb.alxw", Bytes: 1, SHA256: strings.Repeat("cd", 32)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			fx, err := httpsuite.WriteFixture(base)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Stage(fx.WebRoot, fx.WeightsDir, filepath.Join(base, "staged"), 0); err != nil {
				t.Fatalf("the fixture itself: %v", err)
			}
			tc.spoil(t, fx)
			_, err = Stage(fx.WebRoot, fx.WeightsDir, filepath.Join(base, "staged"), 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Stage: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// writeWeights writes a weights file (when name is not "") and a manifest listing e (named
// name when e names no file) into dir.
func writeWeights(t *testing.T, dir, name string, b []byte, e manifest.Entry) {
	t.Helper()
	if name != "" {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if e.File == "" {
		e.File = name
	}
	e.Arch, e.Precision, e.Kind = "alexnet", "f32", "fixture"
	j, err := json.Marshal(manifest.Manifest{Weights: []manifest.Entry{e}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest.Name), j, 0o644); err != nil {
		t.Fatal(err)
	}
}
