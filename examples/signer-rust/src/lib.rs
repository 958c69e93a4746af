//! signer-rust: the signing backend of examples/signer, written in Rust with
//! guest-sdk/rust. It signs the content of every document the OSO posts with
//! an Ed25519 key the host keeps (the key never enters the plugin), answers
//! the documents with the signature in their metadata, and keeps them in the
//! host's durable state until the OSO collects them with GET documents. Its
//! observable behaviour is that of examples/signer (see its README).
//!
//! Build from the repository root with `make examples-rust`, or with cargo:
//! `cargo build --release --target wasm32-wasi` in this directory. Set
//! SIGNER_KEY_ID=<uuid> at build time to sign with that key only.

use oso::{ComponentStatus, DocumentList, Documents, Error, HostError, KeyType, Reply, SignRequest, StatusError};

/// The key to sign with. When unset, the plugin signs with the first
/// ED25519 key the host lists (ids are sorted, so every instance picks the
/// same one), and generates one when there is none.
const PINNED_KEY: Option<&str> = option_env!("SIGNER_KEY_ID");

/// Signed documents wait in state under this prefix, then the time of the
/// request (16 hex digits of Unix nanoseconds), 16 random hex digits, "/"
/// and the document's place in its request (6 digits): keys sort in the
/// order the documents were signed, and concurrent requests never write the
/// same key. A value is the signed document as a one-document compact
/// DocumentList.
const SIGNED_PREFIX: &str = "signed/";

/// Bounds one to_oso answer (compact encoding); what does not fit waits for
/// the next GET.
const MAX_BATCH_BYTES: usize = 4 << 20;

/// The plugin keeps nothing between calls.
#[derive(Default)]
struct Signer;

fn pinned() -> Option<&'static str> {
    PINNED_KEY.filter(|k| !k.is_empty())
}

/// The key to sign with: the pinned key, else the first ED25519 key,
/// generated if there is none.
fn signing_key() -> Result<String, HostError> {
    if let Some(k) = pinned() {
        return Ok(k.to_string());
    }
    let ids = oso::list_keys(KeyType::Ed25519)?;
    if let Some(id) = ids.into_iter().next() {
        return Ok(id);
    }
    let k = oso::generate_key(KeyType::Ed25519)?;
    oso::log::info(&format!("signer: generated ED25519 key {}", k.id));
    Ok(k.id)
}

/// A signing failure: 503 when the backend is unavailable (the OSO may
/// retry), else a generic 500 (the cause is logged, never sent).
fn failure(what: &str, e: HostError) -> Error {
    if e == HostError::Unavailable {
        oso::log::warn(&format!("signer: {}: {}", what, e));
        return Error::http(503, "signing backend unavailable, retry later");
    }
    Error::internal(format!("signer: {}: {}", what, e))
}

/// A state failure: 503 when too many signed documents wait for collection
/// or the host's storage failed, else a generic 500.
fn state_failure(e: HostError) -> Error {
    match e {
        HostError::Limited => {
            oso::log::warn(&format!("signer: state: {}", e));
            Error::http(503, "too many signed documents waiting for collection, retry later")
        }
        HostError::Unavailable => {
            oso::log::warn(&format!("signer: state: {}", e));
            Error::http(503, "storage unavailable, retry later")
        }
        e => Error::internal(format!("signer: state: {}", e)),
    }
}

/// The key prefix of one request's documents.
fn batch_prefix() -> Result<String, Error> {
    let mut r = [0u8; 8];
    oso::random_bytes(&mut r).map_err(|e| Error::internal(format!("signer: random bytes: {}", e)))?;
    let mut p = format!("{}{:016x}", SIGNED_PREFIX, oso::unix_nanos());
    oso::append_hex(&mut p, &r);
    p.push('/');
    Ok(p)
}

impl oso::Plugin for Signer {
    /// Signs every document with one sign_many call, keeps the signed
    /// documents in state for to_oso, and answers them as a DocumentList
    /// whose metadata is
    ///
    ///   {"key_id": "<id>", "signature": "<lowercase hex>", "algorithm": "ED25519"}
    ///
    /// If any signature or state write fails, the whole request fails.
    fn to_isv(&mut self, input: &Documents<'_>, out: &mut Reply) -> Result<(), Error> {
        let l = out.documents();
        if input.is_empty() {
            return Ok(());
        }
        let id = signing_key().map_err(|e| failure("find the signing key", e))?;
        let reqs: Vec<SignRequest<'_>> =
            input.iter().map(|d| SignRequest { key_id: &id, data: d.content.as_bytes() }).collect();
        let sigs = oso::sign_many(&reqs).map_err(|e| failure("sign the documents", e))?;
        let prefix = batch_prefix()?;
        let mut keep = true;
        let mut meta = String::new();
        for (i, (d, sig)) in input.iter().zip(sigs).enumerate() {
            let sig = sig.map_err(|e| failure("sign a document", e))?;
            meta.clear();
            meta.push_str("{\"key_id\": ");
            oso::append_json_string(&mut meta, &id);
            meta.push_str(", \"signature\": \"");
            oso::append_hex(&mut meta, &sig);
            meta.push_str("\", \"algorithm\": \"ED25519\"}");
            l.push(d.id, d.content, &meta);
            if !keep {
                continue;
            }
            let mut one = DocumentList::new();
            one.push(d.id, d.content, &meta);
            let key = format!("{}{:06}", prefix, i + 1);
            match oso::kv::put(&key, one.bytes()) {
                Ok(()) => {}
                Err(HostError::NotAllowed) => {
                    // The host runs this call without state (outside a
                    // request, as `osohost call` does): answer, keep nothing.
                    oso::log::warn(
                        "signer: no state in this call: the signed documents are answered but not kept for collection",
                    );
                    keep = false;
                }
                Err(e) => return Err(state_failure(e)),
            }
        }
        Ok(())
    }

    /// Hands over the signed documents, oldest first, up to MAX_BATCH_BYTES
    /// per call, and deletes them in the same transaction: they leave the
    /// state only when the host commits this call.
    fn to_oso(&mut self, out: &mut DocumentList) -> Result<(), Error> {
        let (mut n, mut size) = (0usize, 0usize);
        let mut failed: Result<(), HostError> = Ok(());
        let listed = oso::kv::list(SIGNED_PREFIX, |k| {
            let v = match oso::kv::get(k) {
                Ok(Some(v)) => v,
                Ok(None) => return false, // deleted meanwhile: stop here
                Err(e) => {
                    failed = Err(e);
                    return false;
                }
            };
            let docs = match Documents::parse(&v) {
                Ok(d) if d.len() == 1 => d,
                _ => {
                    oso::log::error("signer: malformed signed document");
                    failed = Err(HostError::BadAnswer);
                    return false;
                }
            };
            if n > 0 && size + v.len() - 4 > MAX_BATCH_BYTES {
                return false;
            }
            out.push_document(&docs.as_slice()[0]);
            if let Err(e) = oso::kv::delete(k) {
                failed = Err(e);
                return false;
            }
            n += 1;
            size += v.len() - 4;
            true
        });
        match listed.and(failed) {
            Ok(()) | Err(HostError::NotAllowed) => Ok(()), // no state in this call: nothing to collect
            Err(e) => Err(state_failure(e)),
        }
    }

    /// Answers 200 OK with the number of ED25519 keys, {"keys": N}, or 500
    /// with an error item when the signing backend cannot be reached or the
    /// pinned key is missing.
    fn status(&mut self) -> Result<ComponentStatus, Error> {
        let checked = oso::list_keys(KeyType::Ed25519).and_then(|ids| match pinned() {
            Some(k) => oso::public_key(k).map(|_| ids),
            None => Ok(ids),
        });
        match checked {
            Ok(ids) => {
                let mut o = oso::JsonObject::new();
                o.int("keys", ids.len() as i64);
                Ok(ComponentStatus { extra: o.finish(), ..ComponentStatus::ok() })
            }
            Err(e) => {
                oso::log::error(&format!("signer: status: {}", e));
                let message = match e {
                    HostError::NotFound => "the configured signing key does not exist",
                    HostError::NotAllowed => "signing with ED25519 keys is not allowed by the host",
                    _ => "signing backend unavailable",
                };
                Ok(ComponentStatus {
                    code: 500,
                    status: "Internal Server Error".into(),
                    errors: vec![StatusError { code: "1".into(), message: message.into() }],
                    extra: String::new(),
                })
            }
        }
    }
}

oso::plugin!(Signer, stateless);
