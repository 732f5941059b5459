//go:build gc

#include "textflag.h"

// func getg() unsafe.Pointer
//
// Returns the current g, as runtime.getg does. ABI0 code reaches g through
// TLS on 386.
TEXT ·getg(SB),NOSPLIT,$0-4
	MOVL (TLS), AX
	MOVL AX, ret+0(FP)
	RET
