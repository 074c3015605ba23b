// Package server is AlexLens's HTTP server: it serves the built web app and the weight
// files from two directories, with the caching, range, compression and security
// behaviour a WebAssembly app loading hundreds of megabytes of weights needs.
//
// The HTTP behaviour is checked by the reusable suite in server/httpsuite, so another
// host of the same site (a Cloudflare Worker) can be held to the same rules.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

// DefaultCSP is the Content-Security-Policy for the Go wasm app: everything from this
// origin, wasm compilation allowed ('wasm-unsafe-eval', not 'unsafe-eval'), workers and
// images from blob: URLs (per-layer activation pictures, worker bootstrap), webcam
// streams, and inline styles (Vugu writes style attributes).
const DefaultCSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; " +
	"worker-src 'self' blob:; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; " +
	"connect-src 'self'; style-src 'self' 'unsafe-inline'; base-uri 'self'; object-src 'none'"

// PermissionsPolicy lets the page itself use the camera (webcam classification) and
// switches off powerful features the app never uses.
const PermissionsPolicy = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"

// Config describes what to serve and how.
type Config struct {
	// Addr is the TCP address Run listens on; default "127.0.0.1:8080". Port 0 picks a
	// free port (Run prints the URL it got).
	Addr string
	// WebRoot is the directory of the built web app; index.html is served at "/".
	WebRoot string
	// WeightsDir is the directory served under /weights/. Empty: /weights/ is 404.
	WeightsDir string
	// NotIsolated leaves out Cross-Origin-Embedder-Policy and Cross-Origin-Resource-Policy
	// (SecurityHeaders): the app's page is then not cross-origin isolated, and its engine
	// runs on one thread. By default it is isolated, and the engine uses kernel workers.
	NotIsolated bool
	// ContentSecurityPolicy replaces DefaultCSP when not empty.
	ContentSecurityPolicy string
	// Version is reported by /healthz; empty: the module version from the build info.
	Version string
	// WriteStallTimeout bounds how long a response may go without progress: a client that
	// stops reading is dropped after it, while a slow but moving download of a large
	// weight file may take as long as it needs. Under Run on Linux progress is bytes the
	// client acknowledged; elsewhere, each write. Default 60s.
	WriteStallTimeout time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send its request headers
	// (slow-loris defence). Default 10s.
	ReadHeaderTimeout time.Duration
	// ShutdownTimeout is how long Run waits for in-flight responses after its context is
	// cancelled before closing their connections. Default 30s.
	ShutdownTimeout time.Duration
	// MaxDownloads bounds the responses of large files (over 1 MiB: weights, the engine)
	// sent at once; beyond it a request gets 503 with Retry-After. Default 64.
	MaxDownloads int
	// MaxConnections bounds Run's open connections; a connection beyond it is answered
	// 503 with Retry-After and closed. Default 1024.
	MaxConnections int
	// Log receives the server's own account of what it refused and why (a file that does
	// not match the hash in its name); nil: the standard logger. Run sets its writer.
	Log *log.Logger
}

const (
	defaultMaxDownloads   = 64
	defaultMaxConnections = 1024
	// largeFile is the size from which a response counts against MaxDownloads.
	largeFile = 1 << 20
	// retryAfter is what a client over a limit is told to wait, in seconds.
	retryAfter = "5"
)

const (
	defaultAddr         = "127.0.0.1:8080"
	defaultStallTimeout = 60 * time.Second
	defaultShutdown     = 30 * time.Second
	readHeaderTimeout   = 10 * time.Second
	readTimeout         = 30 * time.Second
	idleTimeout         = 120 * time.Second
	maxHeaderBytes      = 64 << 10
)

// handler is the http.Handler built by New.
type handler struct {
	cfg     Config
	csp     string
	version string
	etags   etagCache
	log     *log.Logger
	// downloads holds a token for each large response being sent (MaxDownloads).
	downloads chan struct{}
}

func (h *handler) logf(format string, args ...any) { h.log.Printf(format, args...) }

// New checks cfg and returns the handler serving it. The directories are opened per
// request, so rebuilding the web app (even replacing the directory) needs no restart.
func New(cfg Config) (http.Handler, error) {
	if cfg.WebRoot == "" {
		return nil, errors.New("server: Config.WebRoot is empty")
	}
	if err := checkDir("web root", cfg.WebRoot); err != nil {
		return nil, err
	}
	if cfg.WeightsDir != "" {
		if err := checkDir("weights dir", cfg.WeightsDir); err != nil {
			return nil, err
		}
	}
	if cfg.WriteStallTimeout < 0 || cfg.ShutdownTimeout < 0 || cfg.ReadHeaderTimeout < 0 {
		return nil, errors.New("server: negative timeout in Config")
	}
	if cfg.MaxDownloads < 0 || cfg.MaxConnections < 0 {
		return nil, errors.New("server: negative limit in Config")
	}
	if cfg.MaxDownloads == 0 {
		cfg.MaxDownloads = defaultMaxDownloads
	}
	if cfg.WriteStallTimeout == 0 {
		cfg.WriteStallTimeout = defaultStallTimeout
	}
	h := &handler{cfg: cfg, csp: cfg.ContentSecurityPolicy, version: cfg.Version, log: cfg.Log,
		downloads: make(chan struct{}, cfg.MaxDownloads)}
	if h.log == nil {
		h.log = log.Default()
	}
	if h.csp == "" {
		h.csp = DefaultCSP
	}
	if strings.ContainsAny(h.csp, "\r\n") {
		return nil, errors.New("server: Config.ContentSecurityPolicy contains a line break")
	}
	if h.version == "" {
		h.version = buildVersion()
	}
	return h, nil
}

func checkDir(what, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("server: %s: %w", what, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("server: %s %s is not a directory", what, dir)
	}
	return nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SetSecurityHeaders(w.Header(), h.csp, !h.cfg.NotIsolated)
	// A write deadline for every response, even the small ones Go's server flushes after
	// the handler returns: deadlines set for an earlier, large response on the same
	// keep-alive connection would otherwise still be in force.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.cfg.WriteStallTimeout))

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		Error(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	segs, status := SplitRequestPath(r)
	if status != 0 {
		Error(w, status, http.StatusText(status))
		return
	}
	switch {
	case len(segs) == 1 && segs[0] == "healthz":
		ServeHealth(w, r, h.version)
	case len(segs) >= 1 && segs[0] == "weights":
		if h.cfg.WeightsDir == "" || len(segs) == 1 {
			Error(w, http.StatusNotFound, "not found")
			return
		}
		h.serveFrom(w, r, h.cfg.WeightsDir, segs[1:], false)
	default:
		h.serveFrom(w, r, h.cfg.WebRoot, segs, true)
	}
}

// Run serves cfg on cfg.Addr until ctx is cancelled, then shuts down gracefully:
// it stops accepting, lets in-flight responses finish for up to cfg.ShutdownTimeout,
// then closes what is left. It prints the URL it serves on to logw.
func Run(ctx context.Context, cfg Config, logw io.Writer) error {
	if logw == nil {
		logw = io.Discard
	}
	errLog := log.New(logw, "alexlens serve: ", 0)
	if cfg.Log == nil {
		cfg.Log = errLog
	}
	h, err := New(cfg)
	if err != nil {
		return err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = defaultAddr
	}
	grace := cfg.ShutdownTimeout
	if grace == 0 {
		grace = defaultShutdown
	}
	headerTimeout := cfg.ReadHeaderTimeout
	if headerTimeout == 0 {
		headerTimeout = readHeaderTimeout
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	maxConns := cfg.MaxConnections
	if maxConns == 0 {
		maxConns = defaultMaxConnections
	}
	ln = limitConnections(ln, maxConns)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       max(readTimeout, headerTimeout),
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
		ConnContext:       WithConn,
	}
	fmt.Fprintf(logw, "AlexLens serving %s on %s\n", cfg.WebRoot, listenURL(ln.Addr()))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(logw, "AlexLens server shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(logw, "AlexLens server: closing connections still busy after %v\n", grace)
		srv.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// WithConn is an http.Server ConnContext that lets the handler watch a large response's
// progress on its connection (bytes the client acknowledged) instead of per-write
// deadlines. Run sets it; a server of one's own may too.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*countedConn); ok {
		c = cc.Conn
	}
	return context.WithValue(ctx, connKey{}, c)
}

// listenURL is the URL to print for a listening address; an unspecified host (":8080",
// "0.0.0.0") is shown as 127.0.0.1 so the line can be clicked.
func listenURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
