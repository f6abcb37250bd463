package actors

import (
	"time"

	"github.com/troupe-rpc/troupe/internal/callrt"
)

// BackupPolicy decides a channel's backup requests call by call, after brpc's
// BackupRequestPolicy: [ChannelOptions.BackupPolicy] in place of a fixed
// [ChannelOptions.BackupRequest]. Its methods run on the runtime's goroutines, many calls at once:
// it must be safe for concurrent use, and quick, since Delay and DoBackup run on every call's path.
type BackupPolicy interface {
	// Delay returns how long call cntl waits for its first answer before a backup request goes
	// to another server (brpc's GetBackupRequestMs); 0 or less means no backup request for the
	// call. It is asked once, as the call starts, unless the call's Controller has its own delay
	// ([Controller.SetBackupRequest]), which wins.
	Delay(cntl *Controller) time.Duration
	// DoBackup reports whether call cntl sends its backup request now that its delay passed
	// without an answer (brpc's DoBackup); false lets the call keep waiting for its first
	// attempt. It is asked only when the call still has a retry left for the backup request.
	DoBackup(cntl *Controller) bool
	// OnCallEnd is told of every call of the channel once it finished, successful or not, with
	// its Controller holding the result and the latency (brpc's OnRPCEnd). It must not block.
	OnCallEnd(cntl *Controller)
}

// backupRuntime puts a channel's BackupPolicy into its runtime policy, once per channel; nil
// leaves the channel's fixed delay.
func backupRuntime(rp *callrt.Policy, p BackupPolicy) {
	if p == nil {
		return
	}
	rp.BackupDelay = func(c *callrt.Controller) time.Duration { return p.Delay((*Controller)(c)) }
	rp.DoBackup = func(c *callrt.Controller) bool { return p.DoBackup((*Controller)(c)) }
}
