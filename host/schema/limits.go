package schema

// Default bounds, the values of [DefaultLimits].
const (
	// DefaultMaxBodyBytes is 1 MiB, the request body limit of the framework
	// osohost replaces (NGINX's default client_max_body_size).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxDocuments bounds the documents of one list.
	DefaultMaxDocuments = 100_000
	// DefaultMaxIDBytes bounds one decoded document id.
	DefaultMaxIDBytes = 64 << 10
	// DefaultMaxContentBytes bounds one decoded document content, and each
	// string of a ComponentStatus.
	DefaultMaxContentBytes = 1 << 20
	// DefaultMaxMetadataBytes bounds one metadata string after
	// normalisation. Normalising a JSON object can make it up to about 4.5
	// times longer than its input (1e15 becomes 1000000000000000.0, é
	// becomes \u00e9), so the default accepts every metadata object that
	// fits in a default-sized body.
	DefaultMaxMetadataBytes = 4 << 20
	// DefaultMaxDepth bounds the nesting of arrays and objects.
	DefaultMaxDepth = 64
)

// Limits bounds the work and memory that decoding one input may cost. Every
// field is a maximum; a zero or negative field means the corresponding
// default, so the zero Limits equals [DefaultLimits]. Limits is a plain
// value: copy it freely.
type Limits struct {
	// MaxBodyBytes bounds the length of the whole input (JSON text or
	// compact encoding). Callers decoding guest output usually raise it to
	// the plugin output bound. Exceeding it yields a [*LimitError] with an
	// empty Field.
	MaxBodyBytes int
	// MaxDocuments bounds the number of documents in one list.
	MaxDocuments int
	// MaxIDBytes bounds a document id, in bytes of UTF-8 after decoding
	// JSON escapes.
	MaxIDBytes int
	// MaxContentBytes bounds a document content, and the status, code and
	// message strings of a ComponentStatus, in bytes after decoding.
	MaxContentBytes int
	// MaxMetadataBytes bounds a document metadata string, in bytes; for a
	// metadata object, the length of its normalised text.
	MaxMetadataBytes int
	// MaxDepth bounds how many arrays and objects may be open at once,
	// counted from the outermost value (a DocumentList's metadata object
	// sits at depth 4). The framework's JSON parser stops at about 200.
	MaxDepth int
}

// DefaultLimits holds the default bounds. It is read-only: to change a
// bound, copy it and set the field in the copy.
var DefaultLimits = Limits{
	MaxBodyBytes:     DefaultMaxBodyBytes,
	MaxDocuments:     DefaultMaxDocuments,
	MaxIDBytes:       DefaultMaxIDBytes,
	MaxContentBytes:  DefaultMaxContentBytes,
	MaxMetadataBytes: DefaultMaxMetadataBytes,
	MaxDepth:         DefaultMaxDepth,
}

// withDefaults returns l with every unset field replaced by its default.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	def(&l.MaxDocuments, DefaultMaxDocuments)
	def(&l.MaxIDBytes, DefaultMaxIDBytes)
	def(&l.MaxContentBytes, DefaultMaxContentBytes)
	def(&l.MaxMetadataBytes, DefaultMaxMetadataBytes)
	def(&l.MaxDepth, DefaultMaxDepth)
	return l
}
