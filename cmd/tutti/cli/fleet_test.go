package cli

import (
	"os"
	"path/filepath"

	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
)

// Fleet is the demo's fleet, on which the end-to-end tests run.
type Fleet = demo.Fleet

// writeFile writes content to path, creating its directory.
func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}
