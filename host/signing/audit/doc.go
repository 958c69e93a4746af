// Package audit is the signature audit log: an append-only file of JSON
// lines, one per signature, each naming the previous line by its SHA-256 so
// that an edited, removed or reordered line is detected ([Verify]).
//
// It sits at the end of the signing path: signing.Audited appends a
// [Record] for every signature and returns the signature only once
// [Log.Append] has reported the record durable. Concurrent appends are
// committed together, one write and one fsync per group, so durability
// costs latency, not throughput.
//
// The package knows nothing of keys or HTTP; it depends on the standard
// library only.
package audit
