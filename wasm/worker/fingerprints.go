//go:build js && wasm

package main

import "encoding/hex"

// idbFingerprints keeps weights' fingerprints in IndexedDB (session.FingerprintCache):
// hashing AlexNet's 61 million weights takes seconds in a tab, once per weights file and
// browser instead of once per visit.
type idbFingerprints struct{}

func (idbFingerprints) Fingerprint(file string) (string, bool) {
	if storageRefused != nil {
		return "", false
	}
	data, err := idbGet(storeFingerprints, file)
	if err != nil {
		storageRefused = err
		return "", false
	}
	if len(data) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(string(data)); err != nil {
		return "", false
	}
	return string(data), true
}

func (idbFingerprints) KeepFingerprint(file, fp string) {
	if storageRefused == nil {
		_ = idbPut(storeFingerprints, file, []byte(fp)) // a cache: a failure costs a hash next visit
	}
}
