//go:build !wasip1

package oso

import "os"

// Outside WebAssembly there is no host: output and errors go to sink (set by
// the package's tests) and log lines to standard error, so that plugin code
// builds, vets and runs in native unit tests.

type hostSink struct {
	kind   int32
	out    []byte
	code   int32
	msg    string
	logs   []string
	status int32 // what hostOutput returns
}

var sink *hostSink

func hostOutput(kind int32, b []byte) int32 {
	if sink == nil {
		return 0
	}
	sink.kind, sink.out = kind, append([]byte(nil), b...)
	return sink.status
}

func hostError(code int32, msg string) int32 {
	if sink != nil {
		sink.code, sink.msg = code, msg
	}
	return 0
}

var levelNames = [...]string{"debug", "info", "warn", "error"}

func hostLog(level int32, msg string) int32 {
	if sink != nil {
		sink.logs = append(sink.logs, msg)
		return 0
	}
	name := "level?"
	if level >= 0 && int(level) < len(levelNames) {
		name = levelNames[level]
	}
	os.Stderr.WriteString("oso " + name + ": " + msg + "\n")
	return 0
}
