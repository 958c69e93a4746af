package reload_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/reload"
)

// TestWatch_Rename: replacing the file by rename reloads it; removing it
// makes a reload fail (reported, the version keeps serving); putting a
// file back later reloads again.
func TestWatch_Rename(t *testing.T) {
	v1, v2 := guest(t, "v1"), guest(t, "v2")
	onReload, evs := events()
	m, path := newManager(t, "v1", reload.Options{
		Watch: true, Debounce: 20 * time.Millisecond, OnReload: onReload,
		Pool: plugin.PoolOptions{Size: 1},
	})
	nextEvent(t, evs)

	install(t, path, v2)
	ev := nextEvent(t, evs)
	if !ev.OK || ev.Trigger != reload.TriggerFile || ev.SHA256 != digest(v2) || ev.Generation != 2 {
		t.Fatalf("after rename: %+v", ev)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, evs)
	if ev.OK || !errors.Is(ev.Err, fs.ErrNotExist) || ev.Generation != 2 {
		t.Fatalf("after remove: %+v", ev)
	}
	if v, err := versionOf(t.Context(), m, "status"); err != nil || v != "v2" {
		t.Fatalf("while the file is missing: %q, %v", v, err)
	}

	install(t, path, v1)
	ev = nextEvent(t, evs)
	if !ev.OK || ev.SHA256 != digest(v1) || ev.Generation != 3 {
		t.Fatalf("after the file came back: %+v", ev)
	}
	if v, err := versionOf(t.Context(), m, "status"); err != nil || v != "v1" {
		t.Fatalf("after reload: %q, %v", v, err)
	}

	// A file event that leaves the content as it is reloads nothing: no
	// event is reported (OnReload runs before Reload returns).
	if err := m.Reload(t.Context(), reload.TriggerFile); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-evs:
		t.Fatalf("unchanged file reloaded: %+v", ev)
	default:
	}
	if g := m.Current().Generation; g != 3 {
		t.Fatalf("generation %d after an unchanged file", g)
	}
}

// TestWatch_Symlink: a Kubernetes ConfigMap volume holds plugin.wasm as a
// link to ..data/plugin.wasm, where ..data links to a timestamped
// directory; an update makes a new directory and renames a new ..data link
// over the old one. No event names plugin.wasm.
func TestWatch_Symlink(t *testing.T) {
	v1, v2 := guest(t, "v1"), guest(t, "v2")
	dir := t.TempDir()
	put := func(version string, b []byte) {
		d := filepath.Join(dir, "..2026_"+version)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "plugin.wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Base(d), filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	put("v1", v1)
	path := filepath.Join(dir, "plugin.wasm")
	if err := os.Symlink(filepath.Join("..data", "plugin.wasm"), path); err != nil {
		t.Fatal(err)
	}
	onReload, evs := events()
	m, _ := newManager(t, "", reload.Options{
		Path: path, Watch: true, Debounce: 20 * time.Millisecond, OnReload: onReload,
		Pool: plugin.PoolOptions{Size: 1},
	})
	nextEvent(t, evs)

	put("v2", v2)
	if err := os.RemoveAll(filepath.Join(dir, "..2026_v1")); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, evs)
	if !ev.OK || ev.Trigger != reload.TriggerFile || ev.SHA256 != digest(v2) {
		t.Fatalf("after the swap: %+v", ev)
	}
	if v, err := versionOf(t.Context(), m, "status"); err != nil || v != "v2" {
		t.Fatalf("after the swap: %q, %v", v, err)
	}
}
