// Command vuguhelper prints Vugu's DOM renderer helper script, which Vugu normally installs
// with window.eval. The page's Content-Security-Policy forbids eval, so the build ships
// the script as a file (vugu-render.js) loaded before the app; Vugu's own eval then finds
// window.vuguRender already defined and the page replaces eval with a no-op (boot.js). It
// changes one thing: attributes and texts are written only when they change.
//
// Usage: go run ./ui/internal/vuguhelper $(go list -m -f '{{.Dir}}' github.com/vugu/vugu)
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vuguhelper VUGU_MODULE_DIR")
		os.Exit(2)
	}
	script, err := helperScript(filepath.Join(os.Args[1], "domrender", "renderer-js-script.go"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "vuguhelper:", err)
		os.Exit(1)
	}
	script, err = skipRedundantWrites(script)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vuguhelper:", err)
		os.Exit(1)
	}
	fmt.Println(script)
}

// redundantWrites are the renderer's writes of an attribute or a text node, with the same
// writes made only when the value changes. Vugu writes every attribute and text of the page
// on every render; an unchanged write still costs style work, and rewriting a canvas's width
// clears the canvas, so that every canvas had to be drawn again after every render (a live
// webcam's maps render many times a second).
var redundantWrites = [][2]string{
	{`e.setAttribute(t,n),x.elAttrNames[t]=!0`, `e.getAttribute(t)!==n&&e.setAttribute(t,n),x.elAttrNames[t]=!0`},
	{`else x.el.textContent=e;break}case c:`, `else x.el.textContent!==e&&(x.el.textContent=e);break}case c:`},
}

// skipRedundantWrites applies redundantWrites; each must match exactly once, or the Vugu
// version is not the one these were written for.
func skipRedundantWrites(script string) (string, error) {
	for _, r := range redundantWrites {
		if n := strings.Count(script, r[0]); n != 1 {
			return "", fmt.Errorf("the renderer has %q %d times, want once (a Vugu version other than v0.4.0?)", r[0], n)
		}
		script = strings.Replace(script, r[0], r[1], 1)
	}
	return script, nil
}

func helperScript(path string) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if len(v.Names) == 1 && v.Names[0].Name == "jsHelperScript" && len(v.Values) == 1 {
				if lit, ok := v.Values[0].(*ast.BasicLit); ok {
					return strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return "", fmt.Errorf("no jsHelperScript constant in %s (a Vugu version other than v0.4.0?)", path)
}
