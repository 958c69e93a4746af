// Package reload serves a plugin module that can be replaced while the
// host runs, without failing a request.
//
// A [Manager] holds the current version of the plugin: a compiled module
// and a pre-warmed pool of its instances (package host/plugin), with the
// module's SHA-256, its load time and a generation number. [Manager.Call]
// runs an export on the current version and holds a reference to it for
// the duration of the call; host/api uses the Manager as its Caller.
//
// [Manager.Reload] reads the module file again, compiles it, builds and
// warms a new pool and runs a check on it ([CheckStatus] by default), all
// off the call path; only then does it publish the new version with one
// atomic swap. Calls that started before the swap finish on the old
// version, whose pool is closed after its last call returned (bounded by
// [Options].DrainTimeout). A reload that fails at any step leaves the old
// version serving and is reported through [Options].OnReload and a
// warning log line. Reloads run one at a time on the Manager's own
// goroutine; requests that arrive while one runs are served together by
// one more reload after it.
//
// A reload is requested by a trigger: the lead's code calls Reload with
// [TriggerSignal] on SIGHUP and [TriggerAdmin] from an administrative
// endpoint, and with [Options].Watch the Manager watches the module's
// directory (so that files replaced by rename and Kubernetes ConfigMap
// symlink swaps are seen) and reloads with [TriggerFile], debounced, when
// the file's content changed. docs/reload.md describes the behaviour for
// operators.
package reload
