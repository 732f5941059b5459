package inspect

import "strconv"

// Frame is one function call in a stack: the function's full name as the
// runtime spells it (pkg.(*T).Method) and the file:line being executed.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// String formats the frame as "pkg.Func file.go:12".
func (f Frame) String() string {
	if f.File == "" {
		return f.Function
	}
	return f.Function + " " + f.File + ":" + strconv.Itoa(f.Line)
}
