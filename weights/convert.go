package weights

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/alexlens/alexlens/engine"
)

// ConvertFile loads a weight file of any kind (see Load) and writes it to dir as content-hashed
// .alxw files, f32 first then int8, and rewrites dir/manifest.json. source describes where the
// weights came from; "" gives the file's name and SHA-256.
func ConvertFile(src, dir, arch, source string) ([]string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	m, err := LoadBytes(data, arch)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", src, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if source == "" {
		source = fmt.Sprintf("converted from %s (sha256 %s)", filepath.Base(src), FileHash(data))
	}
	var paths []string
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		mp := m.WithPrecision(p)
		mp.Partial = m.Partial // WithPrecision keeps the parameters, not the partial mark
		path, err := WriteModel(dir, mp, source)
		if err != nil {
			return nil, fmt.Errorf("convert %s: %w", src, err)
		}
		paths = append(paths, path)
	}
	if err := WriteManifest(dir); err != nil {
		return nil, err
	}
	return paths, nil
}
