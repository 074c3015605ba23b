package sharedmem

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A minimal module: one memory of 3 pages exported as "mem", one function import.
var tiny = []byte{
	0, 'a', 's', 'm', 1, 0, 0, 0,
	1, 4, 1, 0x60, 0, 0, // type section: () -> ()
	2, 7, 1, 1, 'm', 1, 'f', 0, 0, // import section: m.f, function type 0
	5, 3, 1, 0, 3, // memory section: one memory, min 3
	7, 7, 1, 3, 'm', 'e', 'm', 2, 0, // export section: "mem" -> memory 0
}

func TestShareRewritesTheMemoryAsASharedImport(t *testing.T) {
	out, pages, err := Share(tiny)
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 {
		t.Errorf("initial pages %d, want 3", pages)
	}
	if bytes.Contains(out, []byte{5, 3, 1, 0, 3}) {
		t.Error("the memory section is still there")
	}
	wantImport := append([]byte{8, 'a', 'l', 'e', 'x', 'l', 'e', 'n', 's', 3, 'm', 'e', 'm', 2, 3, 3}, 0x80, 0x80, 0x04)
	if !bytes.Contains(out, wantImport) {
		t.Errorf("no shared memory import in %x", out)
	}
	if _, _, err := Share(out); err == nil {
		t.Error("rewriting twice succeeded")
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm\x02\x00\x00\x00"), tiny[:20], append(append([]byte{}, tiny[:8]...), 5, 0x7f)} {
		if _, _, err := Share(bad); err == nil {
			t.Errorf("Share(%x) succeeded", bad)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the rewritten module is not instantiated")
	}
	// Node instantiates the rewritten module with a shared memory and sees it exported.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.wasm"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `const fs = require("fs");
const mem = new WebAssembly.Memory({initial: 3, maximum: 65536, shared: true});
const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(process.argv[1])), {m: {f() {}}, alexlens: {mem}});
if (inst.exports.mem !== mem || !(mem.buffer instanceof SharedArrayBuffer)) throw new Error("not the shared memory");
console.log("ok");`
	if out, err := exec.Command(node, "-e", script, filepath.Join(dir, "m.wasm")).CombinedOutput(); err != nil || !bytes.Contains(out, []byte("ok")) {
		t.Fatalf("node: %v\n%s", err, out)
	}
}

func FuzzShare(f *testing.F) {
	f.Add(tiny)
	f.Fuzz(func(t *testing.T, b []byte) {
		Share(b) // must not panic or hang on any input
	})
}
