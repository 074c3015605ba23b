// Package workerdtest runs the AlexLens Worker locally in workerd, the Workers runtime,
// for tests: it installs the pinned npm packages (scripts/install-cloudflare-deps.sh), builds
// the Worker (scripts/build-cloudflare.sh) and serves a staged assets folder.
package workerdtest

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
)

// Build builds the Worker into build/code.
func Build(t testing.TB, root, build string) {
	t.Helper()
	Run(t, root, nil, filepath.Join(root, "scripts", "build-cloudflare.sh"), build)
}

// InstallDeps runs scripts/install-cloudflare-deps.sh (pinned wrangler and Node 22 from npm)
// and returns its folder; without npm or its registry the test skips, saying why.
func InstallDeps(t testing.TB, root string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", "install-cloudflare-deps.sh"))
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

func Run(t testing.TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// Start writes a workerd config for the build (code/ and assets/) and runs the
// workerd binary that wrangler installed on a free loopback port until the test ends; it
// returns the base URL once /healthz answers. workerd is the Workers runtime itself;
// Workers static assets are stood in for by a disk service bound as ASSETS, which answers
// the same fetch(path) calls. (wrangler dev puts a Node proxy in front, which adds
// Accept-Encoding to every request and drops Content-Length: the suite would test the proxy.)
func Start(t testing.TB, deps, build, version string) string {
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
