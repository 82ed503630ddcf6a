package interop

import (
	"os/exec"
	"syscall"
)

// dieWithParent kills the peer when the test binary dies (a test timeout's panic runs
// no Cleanup), so no JVM outlives a CI job.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
