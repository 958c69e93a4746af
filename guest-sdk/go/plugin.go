package oso

// Plugin is what a plugin implements. The host calls one method at a time per
// instance; see the package documentation for ownership rules.
type Plugin interface {
	// Status answers GET /api/<mode>/v1alpha1/status. The HTTP status is
	// the returned Status.Code.
	Status() (Status, error)
	// ToOSO answers GET /api/<mode>/v1alpha1/documents: append the
	// documents for the OSO to out. Appending none answers an empty list.
	ToOSO(out *DocumentList) error
	// ToISV serves POST /api/<mode>/v1alpha1/documents: in holds the
	// validated documents the OSO sent; set the answer, any JSON value or
	// a DocumentList, on out. Setting none answers JSON null.
	ToISV(in *Documents, out *Reply) error
}

// Initializer is implemented by plugins that need to prepare each new
// instance. Init runs once per instance, after every package init function
// and before the first call; an error fails the instance (it is logged, and
// the host refuses to serve with it).
type Initializer interface {
	Init() error
}

// Option changes how [Register] declares the plugin to the host.
type Option func(*options)

type options struct {
	stateless bool
}

// Stateless declares that the plugin keeps no state in memory between calls,
// so that the host may run several instances of it at once and replace them
// at any time. Without it the host runs one instance by default.
func Stateless() Option {
	return func(o *options) { o.stateless = true }
}

// Register makes p the plugin served by this module. Call it exactly once,
// from a func init in package main: with -buildmode=c-shared main.main never
// runs. It panics if p is nil or a plugin is already registered; a panic
// during initialisation fails the instance.
func Register(p Plugin, opts ...Option) {
	if p == nil {
		panic("oso: Register called with a nil Plugin")
	}
	if rt.plugin != nil {
		panic("oso: Register called twice")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	rt.plugin = p
	rt.opts = o
}
