//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing where the kernel has no parent-death signal;
// the bench still stops every gateway it started on its normal paths.
func setDeathSignal(*exec.Cmd) {}
