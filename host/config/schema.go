package config

// The schema is the tree of every setting's dotted key. The sources place
// values by it; anything outside it is an unknown setting.

type nodeKind uint8

const (
	leafNode    nodeKind = iota // a value
	sectionNode                 // fixed children
	listNode                    // children are entries, one per grouping token
	entryNode                   // children are fields, which are leaves
)

type node struct {
	kind     nodeKind
	children map[string]*node // sectionNode only
	// flagOnly marks a setting that only flags may set.
	flagOnly bool
}

var (
	leaf  = &node{kind: leafNode}
	entry = &node{kind: entryNode}
	list  = &node{kind: listNode}
)

func section(children map[string]*node) *node {
	return &node{kind: sectionNode, children: children}
}

func leaves(names ...string) *node {
	n := section(make(map[string]*node, len(names)))
	for _, name := range names {
		n.children[name] = leaf
	}
	return n
}

// schema is the root. Its sections are the first segments of the
// environment variables that belong to osohost.
var schema = section(map[string]*node{
	"app":     leaves("name", "debug", "root", "entry"),
	"certs":   leaves("ca", "app_crt", "app_key"),
	"logging": leaves("level"),
	"plugin": section(map[string]*node{
		"mode":             leaf,
		"application":      leaf,
		"addons":           list,
		"sha256_allowlist": leaf,
		"signing_keys":     leaf,
	}),
	"auth":     section(map[string]*node{"parsers": list}),
	"nginx":    leaves("timeout"),
	"gunicorn": leaves("workers", "timeout", "logger_class"),
	"server": leaves("listen", "internal_listen", "request_timeout", "body_limit_bytes",
		"read_header_timeout", "read_timeout", "idle_timeout", "shutdown_timeout", "max_header_bytes", "http3", "http3_listen"),
	"pool":   leaves("size", "max_calls", "acquire_timeout"),
	"limits": leaves("memory_mib", "output_bytes", "call_timeout"),
	"mock":   leaves("frontend_endpoint", "backend_endpoint", "max_retries"),
	"signing": leaves("backend", "keystore_path", "kek_file", "allowed_types", "allowed_key_ids",
		"audit_file", "concurrency", "fail_fast"),
	"admin":       leaves("listen", "allow_remote", "reload_token"),
	"reload":      leaves("watch", "debounce", "drain_timeout"),
	"state":       leaves("backend", "path", "max_keys", "max_bytes", "max_value_bytes"),
	"credentials": leaves("provider", "file", "socket", "allowed", "refresh_before", "call_timeout", "connect_timeout", "fail_fast"),
	"route_tokens": leaves("keys", "mode", "carrier", "header", "id", "port", "access_token", "access_header",
		"max_failures", "failure_window", "max_clients"),
	"dev": {kind: leafNode, flagOnly: true},
})

// child returns the node below n for the key segment seg, or nil when seg
// names nothing (which includes anything below a leaf).
func (n *node) child(seg string) *node {
	if seg == "" {
		return nil
	}
	switch n.kind {
	case sectionNode:
		return n.children[seg]
	case listNode:
		return entry
	case entryNode:
		return leaf
	}
	return nil
}
