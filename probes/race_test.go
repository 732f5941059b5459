//go:build race

package probes

func init() { raceEnabled = true }
