//go:build gc

#include "textflag.h"

// func getg() unsafe.Pointer
//
// Returns the current g, as runtime.getg does. ABI0 code reaches g through
// TLS on amd64.
TEXT ·getg(SB),NOSPLIT,$0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET
