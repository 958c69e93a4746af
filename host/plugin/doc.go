// Package plugin loads, checks and runs guest modules of the native OSO ABI
// (package abi) on wazero.
//
// It sits between the HTTP layer (host/api), which hands it validated input
// in the compact encoding, and the guest: [Engine.Compile] checks a module
// (size, ABI marker, required exports and their signatures, imports limited
// to the "oso" module and a capability-free WASI), instruments it for
// interruption (host/plugin/interrupt) and compiles it, with an on-disk
// compilation cache; [NewPool] keeps a bounded, pre-warmed set of instances
// of one compiled module; [Pool.Call] runs one export on one instance under a
// deadline and returns what the guest handed back through the "oso.output"
// host function.
//
// # Faults
//
// The guest is untrusted. A host function never panics on guest input: a bad
// pointer or length is answered with a negative [abi.Status]. A trap, an
// exit, a deadline or an output over the limit ends the call with an error
// ([*TrapError], [ErrCallTimeout], [*OutputError]); the instance is then
// discarded, never reused, and a replacement is created in the background.
//
// # Limits and closing
//
// A pool bounds the wait for a free instance ([PoolOptions].AcquireTimeout,
// then [ErrBusy]) and can recycle an instance after a number of calls
// ([PoolOptions].MaxCalls). [Pool.Close] refuses new calls with [ErrClosed]
// at once and lets the calls already running finish, bounded by its
// context; host/reload uses it to retire a replaced plugin version.
//
// # Deadlines
//
// Per-call deadlines are enforced without wazero's close-on-context-done
// mode, which costs a goroutine per call and a call out of compiled code at
// every loop iteration. Instead every function entry and loop header of the
// module tests an exported interrupt flag; a per-instance timer sets it when
// the deadline passes (see [DeadlineInterrupt] and docs/bench.md for the
// measured price of each mechanism).
package plugin
