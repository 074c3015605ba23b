//go:build !js

package webdriver

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const testPage = `<!doctype html><meta charset="utf-8"><title>driver test</title>
<input type="file" id="f" style="position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)">
<script>
window.got = null;
document.getElementById('f').addEventListener('change', async e => {
  const f = e.target.files[0];
  window.got = {name: f.name, size: f.size, text: await f.text()};
});
</script>`

// TestDriver checks each engine's Page on a small page: values of every JSON kind come back
// decoded, promises are awaited, exceptions are errors, and a hidden file input takes a
// file and fires its change event.
func TestDriver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(testPage))
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(file, []byte("hello, engines"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, engine := range Engines {
		t.Run(engine, func(t *testing.T) {
			p := Open(t, engine)
			if err := p.Navigate(srv.URL + "/"); err != nil {
				t.Fatal(err)
			}
			if m := TreePSS(p.PID()); m < 10<<20 {
				t.Errorf("the browser's processes take %d bytes (PID %d): not found", m, p.PID())
			}
			type value struct {
				N    float64
				S    string
				A    []int
				Null *int
			}
			v := Must[value](t, p, `new Promise(r => setTimeout(() => r({N: 1.5, S: document.title, A: [1, 2, 3], Null: null}), 10))`)
			if v.N != 1.5 || v.S != "driver test" || len(v.A) != 3 || v.Null != nil {
				t.Errorf("value %+v", v)
			}
			if u := Must[*int](t, p, `undefined`); u != nil {
				t.Errorf("undefined gave %v", *u)
			}
			if err := p.Eval(`(() => { throw new Error('boom') })()`, nil); err == nil {
				t.Error("an exception in the page is not an error")
			}
			if err := p.SetFiles(`#f`, file); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Name, Text string
				Size       int
			}
			Poll(t, p, "the change event", `window.got`, 10*time.Second, &got)
			if got.Name != "hello.txt" || got.Size != 14 || got.Text != "hello, engines" {
				t.Errorf("file input got %+v", got)
			}
		})
	}
}
