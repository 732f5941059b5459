//go:build !linux

package inspect

// threadCPU is not measured off linux.
func threadCPU() int64 { return -1 }

// processCPU is not measured off linux.
func processCPU() int64 { return -1 }
