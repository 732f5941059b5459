package main

import (
	"fmt"
	"io"
	"os"

	"github.com/hotloop/hotloop/internal/atomicfile"
)

// openInput opens a FILE argument; "" or "-" is standard input.
// A file that cannot be opened is bad input (exit 2).
func openInput(s *streams, name string) (io.ReadCloser, string, error) {
	if name == "" || name == "-" {
		return io.NopCloser(s.in), "<stdin>", nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, name, badInput(err)
	}
	return f, name, nil
}

// writeOutput writes through fn to path atomically (temp file + rename), or to
// stdout when path is "" or "-". An interrupted or failed run never leaves half a file.
func writeOutput(s *streams, path string, fn func(io.Writer) error) error {
	if path == "" || path == "-" {
		return fn(s.out)
	}
	if err := atomicfile.Write(path, fn); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
