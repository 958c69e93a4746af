// Package state keeps the durable key/value state of plugins: one
// namespace per plugin, one transaction per export call.
//
// It sits below the state host functions (host/hostcall/state.go), which
// find the running call's [Txn] in its context ([TxnFrom]), and beside the
// HTTP layer (host/api), which begins the transaction before calling the
// guest and commits it only after the call succeeded and its output was
// validated:
//
//	txn := ns.Begin()
//	defer txn.Rollback() // no-op after Commit
//	res, err := pool.Call(state.WithTxn(ctx, txn), export, in)
//	// … validate res …
//	if err := txn.Commit(ctx); err != nil {
//		// nothing is acknowledged: answer 503 (or 500)
//	}
//
// It knows nothing of WebAssembly or HTTP.
//
// # Transactions
//
// A [Txn] buffers its writes in memory, within the namespace's [Limits].
// Its reads see the committed state, the writes of transactions of the
// same namespace whose export call has ended (they are about to commit:
// see below), and its own writes. [Txn.Commit] applies all writes at once
// and returns only after they reached the disk (fsync); [Txn.Rollback]
// discards them. Nothing of a transaction reaches the committed state
// before it is on disk, and nothing at all after a Rollback.
//
// Conflicts are detected optimistically. Every key a transaction read
// (Get, and Delete, whose answer says whether the key existed) is
// remembered with the version it had; Commit fails with [ErrConflict],
// applying nothing, when one of those keys was changed by another
// transaction that committed first. Writes of keys the transaction did not
// read are blind: of two concurrent transactions writing the same key
// without reading it, the one that commits last wins. Key listings are not
// checked: a key another transaction adds to a listed range does not make
// the listing transaction fail (reading the listed keys does).
//
// A transaction whose export call has ended but which has not committed
// yet is *pending*. Another transaction of the namespace reads what it
// wrote, and then depends on it: its own Commit waits until the pending
// one is queued for commit, and fails with ErrConflict if the pending one
// rolls back or fails. This lets a single-instance plugin run its next
// call while the previous call's writes are still being written to disk,
// without conflicts and without seeing older state. A pending
// transaction's writes are frozen.
//
// # Group commit
//
// Commits are applied by one committer goroutine per [Store]: all commits
// queued while the previous batch was being written form the next batch,
// which is one storage transaction, synced to disk once. A commit that
// fails its checks (conflict, quota) is left out of its batch without
// failing the others. Durability therefore costs each request the latency
// of one or two batches, not the store's capacity.
//
// # Storage
//
// [Backend] is the storage under a Store. The default is a bbolt file
// ([OpenBolt], [Open]): one bucket per namespace, each value prefixed by
// the version (a per-namespace commit sequence number) of the transaction
// that wrote it, and a usage record per namespace (key count, bytes,
// sequence number) updated in the same storage transaction as the keys,
// so that quotas are checked without scanning. Another backend (an SQL
// database shared by replicas) can implement the same interface.
package state
