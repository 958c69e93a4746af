package keystore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/osohost/osohost/host/signing"
)

// MaxFileBytes bounds what Put writes and Get reads, per file.
const MaxFileBytes = 64 << 10

// types lists the key types a keystore holds, in the order Get looks.
var types = [...]signing.KeyType{signing.Secp256k1, signing.Ed25519}

// Types returns the key types a keystore holds (one directory each), in
// the order [Keystore.Get] looks. The caller owns the slice.
func Types() []signing.KeyType { return append([]signing.KeyType(nil), types[:]...) }

// Errors, comparable with errors.Is.
var (
	// ErrInvalidID: an id that is not a lowercase UUID. It matches
	// signing.ErrUnknownKey too, since no such key can exist.
	ErrInvalidID = fmt.Errorf("keystore: invalid key id (want a lowercase UUID): %w", signing.ErrUnknownKey)
	// ErrExists: Put of an id that already has a .key.
	ErrExists = errors.New("keystore: key id already exists")
)

// Keystore is a keystore directory. It holds no state besides the path;
// its methods are safe for concurrent use, within and across processes.
type Keystore struct {
	dir    string
	rename func(from, to string) error // os.Rename; tests watch it
}

// Open returns the keystore in dir, creating dir (mode 0700) if it does not
// exist. An existing directory is used as it is, permissions included.
func Open(dir string) (*Keystore, error) {
	if dir == "" {
		return nil, errors.New("keystore: no directory given")
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("keystore: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("keystore: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("keystore: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("keystore: %s is not a directory", dir)
	}
	return &Keystore{dir: dir, rename: os.Rename}, nil
}

// Dir returns the keystore's directory.
func (k *Keystore) Dir() string { return k.dir }

// ValidID reports whether id is a UUID in its canonical text form:
// 8-4-4-4-12 lowercase hex digits, which is what str(uuid4()) and [NewID]
// write. Only such ids reach the file system, so no id can name a path
// outside the keystore.
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// NewID returns a random (version 4) UUID in canonical form.
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("keystore: random id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func knownType(t signing.KeyType) bool { return slices.Contains(types[:], t) }

// Put stores a new key pair: blob as <id>.key, spki as <id>.pub, in t's
// directory. It returns once both files and their names are durable.
// Errors: [ErrInvalidID], signing.ErrUnsupportedKey for an unknown t,
// [ErrExists] if any type directory already has <id>.key, or the file
// system's error (then no .key was written; a .pub may remain, which
// readers ignore).
func (k *Keystore) Put(t signing.KeyType, id string, blob, spki []byte) error {
	if !ValidID(id) {
		return ErrInvalidID
	}
	if !knownType(t) {
		return fmt.Errorf("keystore: %q: %w", t, signing.ErrUnsupportedKey)
	}
	if len(blob) == 0 || len(blob) > MaxFileBytes || len(spki) == 0 || len(spki) > MaxFileBytes {
		return fmt.Errorf("keystore: key %s: blob and public key must be 1 to %d bytes", id, MaxFileBytes)
	}
	for _, tt := range types {
		if _, err := os.Lstat(k.path(tt, id, ".key")); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, id)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keystore: %w", err)
		}
	}
	dir := filepath.Join(k.dir, string(t))
	if err := mkdirSynced(dir); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	pubTmp, err := writeTemp(dir, id+".pub", spki)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	keyTmp, err := writeTemp(dir, id+".key", blob)
	if err != nil {
		os.Remove(pubTmp)
		return fmt.Errorf("keystore: %w", err)
	}
	for _, step := range [...]struct{ tmp, name string }{{pubTmp, id + ".pub"}, {keyTmp, id + ".key"}} {
		if err := k.rename(step.tmp, filepath.Join(dir, step.name)); err != nil {
			os.Remove(pubTmp)
			os.Remove(keyTmp)
			return fmt.Errorf("keystore: %w", err)
		}
		if err := syncDir(dir); err != nil {
			os.Remove(keyTmp)
			return fmt.Errorf("keystore: %w", err)
		}
	}
	return nil
}

// Get returns the key pair with that id, looking in every type directory:
// its type, its .key blob, and its public key as SubjectPublicKeyInfo DER
// (checked with [ParseSPKI], without any bytes that followed it in the
// file). The caller owns the returned slices. Errors: [ErrInvalidID] and
// signing.ErrUnknownKey (no complete pair; an orphan is not a key), a .pub
// that does not parse, an id present under two types, or the file
// system's error.
func (k *Keystore) Get(id string) (t signing.KeyType, blob, spki []byte, err error) {
	if !ValidID(id) {
		return "", nil, nil, ErrInvalidID
	}
	found := 0
	for _, tt := range types {
		ok, err := k.complete(tt, id)
		if err != nil {
			return "", nil, nil, fmt.Errorf("keystore: %w", err)
		}
		if ok {
			found++
			t = tt
		}
	}
	switch found {
	case 0:
		return "", nil, nil, fmt.Errorf("keystore: key %s: %w", id, signing.ErrUnknownKey)
	case 1:
	default:
		return "", nil, nil, fmt.Errorf("keystore: key %s is stored under more than one type", id)
	}
	if blob, err = readBounded(k.path(t, id, ".key")); err != nil {
		return "", nil, nil, fmt.Errorf("keystore: key %s: %w", id, err)
	}
	pub, err := readBounded(k.path(t, id, ".pub"))
	if err != nil {
		return "", nil, nil, fmt.Errorf("keystore: key %s: %w", id, err)
	}
	if spki, _, err = ParseSPKI(t, pub); err != nil {
		return "", nil, nil, fmt.Errorf("keystore: key %s: %w", id, err)
	}
	return t, blob, spki, nil
}

// List returns the ids of t's complete key pairs (both files present),
// sorted. A missing type directory holds none; files whose names are not
// <uuid>.key are ignored. Errors: signing.ErrUnsupportedKey for an unknown
// t, or the file system's error (for example when <TYPE> is a file).
func (k *Keystore) List(t signing.KeyType) ([]string, error) {
	if !knownType(t) {
		return nil, fmt.Errorf("keystore: %q: %w", t, signing.ErrUnsupportedKey)
	}
	entries, err := os.ReadDir(filepath.Join(k.dir, string(t)))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	ids := []string{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".key")
		if ok && ValidID(id) && names[id+".pub"] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (k *Keystore) path(t signing.KeyType, id, ext string) string {
	return filepath.Join(k.dir, string(t), id+ext)
}

// complete reports whether t's directory holds both files of id.
func (k *Keystore) complete(t signing.KeyType, id string) (bool, error) {
	for _, ext := range [...]string{".key", ".pub"} {
		if _, err := os.Stat(k.path(t, id, ext)); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	return true, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Base(path), MaxFileBytes)
	}
	return b, nil
}

// writeTemp writes b to a new temporary file (mode 0600) in dir, fsyncs
// it, and returns its path. Temporary names start with a dot and never
// end in .key or .pub, so readers never take them for keys.
func writeTemp(dir, name string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	path := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// mkdirSynced creates dir (0700) if missing and makes its name durable.
func mkdirSynced(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
