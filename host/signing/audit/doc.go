// Package audit is the signature audit log: an append-only file of JSON
// lines, one per signature, each naming the previous line by its SHA-256 so
// that an edited, removed or reordered line is detected ([Verify]).
//
// It sits at the end of the signing path, and keeps this guarantee with
// package signing: a signature reaches the client (a response) or the
// state only after its audit record is durable; a signature made in a call
// that fails is recorded too, without waiting.
//
// signing.Audited makes a [Record] for every signature. Outside a request
// it returns the signature only once [Log.Append] has reported the record
// durable. In a request, the records of the whole guest call are collected
// (signing.AuditBatch) and appended with [Log.Append] when the request
// commits, before its state is committed and its response written; the
// records of a call that failed are handed over with [Log.Enqueue], which
// does not wait, holds at most [MaxEnqueuedRecords], and whose records
// [Log.Close] commits before it returns. Concurrent appends are committed
// together, one write and one fsync per group, so durability costs
// latency, not throughput.
//
// The package knows nothing of keys or HTTP; it depends on the standard
// library only.
package audit
