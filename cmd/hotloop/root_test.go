package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs hotloop in-process and returns exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runContext(context.Background(), args, &streams{in: strings.NewReader(stdin), out: &out, errOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"version", []string{"version"}, exitOK, ""},
		{"unknown command", []string{"frobnicate"}, exitBadUse, `hotloop: unknown command "frobnicate"`},
		{"unknown flag", []string{"version", "--nope"}, exitBadUse, "hotloop: unknown flag: --nope"},
		{"extra argument", []string{"version", "x"}, exitBadUse, "hotloop: accepts 0 arg(s), received 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.wantErr != "" {
				if !strings.HasPrefix(stderr, tt.wantErr) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("stderr = %q, want one line starting %q", stderr, tt.wantErr)
				}
			} else if stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "hotloop ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}
