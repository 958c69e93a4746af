// Package hostcall builds the host functions of the "oso" import module
// that give a guest access to host services: the signing functions of ABI
// v1.1 (abi/SPEC.md §6.5–6.10) over a [signing.Signer], and the credential
// and state functions of ABI v1.2 (§6.11–6.16) over a credentials.Provider
// and the transaction of the running call (host/state).
//
// It sits between the plugin runtime (host/plugin), which adds the
// functions to the import module ([plugin.EngineOptions].HostFunctions) and
// runs them on the goroutine of the export call, and the domain packages
// (host/signing), which know nothing of WebAssembly. Besides host/plugin it
// is the only code that touches guest memory, so the boundary rules live
// here:
//
//   - a function works only during an export call ([plugin.CallContext]);
//     outside one it answers abi.StatusNotAllowed;
//   - every length is compared with its limit before anything is read;
//     every input (ptr, len) pair is bounds-checked and read by one
//     Memory().Read, every output buffer checked against the memory size
//     before the backend is called;
//   - bytes the backend needs are copied out of guest memory before the
//     backend is called: no view of guest memory is held across it;
//   - results are written with one Memory().Write (a credential is encoded
//     in place, to keep no host copy of the token), and only when the call
//     succeeds: a failing call writes nothing;
//   - faults are answered with a negative abi.Status; nothing here panics on
//     guest input or calls back into the guest;
//   - no key material, signed data, signature, token or state value is
//     ever logged. Refusals and
//     backend failures are logged (key id and type at most), at a bounded
//     rate.
//
// Each function also has an Extism form ([plugin.HostFunction].Extism),
// offered to Extism-ABI modules as "oso_<name>" and taking and answering
// JSON instead of guest memory; extism.go states its contract. Every
// function is written as a core that works on decoded arguments (policy,
// limits, backend, logging, statuses) and two thin adapters: the native
// one reads and writes guest memory in the compact encodings, the Extism
// one decodes its request strictly and encodes its response. Both forms
// thus answer a fault with the same status. The Extism form gets its
// bytes from host/plugin, never a view of guest memory, and keeps none of
// them; its response necessarily holds the host's one copy of a token it
// hands over.
package hostcall
