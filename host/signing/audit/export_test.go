package audit

import "os"

// WithSyncHook returns o with f called in place of fsync.
func WithSyncHook(o Options, f func(*os.File) error) Options {
	o.syncHook = f
	return o
}

// MaxTornBytes exposes the repair bound to tests.
const MaxTornBytes = maxTornBytes
