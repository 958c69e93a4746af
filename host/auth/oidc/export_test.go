package oidc

// WaitFetch waits for the key set fetch under way, if any, to end.
func (a *Authenticator) WaitFetch() {
	a.keys.mu.Lock()
	f := a.keys.flight
	a.keys.mu.Unlock()
	if f != nil {
		<-f.done
	}
}
