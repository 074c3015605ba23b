package cachekey

import (
	"net/url"
	"strings"
	"testing"
)

func TestKeyAndFamily(t *testing.T) {
	base := "http://127.0.0.1:8080/worker.0123456789ab.js"
	k1, err := Key(base, "weights/squeezenet1_1-f32-795ceb4fcd91.alxw", "ABCD")
	if err != nil {
		t.Fatal(err)
	}
	if k1 != "http://127.0.0.1:8080/weights/squeezenet1_1-f32-795ceb4fcd91.alxw?sha256=abcd" {
		t.Errorf("key %s", k1)
	}
	k2, _ := Key(base, "/weights/squeezenet1_1-f32-00aa11bb22cc.alxw#x", "ef01")
	k3, _ := Key(base, "weights/squeezenet1_1-int8-00aa11bb22cc.alxw", "ef01")
	k4, _ := Key(base, "weights/my-own.alxw", "")
	if Family(k1) != Family(k2) {
		t.Errorf("two versions of one file differ in family: %s, %s", Family(k1), Family(k2))
	}
	if Family(k1) == Family(k3) {
		t.Errorf("f32 and int8 share a family: %s", Family(k1))
	}
	if Family(k1) != "http://127.0.0.1:8080/weights/squeezenet1_1-f32.alxw" || Family(k4) != "http://127.0.0.1:8080/weights/my-own.alxw" {
		t.Errorf("families %s, %s", Family(k1), Family(k4))
	}
	if k4 != "http://127.0.0.1:8080/weights/my-own.alxw" {
		t.Errorf("unhashed key %s", k4)
	}
	if _, err := Key(base, "http://[::1", ""); err == nil {
		t.Error("bad URL accepted")
	}
}

func FuzzFamily(f *testing.F) {
	f.Add("http://h/weights/a-0123456789ab.alxw?sha256=x")
	f.Add("::::")
	f.Fuzz(func(t *testing.T, s string) {
		fam := Family(s) // must not panic
		if u, err := url.Parse(s); err == nil && u.RawQuery != "" && strings.Contains(fam, "?"+u.RawQuery) {
			t.Fatalf("family %q keeps the query of %q", fam, s)
		}
	})
}

func TestParts(t *testing.T) {
	key, err := Key("http://127.0.0.1:8080/", "weights/alexnet-f32-795ceb4fcd91.alxw", "abcd")
	if err != nil {
		t.Fatal(err)
	}
	p0, p12 := Part(key, 0), Part(key, 12)
	if p0 == key || p0 == p12 || !strings.Contains(p12, "part=12") {
		t.Fatalf("part keys %q, %q of %q", p0, p12, key)
	}
	for _, p := range []string{p0, p12} {
		if w, ok := Whole(p); !ok || w != key {
			t.Errorf("Whole(%q) = %q, %v; want %q, true", p, w, ok, key)
		}
		if Family(p) != Family(key) {
			t.Errorf("a part's family %q differs from its file's %q", Family(p), Family(key))
		}
	}
	if w, ok := Whole(key); ok || w != key {
		t.Errorf("Whole of a whole file's key = %q, %v; want itself and false", w, ok)
	}
	other, _ := Key("http://127.0.0.1:8080/", "weights/alexnet-f32-00aa11bb22cc.alxw", "ef01")
	if w, _ := Whole(Part(other, 0)); w == key {
		t.Errorf("another version's part belongs to %q", key)
	}
}
