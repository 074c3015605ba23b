//go:build !js

package webdriver

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// FirefoxPath is the Firefox ESR binary Debian's firefox-esr installs.
const FirefoxPath = "/usr/bin/firefox-esr"

// firefoxPrefs keep a test profile quiet and predictable. The remote agent already applies
// its recommended automation preferences (remote.prefs.recommended); these add what a
// test of this app needs: a fake camera without a prompt, and nothing that phones home.
const firefoxPrefs = `
user_pref("media.navigator.streams.fake", true);
user_pref("media.navigator.permission.disabled", true);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.update.disabledForTesting", true);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
`

// firefoxPage is Firefox ESR driven over WebDriver BiDi, the protocol it speaks itself: a
// WebSocket of JSON commands and answers matched by id.
type firefoxPage struct {
	pid     int
	ws      *websocket.Conn
	context string // the browsing context (tab)
	mu      sync.Mutex
	nextID  int
}

func openFirefox(t testing.TB) Page { return Firefox(t, nil) }

// Firefox is Open(t, "firefox") with extra preferences in the profile: the way to switch a
// browser feature off for a fallback test (javascript.options.wasm_simd,
// javascript.options.shared_memory, dom.caches.enabled, dom.indexedDB.enabled,
// permissions.default.camera...).
func Firefox(t testing.TB, prefs map[string]any) Page {
	t.Helper()
	if _, err := os.Stat(FirefoxPath); err != nil {
		t.Skip("Firefox ESR is not installed (apt-get install firefox-esr, or scripts/install-test-deps.sh)")
	}
	profile := t.TempDir()
	userJS := firefoxPrefs
	for k, v := range prefs {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("Firefox preference %s: %v", k, err)
		}
		userJS += fmt.Sprintf("user_pref(%s, %s);\n", kb, vb)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(userJS), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(FirefoxPath, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port=0",
		// x/net/websocket always sends an Origin header; the remote agent refuses any origin not allowed.
		"--remote-allow-origins=http://127.0.0.1", "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	log := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Firefox: %v", err)
	}
	t.Cleanup(func() { stop(cmd) })
	// Firefox writes the port it chose into the profile once the BiDi server listens.
	var port int
	deadline := time.Now().Add(60 * time.Second)
	for port == 0 {
		if b, err := os.ReadFile(filepath.Join(profile, "WebDriverBiDiServer.json")); err == nil {
			var s struct {
				Port int `json:"ws_port"`
			}
			if json.Unmarshal(b, &s) == nil {
				port = s.Port
			}
		}
		if port == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("Firefox did not start its WebDriver BiDi server in 60 s: %s", log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	url := fmt.Sprintf("ws://127.0.0.1:%d/session", port)
	ws, err := websocket.Dial(url, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("connecting to Firefox's BiDi server %s: %v", url, err)
	}
	ws.MaxPayloadBytes = 64 << 20
	t.Cleanup(func() { ws.Close() })
	p := &firefoxPage{ws: ws, pid: cmd.Process.Pid}
	if _, err := p.call("session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		t.Fatalf("Firefox session: %v", err)
	}
	raw, err := p.call("browsingContext.getTree", map[string]any{"maxDepth": 0})
	if err != nil {
		t.Fatalf("Firefox tabs: %v", err)
	}
	var tree struct {
		Contexts []struct{ Context string } `json:"contexts"`
	}
	if err := json.Unmarshal(raw, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("Firefox tabs: %s (%v)", raw, err)
	}
	p.context = tree.Contexts[0].Context
	return p
}

// call sends one command and waits for its answer; events (none are subscribed) and
// answers to other ids are skipped.
func (p *firefoxPage) call(method string, params any) (json.RawMessage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	id := p.nextID
	if err := websocket.JSON.Send(p.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, fmt.Errorf("%s: %v", method, err)
	}
	for {
		var m struct {
			ID      int             `json:"id"`
			Type    string          `json:"type"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := websocket.JSON.Receive(p.ws, &m); err != nil {
			return nil, fmt.Errorf("%s: %v", method, err)
		}
		if m.ID != id {
			continue
		}
		if m.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, m.Error, m.Message)
		}
		return m.Result, nil
	}
}

func (*firefoxPage) Engine() string { return "firefox" }

func (p *firefoxPage) PID() int { return p.pid }

func (p *firefoxPage) Navigate(url string) error {
	_, err := p.call("browsingContext.navigate", map[string]any{"context": p.context, "url": url, "wait": "complete"})
	return err
}

// evaluate runs script.evaluate and returns the remote value, or the page's exception.
func (p *firefoxPage) evaluate(expr string, await bool, ownership string) (json.RawMessage, error) {
	raw, err := p.call("script.evaluate", map[string]any{
		"expression": expr, "target": map[string]any{"context": p.context},
		"awaitPromise": await, "resultOwnership": ownership,
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Type      string          `json:"type"`
		Result    json.RawMessage `json:"result"`
		Exception struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	if r.Type == "exception" {
		return nil, fmt.Errorf("evaluating %s: %s", short(expr), r.Exception.Text)
	}
	return r.Result, nil
}

func (p *firefoxPage) Eval(expr string, out any) error {
	raw, err := p.evaluate(wrap(expr), true, "none")
	if err != nil {
		return err
	}
	var v struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Type != "string" {
		return fmt.Errorf("evaluating %s: unexpected value %s", short(expr), raw)
	}
	return decode(expr, v.Value, out)
}

func (p *firefoxPage) SetFiles(selector string, paths ...string) error {
	sel, _ := json.Marshal(selector)
	raw, err := p.evaluate("document.querySelector("+string(sel)+")", false, "root")
	if err != nil {
		return err
	}
	var node struct {
		Type     string `json:"type"`
		SharedID string `json:"sharedId"`
	}
	if err := json.Unmarshal(raw, &node); err != nil || node.Type != "node" {
		return fmt.Errorf("no element matches %s (%s)", selector, raw)
	}
	_, err = p.call("input.setFiles", map[string]any{"context": p.context, "element": map[string]any{"sharedId": node.SharedID}, "files": paths})
	return err
}
