//go:build !js

package webdriver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Debian's webkit2gtk-driver installs the driver; the browser it starts comes with
// libwebkit2gtk-4.1. MiniBrowser has no headless mode, so it draws on a private Xvfb
// display (Debian's xvfb).
const (
	WebKitDriverPath = "/usr/bin/WebKitWebDriver"
	MiniBrowserPath  = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
	XvfbPath         = "/usr/bin/Xvfb"
)

// webkitPage is WebKitGTK's MiniBrowser driven over W3C WebDriver (HTTP and JSON).
type webkitPage struct {
	base string // http://127.0.0.1:port/session/id
	pid  int    // WebKitWebDriver, which starts MiniBrowser and its web processes
}

func openWebKit(t testing.TB) Page { return WebKit(t) }

// WebKit is Open(t, "webkit") with extra environment for the browser: JavaScriptCore reads
// its options from JSC_ variables, the way to switch an engine feature off for a fallback
// test (JSC_useWasmSIMD=false: no WebAssembly SIMD, as in Safari before 16.4).
func WebKit(t testing.TB, env ...string) Page {
	t.Helper()
	for _, p := range []string{WebKitDriverPath, MiniBrowserPath, XvfbPath} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("WebKitGTK is not installed: %s is missing (apt-get install webkit2gtk-driver xvfb, or scripts/install-test-deps.sh)", p)
		}
	}
	display := startXvfb(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(WebKitDriverPath, "--host=127.0.0.1", "--port="+strconv.Itoa(port))
	// Without compositing, canvases and styled layers appear in screenshots too.
	cmd.Env = append(append(os.Environ(), "DISPLAY="+display, "WEBKIT_DISABLE_COMPOSITING_MODE=1"), env...)
	log := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting WebKitWebDriver: %v", err)
	}
	t.Cleanup(func() { stop(cmd) })
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "MiniBrowser",
		"webkitgtk:browserOptions": map[string]any{
			"binary": MiniBrowserPath, "args": []string{"--automation"},
		},
	}}}
	var session struct {
		SessionID string `json:"sessionId"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err = request("POST", root+"/session", caps, &session)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WebKitWebDriver gave no session in 60 s: %v; driver log: %s", err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p := &webkitPage{base: root + "/session/" + session.SessionID, pid: cmd.Process.Pid}
	t.Cleanup(func() { request("DELETE", p.base, nil, nil) })
	return p
}

// startXvfb starts a private X display for the test and returns its name (":N").
func startXvfb(t testing.TB) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// -displayfd: Xvfb picks a free display and writes its number to fd 3.
	cmd := exec.Command(XvfbPath, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	log := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { stop(cmd) })
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if n == "" {
			t.Fatalf("Xvfb did not start: %s", log)
		}
		return ":" + n
	case <-time.After(30 * time.Second):
		t.Fatalf("Xvfb did not report its display in 30 s: %s", log)
	}
	return ""
}

// request makes one WebDriver call and decodes the answer's value into out.
func request(method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s %s: HTTP %d: %.300s", method, url, resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Message string }
		json.Unmarshal(env.Value, &e)
		return fmt.Errorf("%s: %s", e.Error, e.Message)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Value, out)
}

func (*webkitPage) Engine() string { return "webkit" }

func (p *webkitPage) PID() int { return p.pid }

func (p *webkitPage) Navigate(url string) error {
	return request("POST", p.base+"/url", map[string]any{"url": url}, nil)
}

// Eval runs the expression through Execute Script, which waits for a returned promise.
func (p *webkitPage) Eval(expr string, out any) error {
	var s string
	if err := request("POST", p.base+"/execute/sync", map[string]any{"script": "return " + wrap(expr), "args": []any{}}, &s); err != nil {
		return fmt.Errorf("evaluating %s: %v", short(expr), err)
	}
	return decode(expr, s, out)
}

// elementKey is the W3C name of an element reference in JSON.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

func (p *webkitPage) SetFiles(selector string, paths ...string) error {
	var el map[string]string
	if err := request("POST", p.base+"/element", map[string]any{"using": "css selector", "value": selector}, &el); err != nil {
		return fmt.Errorf("finding %s: %v", selector, err)
	}
	// A file input takes its files as typed text, one path a line.
	return request("POST", p.base+"/element/"+el[elementKey]+"/value", map[string]any{"text": strings.Join(paths, "\n")}, nil)
}

// stop ends a browser or driver process and waits for it.
func stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// tailBuffer keeps the last few KB a process wrote, for failure messages.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = t.b[len(t.b)-8192:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
