//go:build !js

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexlens/alexlens/server/httpsuite"
	"github.com/alexlens/alexlens/worker/handler"
)

// TestWorkerd builds the Worker, stages the server/httpsuite fixture as its static assets,
// runs it locally in workerd (the Workers runtime, installed with wrangler from npm) and
// holds it to the same conformance suite as the Go server.
func TestWorkerd(t *testing.T) {
	root, _ := filepath.Abs("..")
	deps := installDeps(t, root)
	tmp := t.TempDir()
	build := filepath.Join(tmp, "build")
	run(t, root, nil, filepath.Join(root, "scripts", "build-worker.sh"), build)

	fx, err := httpsuite.WriteFixture(filepath.Join(tmp, "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	fx.StrictPrecompressed = true
	fx.UnknownMethods501 = true // workerd's HTTP parser answers BREW itself
	assets := filepath.Join(build, "assets")
	if _, err := handler.Stage(fx.WebRoot, fx.WeightsDir, assets, handler.MaxAssetBytes); err != nil {
		t.Fatal(err)
	}
	url := startWorkerd(t, deps, tmp, build, "test-version")
	httpsuite.Run(t, url, fx)
}

// installDeps runs scripts/install-worker-deps.sh (pinned wrangler and Node 22 from npm)
// and returns its folder; without npm or its registry the test skips, saying why.
func installDeps(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", "install-worker-deps.sh"))
	cmd.Dir = root
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot install wrangler and Node 22 from npm (%v): %s", err, lastLines(errb.String(), 5))
	}
	return strings.TrimSpace(out.String())
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// startWorkerd writes a workerd config for the build (code/ and assets/) and runs the
// workerd binary that wrangler installed on a free loopback port until the test ends; it
// returns the base URL once /healthz answers. workerd is the Workers runtime itself;
// Workers static assets are stood in for by a disk service bound as ASSETS, which answers
// the same fetch(path) calls. (wrangler dev puts a Node proxy in front, which adds
// Accept-Encoding to every request and drops Content-Length: the suite would test the proxy.)
func startWorkerd(t *testing.T, deps, tmp, build, version string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(build, "workerd.capnp")
	capnp := fmt.Sprintf(`using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "assets", disk = (path = %q, writable = false)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:%d", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "code/worker.mjs"),
    (name = "runtime.mjs", esModule = embed "code/runtime.mjs"),
    (name = "wasm_exec.js", esModule = embed "code/wasm_exec.js"),
    (name = "app.wasm", wasm = embed "code/app.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "ASSETS", service = "assets"),
    (name = "ALEXLENS_VERSION", text = %q),
  ],
);
`, filepath.Join(build, "assets"), port, version)
	if err := os.WriteFile(conf, []byte(capnp), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	workerd := filepath.Join(deps, "wrangler", "node_modules", "@cloudflare", "workerd-linux-64", "bin", "workerd")
	cmd := exec.CommandContext(ctx, workerd, "serve", conf, "--verbose")
	cmd.Dir = build
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("workerd output:\n%s", lastLines(logs.String(), 40))
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("workerd exited:\n%s", lastLines(logs.String(), 40))
		default:
		}
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("workerd did not answer /healthz within 60 s:\n%s", lastLines(logs.String(), 40))
	return ""
}
