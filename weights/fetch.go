//go:build !js

package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// BaseURL is where Fetch downloads the official files from; tests point it at a local server.
var BaseURL = "https://download.pytorch.org/models/"

// Official maps the names Fetch knows to torchvision's file names. The part after the last
// '-' is the start of the file's SHA-256, which Fetch checks.
var Official = map[string]string{
	"alexnet":       "alexnet-owt-7be5be79.pth",
	"squeezenet1_1": "squeezenet1_1-b8a52dc0.pth",
}

// DialTimeout bounds connecting, so that an offline machine fails in seconds, not minutes.
var DialTimeout = 5 * time.Second

// StallTimeout ends a download that receives nothing for this long: a server that stops
// sending mid-file must not hang the command.
var StallTimeout = 60 * time.Second

// Fetch downloads the official weights called name (alexnet or squeezenet1_1) into dir,
// checks their SHA-256 against the prefix in the file name, and converts them to .alxw files
// in f32 and int8 beside them (then rewrites dir/manifest.json). A matching file already in
// dir is used without downloading. Progress (bytes, percent, rate) goes to progress if it is
// not nil. It returns the path of the f32 .alxw file. A failed download leaves nothing behind.
func Fetch(ctx context.Context, name, dir string, progress io.Writer) (string, error) {
	file, ok := Official[name]
	if !ok {
		return "", fmt.Errorf("fetch: no official weights called %q (known: %v)", name, officialNames())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("fetch: %w", err)
	}
	dest := filepath.Join(dir, file)
	prefix := hashPrefix(file)
	if sum, err := fileSHA256(dest); err == nil && strings.HasPrefix(sum, prefix) {
		if progress != nil {
			fmt.Fprintf(progress, "using %s already in %s (SHA-256 checked)\n", file, dir)
		}
	} else if err := download(ctx, BaseURL+file, dest, prefix, progress); err != nil {
		return "", err
	}
	paths, err := ConvertFile(dest, dir, name, fmt.Sprintf("torchvision %s (%s%s)", name, BaseURL, file))
	if err != nil {
		return "", err
	}
	return paths[0], nil
}

// download streams url to a temporary file beside dest while hashing it, and renames it to
// dest only when the length and the hash prefix check out.
func download(ctx context.Context, url, dest, prefix string, progress io.Writer) error {
	file := filepath.Base(dest)
	client := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: DialTimeout}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}}
	// The request runs under its own context so that the stall timer can end it; each
	// received chunk pushes the timer back.
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errStalled := fmt.Errorf("no data received for %v", StallTimeout)
	stall := time.AfterFunc(StallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if context.Cause(reqCtx) == errStalled {
			return fmt.Errorf("fetch: %s: %v\n%s", url, errStalled, manualHint(file, dest))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("fetch %s: cancelled: %w", file, ctx.Err())
		}
		return fmt.Errorf("fetch: cannot download %s: %v\n%s", url, err, manualHint(file, dest))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch: %s answered %s\n%s", url, resp.Status, manualHint(file, dest))
	}

	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+file+"-*.part")
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	sum := sha256.New()
	bar := &progressBar{out: progress, name: file, total: resp.ContentLength, start: time.Now(), onData: func() { stall.Reset(StallTimeout) }}
	n, err := io.Copy(io.MultiWriter(tmp, sum, bar), resp.Body)
	bar.finish(err == nil)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fetch %s: cancelled after %d bytes; nothing was kept: %w", file, n, ctx.Err())
		}
		if context.Cause(reqCtx) == errStalled {
			err = errStalled
		}
		return fmt.Errorf("fetch %s: download broke off after %d of %d bytes (%v); nothing was kept", file, n, resp.ContentLength, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("fetch %s: download truncated: %d of %d bytes; nothing was kept", file, n, resp.ContentLength)
	}
	got := hex.EncodeToString(sum.Sum(nil))
	if !strings.HasPrefix(got, prefix) {
		return fmt.Errorf("fetch %s: SHA-256 of the download is %s, which does not start with %s as the file name says: corrupt or wrong file; nothing was kept", file, got, prefix)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

func manualHint(file, dest string) string {
	return fmt.Sprintf("If this machine is offline, download %s%s elsewhere and put it at %s;\n"+
		"then run the fetch again (a file already there is used when its SHA-256 matches),\n"+
		"or convert it with `alexlens weights convert --dir %s %s`.", BaseURL, file, dest, filepath.Dir(dest), dest)
}

// hashPrefix is the SHA-256 prefix in a torchvision file name: alexnet-owt-7be5be79.pth -> 7be5be79.
func hashPrefix(file string) string {
	base := strings.TrimSuffix(file, filepath.Ext(file))
	return base[strings.LastIndexByte(base, '-')+1:]
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

func officialNames() []string {
	var names []string
	for k := range Official {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// progressBar draws "name [=====>    ]  45.2%  105.3/233.1 MB  12.3 MB/s" on one line,
// redrawn at most every 200 ms, as an io.Writer fed with the downloaded bytes.
type progressBar struct {
	out   io.Writer
	name  string
	total int64 // -1 when unknown
	done  int64
	start time.Time
	drawn time.Time
	// onData is called for every chunk received.
	onData func()
}

func (p *progressBar) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.onData != nil {
		p.onData()
	}
	if p.out != nil && time.Since(p.drawn) >= 200*time.Millisecond {
		p.draw()
	}
	return len(b), nil
}

func (p *progressBar) draw() {
	p.drawn = time.Now()
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-3)
	if p.total <= 0 {
		fmt.Fprintf(p.out, "\r%s  %s  %s/s", p.name, megabytes(p.done), megabytes(int64(rate)))
		return
	}
	const width = 30
	frac := float64(p.done) / float64(p.total)
	fill := min(int(frac*width), width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	fmt.Fprintf(p.out, "\r%s [%s] %5.1f%%  %s/%s  %s/s", p.name, bar, 100*frac, megabytes(p.done), megabytes(p.total), megabytes(int64(rate)))
}

func (p *progressBar) finish(ok bool) {
	if p.out == nil {
		return
	}
	p.draw()
	if ok {
		fmt.Fprintln(p.out)
	} else {
		fmt.Fprintln(p.out, "  failed")
	}
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
