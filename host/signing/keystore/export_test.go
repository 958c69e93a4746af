package keystore

// SetRename replaces the rename Put uses.
func SetRename(k *Keystore, f func(from, to string) error) { k.rename = f }
