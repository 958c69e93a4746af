package oso

import (
	"fmt"

	"github.com/osohost/osohost/abi"
)

// Logger writes log lines through the host, which adds the plugin name and
// generation, bounds their size ([abi.MaxLogLineBytes], longer lines are
// cut) and rate (lines over the limit are dropped). Never log secrets. The
// zero value is ready to use; use [Log].
type Logger struct{}

// Log is the plugin's logger.
var Log Logger

// Debug writes msg at debug level.
func (Logger) Debug(msg string) {
	writeLog(abi.LogDebug, msg)
}

// Info writes msg at info level.
func (Logger) Info(msg string) {
	writeLog(abi.LogInfo, msg)
}

// Warn writes msg at warning level.
func (Logger) Warn(msg string) {
	writeLog(abi.LogWarn, msg)
}

// Error writes msg at error level.
func (Logger) Error(msg string) {
	writeLog(abi.LogError, msg)
}

// Debugf formats as fmt.Sprintf and writes at debug level.
func (Logger) Debugf(format string, args ...any) {
	writeLog(abi.LogDebug, fmt.Sprintf(format, args...))
}

// Infof formats as fmt.Sprintf and writes at info level.
func (Logger) Infof(format string, args ...any) {
	writeLog(abi.LogInfo, fmt.Sprintf(format, args...))
}

// Warnf formats as fmt.Sprintf and writes at warning level.
func (Logger) Warnf(format string, args ...any) {
	writeLog(abi.LogWarn, fmt.Sprintf(format, args...))
}

// Errorf formats as fmt.Sprintf and writes at error level.
func (Logger) Errorf(format string, args ...any) {
	writeLog(abi.LogError, fmt.Sprintf(format, args...))
}

func writeLog(level abi.LogLevel, msg string) {
	hostLog(int32(level), cutUTF8(msg, abi.MaxLogLineBytes))
}
