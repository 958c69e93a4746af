package reload

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// newWatcher watches the directory of path, not the file: editors and mv
// replace a file by renaming another over it, which ends a watch on the
// file itself, and a Kubernetes ConfigMap or Secret volume swaps a
// "..data" symlink, so no event names the file at all. The directory must
// exist; the file need not.
func newWatcher(path string) (*fsnotify.Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("reload: watch: %w", err)
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return nil, fmt.Errorf("reload: watch %s: %w", filepath.Dir(path), err)
	}
	return w, nil
}

// relevant reports whether ev may have changed the module at path: an
// event on the file's own name, or on a name starting with ".." (the
// Kubernetes volume's "..data" link and its timestamped directories).
// Attribute changes alone are ignored; a reload compares the content
// anyway.
func relevant(ev fsnotify.Event, base string) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Base(ev.Name)
	return name == base || strings.HasPrefix(name, "..")
}

// watch turns file events into reloads, once no relevant event came for
// Debounce. It owns w and closes it when the Manager closes.
func (m *Manager) watch(w *fsnotify.Watcher) {
	defer m.wg.Done()
	defer w.Close()
	dir, base := filepath.Dir(m.opts.Path), filepath.Base(m.opts.Path)
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	var fire <-chan time.Time // t.C while a reload is due
	schedule := func() {
		t.Reset(m.opts.Debounce)
		fire = t.C
	}
	for {
		select {
		case <-m.ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == filepath.Clean(dir) && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				m.log.Warn("the plugin's directory was removed or renamed: file changes are no longer seen; reload by signal", "dir", dir)
				continue
			}
			if relevant(ev, base) {
				schedule()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			m.log.Warn("plugin file watch", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				schedule() // events were lost: look at the file
			}
		case <-fire:
			fire = nil
			m.request(TriggerFile)
		}
	}
}
