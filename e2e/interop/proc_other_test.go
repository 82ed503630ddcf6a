//go:build !linux

package interop

import "os/exec"

// dieWithParent: only Linux kills a child with its parent; elsewhere Cleanup stops it.
func dieWithParent(*exec.Cmd) {}
