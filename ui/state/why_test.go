package state

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/wasm/protocol"
)

var squeezeInfo = &protocol.ModelInfo{Title: "SqueezeNet 1.1", Layers: []protocol.LayerInfo{
	{Name: "conv1", Channels: 64, Height: 111, Width: 111}, {Name: "fire9", Channels: 512, Height: 13, Width: 13},
	{Name: "conv10", Channels: 1000, Height: 13, Width: 13}, {Name: "avgpool10", Channels: 1000, Height: 1, Width: 1},
}}

func TestWhyClassField(t *testing.T) {
	w := NewWhy()
	for _, c := range []struct {
		text string
		want int
	}{{"tabby", 281}, {"281", 281}, {"282 tiger cat", 282}, {"Tiger cat", 282}, {"top-1", -1}, {"", -1}, {"golden retr", 207}} {
		if err := w.SetClass(c.text); err != nil || w.Class != c.want {
			t.Errorf("SetClass(%q): class %d, %v; want %d", c.text, w.Class, err, c.want)
		}
	}
	for _, bad := range []string{"1000", "-3", "no such animal"} {
		before := w.Class
		if err := w.SetClass(bad); err == nil || w.Class != before {
			t.Errorf("SetClass(%q) accepted (class %d)", bad, w.Class)
		}
	}
}

func TestWhyEditsAndURL(t *testing.T) {
	w := NewWhy()
	for _, bad := range []struct{ op, layer, value, want string }{
		{"off", "fire99", "", `no layer "fire99"`},
		{"scale", "fire9", "abc", "not a number"},
		{"set", "fire9", "NaN", "not a number"},
		{"scale", "fire9", "1e9", "within"},
	} {
		if w.AddEdit(squeezeInfo, bad.op, bad.layer, 3, bad.value) || !strings.Contains(w.EditError, bad.want) {
			t.Errorf("%+v: error %q", bad, w.EditError)
		}
	}
	if w.AddEdit(squeezeInfo, "off", "fire9", 512, "") || !strings.Contains(w.EditError, "0 to 511") {
		t.Errorf("channel 512: %q", w.EditError)
	}
	if !w.AddEdit(squeezeInfo, "off", "fire9", 12, "") || !w.AddEdit(squeezeInfo, "scale", "conv1", 3, "2.5") || !w.AddEdit(squeezeInfo, "set", "fire9", 12, "4") {
		t.Fatalf("good interventions refused: %q", w.EditError)
	}
	if len(w.Edits) != 2 || w.Edits[0].Value != 4 || EditText(w.Edits[1]) != "conv1 unit 3 × 2.5" {
		t.Errorf("edits %+v (a second edit of one unit replaces the first)", w.Edits)
	}
	q := w.URLParams()
	back, note := ParseEditParams(q)
	if note != "" || len(back) != 2 || EditText(back[0]) != EditText(w.Edits[0]) || EditText(back[1]) != EditText(w.Edits[1]) {
		t.Errorf("URL round trip: %v -> %+v (%s)", q.Encode(), back, note)
	}
	// A direction between gallery images, by name, whatever the names hold.
	w.AddDirection("fire9", []string{"a|b>c.jpg", "x=1:é ü.png"}, []string{"100%.jpg"})
	w.Edits[len(w.Edits)-1].Value = -1.5
	q = w.URLParams()
	back, note = ParseEditParams(q)
	if d := back[len(back)-1]; note != "" || len(back) != 3 || d.Op != "add" || d.Layer != "fire9" || d.Value != -1.5 ||
		!slices.Equal(d.FromNames, []string{"a|b>c.jpg", "x=1:é ü.png"}) || !slices.Equal(d.ToNames, []string{"100%.jpg"}) {
		t.Errorf("a direction's URL round trip: %v -> %+v (%s)", q.Encode(), back, note)
	}
	if !strings.HasPrefix(q["add"][0], "fire9:a%7Cb%3Ec.jpg|") {
		t.Errorf("add=%s", q["add"][0])
	}
	for _, bad := range []string{"fire9:a>b=x", "fire9:>b=1", "fire9:a>=1", "fire9:ab=1", ":a>b=1", "fire9:a%zz>b=1", "fire9:a>b=NaN"} {
		if got, note := ParseEditParams(url.Values{"add": {bad}}); len(got) != 0 || !strings.Contains(note, "add="+bad) {
			t.Errorf("add=%s: %+v, note %q", bad, got, note)
		}
	}
	w.RemoveEdit(len(w.Edits) - 1)
	q = w.URLParams()
	q.Add("set", "fire9:x=1")
	if got, note := ParseEditParams(q); len(got) != 2 || !strings.Contains(note, "fire9:x=1") {
		t.Errorf("a bad parameter: %+v, note %q", got, note)
	}
	w.Edits = append(w.Edits, protocol.Edit{Op: "set", Layer: "fc7", Channel: 1})
	if note := w.Prune(squeezeInfo); len(w.Edits) != 2 || !strings.Contains(note, "fc7") {
		t.Errorf("prune: %+v, %q", w.Edits, note)
	}
	w.RemoveEdit(0)
	if len(w.Edits) != 1 || w.Edits[0].Layer != "conv1" {
		t.Errorf("after removing the first: %+v", w.Edits)
	}
	p := ParseParams("?" + url.Values{"set": {"fire9:7=0"}, "scale": {"conv1:1=3"}}.Encode())
	a := NewApp(p)
	if len(a.Why.Edits) != 2 || a.ClassifyRequest().Edits[0].Channel != 7 {
		t.Errorf("interventions from the URL: %+v", a.Why.Edits)
	}
}
