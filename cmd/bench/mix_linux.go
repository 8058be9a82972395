package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel stop the gateway if the bench dies
// without stopping it (a panic, a SIGKILL): the bench stops itself and
// everything it started.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
