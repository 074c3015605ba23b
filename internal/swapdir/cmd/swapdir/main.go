// Command swapdir puts the folder NEXT in the place of CURRENT in one step (package
// swapdir); afterwards NEXT holds the old tree. scripts/build-web.sh publishes each build
// with it. Exit status 3 means the system cannot swap atomically (the caller may fall back
// to two renames).
//
//	swapdir NEXT CURRENT
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/alexlens/alexlens/internal/swapdir"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: swapdir NEXT CURRENT")
		os.Exit(2)
	}
	if err := swapdir.Replace(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, swapdir.ErrUnsupported) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}
