// Command sharemem rewrites a Go-built wasm program to import a shared memory (package
// sharedmem) and prints the initial number of pages the page must give it:
//
//	go run ./wasm/sharedmem/sharemem in.wasm out.wasm
package main

import (
	"fmt"
	"os"

	"github.com/alexlens/alexlens/wasm/sharedmem"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sharemem in.wasm out.wasm")
		os.Exit(2)
	}
	in, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, pages, err := sharedmem.Share(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[2], out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(pages)
}
