// Package interrupt rewrites a WebAssembly module at load time so that the
// host can stop it mid-call, cheaply, in the spirit of wasmtime's epoch
// interruption.
//
// # Where it sits
//
// The plugin runtime (host/plugin) passes every module through [Instrument]
// after checking its integrity and before compiling it with wazero, on a
// runtime built without WithCloseOnContextDone. Instrument also bounds what
// the compiler would allocate for a malformed module, so no untrusted byte
// reaches wazero before it. The pool then arms a timer per call; when the
// call deadline passes, the timer sets the instance's flag, exported as
// [GlobalExport], and the guest traps ("unreachable") at its next yield:
// typically within microseconds, at most about a millisecond.
// A trapped instance is discarded, as after any trap.
//
// # Why not WithCloseOnContextDone
//
// wazero's own mechanism starts a goroutine per call and, at every loop
// header, leaves the compiled code to check the module's state in Go (wazero
// issue #2466): a tight loop runs tens to hundreds of times slower. An
// instrumented module instead updates a tick counter in compiled code at
// every function entry and loop header, and only every few thousand ticks
// leaves the compiled code (through a zero-page memory.grow, which wazero
// serves in Go) and reads the flag. Leaving the compiled code regularly is
// not optional: wazero's compiled code cannot be preempted, so a guest that
// never leaves it would stall the Go runtime's stop-the-world phases, and
// with them every goroutine of the process, including the one meant to set
// the flag. See the benchmarks in bench_test.go for the costs.
//
// # Setting the flag
//
// Set the flag with
//
//	mod.ExportedGlobal(interrupt.GlobalExport).(api.MutableGlobal).Set(1)
//
// from any goroutine, while the guest runs. Calls to Set, Get and anything
// else touching the flag must be serialised by the host (the pool holds a
// mutex around arming, firing and disarming the timer): wazero stores the
// value with plain Go writes, so two concurrent accesses from Go are a data
// race. The guest's reads are not: they are plain loads in compiled code,
// which the Go memory model does not cover and the race detector does not
// see. They observe the store because the compiled code loads the global
// from memory every time (wazero's compiler keeps no global in a register
// across a loop header, a call or a return to Go), an aligned store becomes
// visible to other cores through cache coherence on every platform wazero
// compiles for, and the guest keeps loading it until it does. Nothing else
// rests on that ordering: the host learns the outcome from the call's error
// and from its own timer, never from the guest.
//
// Once set, the flag stays set: every later call traps too. To reuse an
// instance after a timer fired between the end of a call and its disarming
// (the guest never saw the flag), the pool sets it back to 0 under the same
// mutex, while no call runs.
//
// # Limits
//
// The flag stops guest code, not the host: a guest blocked in a host
// function (or in memory.atomic.wait, with the threads feature, whose
// timeout the host does not control) is not interrupted until it returns to
// guest code. Host functions must honour the call's context themselves.
package interrupt
